/* store.c - registry files: open, read and validate, the layers and their
 * entries, getters (store_internal.h lists the store's other files). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "jscan.h"
#include "pyjson.h"
#include "regstore.h"
#include "store_internal.h"

const char *const RS_FILE_NAMES[3] = {
    "model_registry.curated.json", "model_registry.discovered.json", "model_registry.json"
};
/* backup stems: <stem>.YYYYmmdd-HHMMSS.bak.json */
const char *const RS_STEMS[3] = {
    "model_registry.curated", "model_registry.discovered", "model_registry"
};

/* The snapshot this tool wrote last is recorded in the lock file, so the
 * next writer (under the lock) can skip re-parsing an unchanged snapshot. */
static void sig_format(const file_sig *s, char *buf, size_t n)
{
    snprintf(buf, n, "snapshot %llu %llu %lld %lld %ld\n", (unsigned long long)s->dev,
             (unsigned long long)s->ino, (long long)s->size, (long long)s->mtim.tv_sec, s->mtim.tv_nsec);
}

static bool snapshot_is_ours(const iw_registry *r, const file_sig *now)
{
    char want[160], got[160];
    if (r->lock_fd < 0 || !now->exists)
        return false;
    sig_format(now, want, sizeof want);
    ssize_t n = pread(r->lock_fd, got, sizeof got - 1, 0);
    if (n <= 0)
        return false;
    got[n] = 0;
    return strcmp(got, want) == 0;
}

void rs_record_snapshot(const iw_registry *r)
{
    char buf[160];
    if (r->lock_fd < 0 || !r->sig[IW_REG_MERGED].exists)
        return;
    sig_format(&r->sig[IW_REG_MERGED], buf, sizeof buf);
    size_t n = strlen(buf);
    if (pwrite(r->lock_fd, buf, n, 0) == (ssize_t)n)
        (void)!ftruncate(r->lock_fd, (off_t)n);
}

/* ------------------------------------------------------------ helpers */

char *rs_join2(const char *a, const char *b)
{
    char *s = NULL;
    iw_path_join(&s, a, b);
    return s;
}

int iw_registry_default_dir(char **out)
{
    const char *e = getenv("IMAGEWORKS_REGISTRY_DIR");
    *out = NULL;
    if (e && *e)
        *out = strdup(e);
    else if ((e = getenv("XDG_CONFIG_HOME")) && *e)
        *out = rs_join2(e, "imageworks");
    else if ((e = getenv("HOME")) && *e)
        *out = rs_join2(e, ".config/imageworks");
    else
        return iw_error_set(IW_ENOTFOUND, "registry directory unknown: set IMAGEWORKS_REGISTRY_DIR or HOME");
    return *out ? 0 : iw_error_set(IW_ENOMEM, "registry: out of memory");
}

static void line_col(const char *text, size_t len, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Offset of the start of top-level array element `idx` (0-based) in text,
 * or of the first non-blank character when idx < 0.  len when not found. */
static size_t element_offset(const char *text, size_t len, long idx)
{
    size_t i = (len >= 3 && (unsigned char)text[0] == 0xEF) ? 3 : 0;
    int depth = 0;
    bool in_str = false, esc = false, expect = false;
    long seen = -1;
    for (; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (idx < 0)
            return i;
        if (depth == 1 && expect) {
            expect = false;
            if (++seen == idx)
                return i;
        }
        switch (c) {
        case '"': in_str = true; break;
        case '[': case '{': if (++depth == 1) expect = true; break;
        case ']': case '}': depth--; break;
        case ',': if (depth == 1) expect = true; break;
        default: break;
        }
    }
    return len;
}

static int refuse_at(const char *what, const char *text, size_t len, long idx, const char *msg)
{
    if (text) {
        size_t line, col, off = element_offset(text, len, idx);
        line_col(text, len, off, &line, &col);
        return iw_error_set(IW_EFORMAT, "%s:%zu:%zu: %s; refusing to use or overwrite it", what, line, col, msg);
    }
    return iw_error_set(IW_EFORMAT, "%s: %s; refusing to use or overwrite it", what, msg);
}

typedef struct name_ix { const char *name; long idx; } name_ix;

static int cmp_name_ix(const void *pa, const void *pb)
{
    const name_ix *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    if (c)
        return c;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

int iw_registry_validate(const cJSON *arr, const char *text, size_t len, const char *what)
{
    if (!what)
        what = "registry";
    if (!cJSON_IsArray(arr))
        return refuse_at(what, text, len, -1, "expected a JSON array of entries");
    int n = cJSON_GetArraySize(arr);
    name_ix *ix = n > 0 ? malloc((size_t)n * sizeof *ix) : NULL;
    if (n > 0 && !ix)
        return iw_error_set(IW_ENOMEM, "%s: out of memory", what);
    long i = 0;
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsObject(e)) {
            rc = refuse_at(what, text, len, i, "entry is not an object");
            goto out;
        }
        if (!cJSON_IsString(nm) || !nm->valuestring[0]) {
            rc = refuse_at(what, text, len, i, "entry has no string \"name\"");
            goto out;
        }
        if (strlen(nm->valuestring) > IW_REGISTRY_MAX_NAME) {
            rc = refuse_at(what, text, len, i, "entry name longer than 256 bytes");
            goto out;
        }
        ix[i].name = nm->valuestring;
        ix[i].idx = i;
        i++;
    }
    if (n > 1) {
        qsort(ix, (size_t)n, sizeof *ix, cmp_name_ix);
        long dup = -1;
        const char *dname = NULL;
        for (long k = 1; k < n; k++)
            if (strcmp(ix[k].name, ix[k - 1].name) == 0 && (dup < 0 || ix[k].idx < dup)) {
                dup = ix[k].idx;
                dname = ix[k].name;
            }
        if (dup >= 0) {
            char msg[IW_REGISTRY_MAX_NAME + 64];
            snprintf(msg, sizeof msg, "duplicate entry name '%s'", dname);
            rc = refuse_at(what, text, len, dup, msg);
            goto out;
        }
    }
out:
    free(ix);
    return rc;
}

static bool sig_equal(const file_sig *a, const file_sig *b)
{
    return a->valid && b->valid && a->exists == b->exists &&
           (!a->exists || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                           a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec));
}

void rs_sig_of(const char *path, file_sig *s)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    s->valid = true;
    if (lstat(path, &st) != 0)   /* a symlink, even dangling, exists (and is refused when read) */
        return;
    s->exists = true;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtim = st.st_mtim;
}

/* ------------------------------------------------------------ layers */

void rs_layer_drop_view(reg_layer *L)
{
    if (!L->view)
        return;
    L->view->child = NULL;
    for (size_t i = 0; i < L->n; i++)
        if (L->ents[i].json)
            L->ents[i].json->next = L->ents[i].json->prev = NULL;
    cJSON_Delete(L->view);
    L->view = NULL;
}

void rs_ent_free(reg_ent *e)
{
    cJSON_Delete(e->json);
    free(e->printed);
    if (e->name_owned)
        free((char *)e->name);
    memset(e, 0, sizeof *e);
}

void rs_layer_free(reg_layer *L)
{
    rs_layer_drop_view(L);
    for (size_t i = 0; i < L->n; i++)
        rs_ent_free(&L->ents[i]);
    free(L->ents);
    free(L->ix);
    free(L->arena);
    free(L->text);
    memset(L, 0, sizeof *L);
}

/* Take over a scanned text (text/len owned by the layer from now on). */
static int layer_set(reg_layer *L, char *text, size_t len, iw_jscan *sc)
{
    rs_layer_free(L);
    L->loaded = true;
    if (!text)
        return 0;
    L->text = text;
    L->len = len;
    L->skip = sc->skip;
    L->open = sc->open;
    L->close = sc->close;
    L->arena = sc->arena;
    sc->arena = NULL;
    if (sc->n) {
        L->ents = calloc(sc->n, sizeof *L->ents);
        if (!L->ents) {
            iw_jscan_free(sc);
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
        L->cap = sc->n;
    }
    for (size_t i = 0; i < sc->n; i++) {
        L->ents[i].start = sc->ents[i].start;
        L->ents[i].end = sc->ents[i].end;
        L->ents[i].name = sc->ents[i].name;
    }
    L->n = L->n_orig = L->live = sc->n;
    L->ix = sc->table;   /* the scan's name table */
    L->ixmask = sc->mask;
    sc->table = NULL;
    iw_jscan_free(sc);
    return 0;
}

/* Index of the live entry `name`, or -1. */
long rs_layer_find(const reg_layer *L, const char *name)
{
    if (L->ix) {
        size_t h = iw_jscan_hash(name) & L->ixmask;
        for (; L->ix[h]; h = (h + 1) & L->ixmask) {
            size_t i = L->ix[h] - 1;
            if (strcmp(L->ents[i].name, name) == 0) {
                if (!L->ents[i].deleted)
                    return (long)i;
                break;
            }
        }
    }
    for (size_t i = L->n_orig; i < L->n; i++)
        if (!L->ents[i].deleted && strcmp(L->ents[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* The entry's tree, parsed from its span on first use.  NULL: error set. */
cJSON *rs_ent_json(reg_layer *L, size_t i)
{
    reg_ent *e = &L->ents[i];
    if (e->json)
        return e->json;
    e->json = cJSON_ParseWithLengthOpts(L->text + e->start, e->end - e->start, NULL, 0);
    if (!e->json)   /* the scan accepted these bytes: only memory can fail */
        iw_error_set(IW_ENOMEM, "registry: out of memory parsing entry '%s'", e->name);
    return e->json;
}

const cJSON *rs_layer_view(reg_layer *L)
{
    if (L->view)
        return L->view;
    cJSON *v = cJSON_CreateArray();
    if (!v) {
        iw_error_set(IW_ENOMEM, "registry: out of memory");
        return NULL;
    }
    L->view = v;
    for (size_t i = 0; i < L->n; i++) {
        if (L->ents[i].deleted)
            continue;
        cJSON *j = rs_ent_json(L, i);
        if (!j) {
            rs_layer_drop_view(L);
            return NULL;
        }
        cJSON_AddItemToArray(v, j);
    }
    return v;
}

/* ------------------------------------------------------------ loading */

/* Read a whole file in one allocation; *text NULL when it does not exist.
 * sig is taken from the open file. */
static int read_whole(const char *path, char **text, size_t *len, file_sig *sig)
{
    *text = NULL;
    *len = 0;
    memset(sig, 0, sizeof *sig);
    sig->valid = true;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ELOOP)
            return iw_error_set(IW_EUNSAFE, "'%s' is a symbolic link; the registry files must be regular files "
                                "(set IMAGEWORKS_REGISTRY_DIR to the folder holding them instead)", path);
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open '%s'", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        return iw_error_set(IW_EIO, "cannot read '%s': not a regular file (%s)", path, strerror(e));
    }
    if ((uint64_t)st.st_size > IW_REGISTRY_MAX_BYTES) {
        close(fd);
        return iw_error_set(IW_ELIMIT, "'%s' is %lld bytes, over the %u-byte cap; refusing to use or overwrite it",
                            path, (long long)st.st_size, IW_REGISTRY_MAX_BYTES);
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return iw_error_set(IW_ENOMEM, "registry: out of memory reading '%s'", path);
    }
    for (;;) {
        if (n == cap) {   /* the file grew while we read it */
            if (cap > IW_REGISTRY_MAX_BYTES) {
                free(b);
                close(fd);
                return iw_error_set(IW_ELIMIT, "'%s' is over the %u-byte cap; refusing to use or overwrite it",
                                    path, IW_REGISTRY_MAX_BYTES);
            }
            char *g = realloc(b, cap * 2 + 1);
            if (!g) {
                free(b);
                close(fd);
                return iw_error_set(IW_ENOMEM, "registry: out of memory reading '%s'", path);
            }
            b = g;
            cap *= 2;
        }
        ssize_t k = read(fd, b + n, cap - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(b);
            close(fd);
            return iw_error_set_os(IW_EIO, e, "cannot read '%s'", path);
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    b[n] = 0;
    sig->exists = true;
    sig->dev = st.st_dev;
    sig->ino = st.st_ino;
    sig->size = st.st_size;
    sig->mtim = st.st_mtim;
    *text = b;
    *len = n;
    return 0;
}

/* Re-read the files whose signature changed (force: all).  The merged
 * snapshot is derived: it is loaded here only when it is the only file
 * (legacy); before a write rs_adopt_snapshot validates it. */
int rs_refresh(iw_registry *r, bool force)
{
    bool changed = false;
    int rc;
    char *mtext = NULL;
    size_t mlen = 0;
    iw_jscan msc;
    memset(&msc, 0, sizeof msc);
    for (int l = 0; l < 3; l++) {
        file_sig now;
        rs_sig_of(r->paths[l], &now);
        if (!force && sig_equal(&now, &r->sig[l]) && (l == IW_REG_MERGED || r->L[l].loaded))
            continue;
        if (l == IW_REG_MERGED && now.exists &&
            (r->sig[IW_REG_CURATED].exists || r->sig[IW_REG_DISCOVERED].exists)) {
            r->sig[l].valid = false;       /* not validated yet */
            continue;
        }
        char *text;
        size_t len;
        file_sig s;
        iw_jscan sc;
        if ((rc = read_whole(r->paths[l], &text, &len, &s)) < 0 ||
            (text && (rc = iw_jscan_registry(text, len, r->paths[l], &sc)) < 0)) {
            free(text);
            free(mtext);
            iw_jscan_free(&msc);
            for (int k = 0; k < 3; k++)
                r->sig[k].valid = false;
            return rc;
        }
        r->sig[l] = s;
        if (l == IW_REG_MERGED) {
            if (text) {
                mtext = text;      /* legacy: becomes the discovered layer */
                mlen = len;
                msc = sc;
            } else {
                free(text);
            }
        } else if ((rc = layer_set(&r->L[l], text, len, &sc)) < 0) {
            free(mtext);
            iw_jscan_free(&msc);
            for (int k = 0; k < 3; k++)
                r->sig[k].valid = false;
            return rc;
        }
        changed = true;
    }
    /* legacy single-file registry: model_registry.json only */
    r->legacy = !r->sig[IW_REG_CURATED].exists && !r->sig[IW_REG_DISCOVERED].exists &&
                r->sig[IW_REG_MERGED].exists;
    if (mtext) {
        if (r->legacy) {
            if ((rc = layer_set(&r->L[IW_REG_DISCOVERED], mtext, mlen, &msc)) < 0) {
                for (int k = 0; k < 3; k++)
                    r->sig[k].valid = false;
                return rc;
            }
        } else {
            free(mtext);
            iw_jscan_free(&msc);
        }
    }
    if (changed)
        rs_drop_merged(r);
    return 0;
}

/* Under the lock, before a write: a snapshot this tool did not write is
 * validated (a write never replaces a file it cannot read), and its entries
 * whose names neither layer holds (added to model_registry.json by hand or
 * by a tool that writes only the snapshot) are taken into the discovered
 * layer, as the original's registry.py::_adopt_snapshot_additions does on
 * load, so the snapshot this write prints does not drop them.  One read of
 * the snapshot serves both. */
int rs_adopt_snapshot(iw_registry *r)
{
    r->adopted = 0;
    file_sig now;
    rs_sig_of(r->paths[IW_REG_MERGED], &now);
    if (r->legacy || !now.exists)
        return 0;
    if (snapshot_is_ours(r, &now)) {
        r->sig[IW_REG_MERGED] = now;   /* written by us, untouched since */
        return 0;
    }
    char *text;
    size_t len;
    file_sig s;
    iw_jscan sc;
    memset(&sc, 0, sizeof sc);
    int rc = read_whole(r->paths[IW_REG_MERGED], &text, &len, &s);
    if (rc < 0 || !text)
        return rc;
    if ((rc = iw_jscan_registry(text, len, r->paths[IW_REG_MERGED], &sc)) < 0) {
        free(text);
        return rc;
    }
    r->sig[IW_REG_MERGED] = s;
    for (size_t i = 0; i < sc.n && rc == 0; i++) {
        const char *nm = sc.ents[i].name;
        if (!nm || rs_layer_find(&r->L[IW_REG_CURATED], nm) >= 0 || rs_layer_find(&r->L[IW_REG_DISCOVERED], nm) >= 0)
            continue;
        cJSON *e = NULL;
        if ((rc = iw_json_parse(text + sc.ents[i].start, sc.ents[i].end - sc.ents[i].start, r->paths[IW_REG_MERGED],
                                &e, NULL)) < 0)
            break;
        if ((rc = rs_layer_add(&r->L[IW_REG_DISCOVERED], e)) == 0)
            r->adopted++;
    }
    iw_jscan_free(&sc);
    free(text);
    if (rc < 0) {
        for (int l = 0; l < 2; l++)
            rs_layer_discard(&r->L[l]);
        r->adopted = 0;
    }
    return rc;
}

int iw_registry_open(iw_registry **out, const char *dir)
{
    iw_registry *r = calloc(1, sizeof *r);
    int rc;
    *out = NULL;
    if (!r)
        return iw_error_set(IW_ENOMEM, "registry: out of memory");
    r->lock_fd = -1;
    if (dir && *dir) {
        if (!(r->dir = strdup(dir))) {
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
            goto fail;
        }
    } else if ((rc = iw_registry_default_dir(&r->dir)) < 0) {
        goto fail;
    }
    for (int l = 0; l < 3; l++)
        if (!(r->paths[l] = rs_join2(r->dir, RS_FILE_NAMES[l]))) {
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
            goto fail;
        }
    if (!(r->lock_path = rs_join2(r->dir, "model_registry.lock"))) {
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
        goto fail;
    }
    if ((rc = rs_refresh(r, true)) < 0)
        goto fail;
    *out = r;
    return 0;
fail:
    iw_registry_close(r);
    return rc;
}

void iw_registry_close(iw_registry *r)
{
    if (!r)
        return;
    rs_drop_merged(r);
    free(r->mone);
    for (int l = 0; l < 2; l++)
        rs_layer_free(&r->L[l]);
    for (int l = 0; l < 3; l++)
        free(r->paths[l]);
    free(r->lock_path);
    free(r->dir);
    free(r);
}

const char *iw_registry_dir(const iw_registry *r) { return r->dir; }

const char *iw_registry_path(const iw_registry *r, iw_reg_layer layer)
{
    return (layer >= 0 && layer <= 2) ? r->paths[layer] : NULL;
}

/* A layer written by this handle is read again on first use. */
static bool ensure_loaded(iw_registry *r)
{
    if (r->L[IW_REG_CURATED].loaded && r->L[IW_REG_DISCOVERED].loaded)
        return true;
    return rs_refresh(r, false) == 0;
}

/* Entries whose text (in either layer) contains one of the needles, as
 * merged entries, handed to fn until it returns true; that entry's name
 * is returned (malloc'd) or NULL.  Only the entries hit are parsed: a
 * register into a large registry does not parse it all. */
static long span_at(const reg_layer *L, size_t off)
{
    size_t lo = 0, hi = L->n_orig;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (L->ents[mid].end <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < L->n_orig && L->ents[lo].start <= off ? (long)lo : -1;
}

char *iw_reg_find_by_text(iw_registry *r, const char *const *needles, size_t nn,
                          bool (*fn)(const cJSON *e, void *ctx), void *ctx)
{
    if (!ensure_loaded(r))
        return NULL;
    for (int l = IW_REG_DISCOVERED; l >= IW_REG_CURATED; l--) {
        reg_layer *L = &r->L[l];
        for (size_t k = 0; L->text && k < nn; k++) {
            size_t nl = needles[k] ? strlen(needles[k]) : 0;
            if (!nl)
                continue;
            const char *p = L->text, *end = L->text + L->len;
            while (p < end && (p = memmem(p, (size_t)(end - p), needles[k], nl)) != NULL) {
                long i = span_at(L, (size_t)(p - L->text));
                p += nl;
                if (i < 0 || L->ents[i].deleted)
                    continue;
                const cJSON *e = rs_merged_get(r, L->ents[i].name);
                if (e && fn(e, ctx))
                    return strdup(L->ents[i].name);
                p = L->text + L->ents[i].end;   /* next entry */
            }
        }
    }
    iw_error_clear();
    return NULL;
}

/* Reads build trees on demand inside the handle, so the const in the
 * public signatures is about the caller, not about the cache. */
const cJSON *iw_registry_entries(const iw_registry *cr, iw_reg_layer layer)
{
    iw_registry *r = (iw_registry *)cr;
    if (!r || !ensure_loaded(r))
        return NULL;
    if (layer == IW_REG_MERGED)
        return rs_merged_view(r);
    return (layer >= 0 && layer <= 1) ? rs_layer_view(&r->L[layer]) : NULL;
}

const cJSON *iw_registry_get_layer(const iw_registry *cr, iw_reg_layer layer, const char *name)
{
    iw_registry *r = (iw_registry *)cr;
    if (!r || !name || layer < 0 || layer > 2 || !ensure_loaded(r))
        return NULL;
    if (layer == IW_REG_MERGED)
        return rs_merged_get(r, name);
    long i = rs_layer_find(&r->L[layer], name);
    return i < 0 ? NULL : rs_ent_json(&r->L[layer], (size_t)i);
}

const cJSON *iw_registry_get(const iw_registry *r, const char *name)
{
    return iw_registry_get_layer(r, IW_REG_MERGED, name);
}

