/* store.c - registry files: load, validate, merge, locked atomic update. */
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

#include "iwdl/registry.h"
#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/schema.h"
#include "jscan.h"
#include "regstore.h"
#include "pyjson.h"

static const char *const FILE_NAMES[3] = {
    "model_registry.curated.json", "model_registry.discovered.json", "model_registry.json"
};
/* backup stems: <stem>.YYYYmmdd-HHMMSS.bak.json */
static const char *const STEMS[3] = {
    "model_registry.curated", "model_registry.discovered", "model_registry"
};

typedef struct file_sig { bool valid, exists; dev_t dev; ino_t ino; off_t size; struct timespec mtim; } file_sig;

/* One entry of a layer: its bytes in the layer text, its name, and the
 * cJSON tree once something asked for it. */
typedef struct reg_ent {
    size_t      start, end;   /* span in the layer text (not for fresh entries) */
    const char *name;         /* in the scan arena, or owned (name_owned) */
    cJSON      *json;         /* parsed on demand; owned */
    char       *printed;      /* during a write: the entry as printed */
    size_t      printed_len;
    bool        name_owned, dirty, deleted, fresh;
} reg_ent;

typedef struct reg_layer {
    char    *text;            /* the file's bytes (owned); NULL: no file */
    size_t   len;
    size_t   skip, open, close;   /* BOM length, root '[' and ']' offsets */
    char    *arena;           /* names from the scan */
    reg_ent *ents;
    size_t   n, cap;          /* entries; the first n_orig come from the text */
    size_t   n_orig;
    size_t   live;            /* entries not deleted */
    size_t  *ix;              /* name table of the n_orig entries (jscan.h) */
    size_t   ixmask;
    cJSON   *view;            /* iw_registry_entries() array: borrows the entries' trees */
    bool     loaded;
} reg_layer;

typedef struct merged_one { char *name; cJSON *e; } merged_one;

struct iw_registry {
    char      *dir;
    char      *paths[3];
    char      *lock_path;
    reg_layer  L[2];          /* IW_REG_CURATED, IW_REG_DISCOVERED */
    cJSON     *merged_full;   /* the merged array when curated has entries (owned) */
    merged_one *mone;         /* merged entries handed out by get (owned) */
    size_t     nmone, cmone;
    file_sig   sig[3];
    bool       legacy;        /* discovered loaded from model_registry.json */
    int        lock_fd;       /* held lock's fd during an update, else -1 */
};

struct iw_reg_txn { iw_registry *r; int err; };


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

static void record_snapshot(const iw_registry *r)
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

static char *join2(const char *a, const char *b)
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
        *out = join2(e, "imageworks");
    else if ((e = getenv("HOME")) && *e)
        *out = join2(e, ".config/imageworks");
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

static void sig_of(const char *path, file_sig *s)
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

static void layer_drop_view(reg_layer *L)
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

static void ent_free(reg_ent *e)
{
    cJSON_Delete(e->json);
    free(e->printed);
    if (e->name_owned)
        free((char *)e->name);
    memset(e, 0, sizeof *e);
}

static void layer_free(reg_layer *L)
{
    layer_drop_view(L);
    for (size_t i = 0; i < L->n; i++)
        ent_free(&L->ents[i]);
    free(L->ents);
    free(L->ix);
    free(L->arena);
    free(L->text);
    memset(L, 0, sizeof *L);
}

/* Take over a scanned text (text/len owned by the layer from now on). */
static int layer_set(reg_layer *L, char *text, size_t len, iw_jscan *sc)
{
    layer_free(L);
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
static long layer_find(const reg_layer *L, const char *name)
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
static cJSON *ent_json(reg_layer *L, size_t i)
{
    reg_ent *e = &L->ents[i];
    if (e->json)
        return e->json;
    e->json = cJSON_ParseWithLengthOpts(L->text + e->start, e->end - e->start, NULL, 0);
    if (!e->json)   /* the scan accepted these bytes: only memory can fail */
        iw_error_set(IW_ENOMEM, "registry: out of memory parsing entry '%s'", e->name);
    return e->json;
}

static const cJSON *layer_view(reg_layer *L)
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
        cJSON *j = ent_json(L, i);
        if (!j) {
            layer_drop_view(L);
            return NULL;
        }
        cJSON_AddItemToArray(v, j);
    }
    return v;
}

static void drop_merged(iw_registry *r)
{
    cJSON_Delete(r->merged_full);
    r->merged_full = NULL;
    for (size_t i = 0; i < r->nmone; i++) {
        free(r->mone[i].name);
        cJSON_Delete(r->mone[i].e);
    }
    r->nmone = 0;
}

static bool merge_entry(cJSON *dst, const cJSON *src);

/* One merged entry (what get(IW_REG_MERGED) returns). */
static const cJSON *merged_get(iw_registry *r, const char *name)
{
    reg_layer *C = &r->L[IW_REG_CURATED], *D = &r->L[IW_REG_DISCOVERED];
    long ci = C->live ? layer_find(C, name) : -1;
    long di = layer_find(D, name);
    if (ci < 0)
        return di < 0 ? NULL : ent_json(D, (size_t)di);
    for (size_t i = 0; i < r->nmone; i++)
        if (strcmp(r->mone[i].name, name) == 0)
            return r->mone[i].e;
    const cJSON *c = ent_json(C, (size_t)ci), *d = di < 0 ? NULL : ent_json(D, (size_t)di);
    if (!c || (di >= 0 && !d))
        return NULL;
    if (r->nmone == r->cmone) {
        size_t nc = r->cmone ? r->cmone * 2 : 8;
        merged_one *g = realloc(r->mone, nc * sizeof *g);
        if (!g) {
            iw_error_set(IW_ENOMEM, "registry: out of memory");
            return NULL;
        }
        r->mone = g;
        r->cmone = nc;
    }
    cJSON *m = cJSON_Duplicate(d ? d : c, 1);
    char *nm = strdup(name);
    if (!m || !nm || (d && !merge_entry(m, c))) {
        cJSON_Delete(m);
        free(nm);
        iw_error_set(IW_ENOMEM, "registry: out of memory");
        return NULL;
    }
    r->mone[r->nmone].name = nm;
    r->mone[r->nmone].e = m;
    r->nmone++;
    return m;
}

/* The whole merged array; with no curated entries, the discovered array. */
static const cJSON *merged_view(iw_registry *r)
{
    if (!r->L[IW_REG_CURATED].live)
        return layer_view(&r->L[IW_REG_DISCOVERED]);
    if (r->merged_full)
        return r->merged_full;
    const cJSON *d = layer_view(&r->L[IW_REG_DISCOVERED]), *c = layer_view(&r->L[IW_REG_CURATED]);
    if (!d || !c)
        return NULL;
    r->merged_full = iw_registry_merge(d, c);
    if (!r->merged_full)
        iw_error_set(IW_ENOMEM, "registry: out of memory");
    return r->merged_full;
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
 * snapshot is derived, so it is only validated before a write (for_write)
 * or loaded when it is the only file (legacy). */
static int refresh(iw_registry *r, bool force, bool for_write)
{
    bool changed = false;
    int rc;
    char *mtext = NULL;
    size_t mlen = 0;
    iw_jscan msc;
    memset(&msc, 0, sizeof msc);
    for (int l = 0; l < 3; l++) {
        file_sig now;
        sig_of(r->paths[l], &now);
        if (!force && sig_equal(&now, &r->sig[l]) && (l == IW_REG_MERGED || r->L[l].loaded))
            continue;
        if (l == IW_REG_MERGED && now.exists &&
            (r->sig[IW_REG_CURATED].exists || r->sig[IW_REG_DISCOVERED].exists)) {
            if (!for_write) {
                r->sig[l].valid = false;   /* not validated yet */
                continue;
            }
            if (snapshot_is_ours(r, &now)) {
                r->sig[l] = now;           /* written by us, untouched since */
                continue;
            }
        }
        char *text;
        size_t len;
        file_sig s;
        iw_jscan sc;
        bool keep = l != IW_REG_MERGED || !(r->sig[IW_REG_CURATED].exists || r->sig[IW_REG_DISCOVERED].exists);
        if ((rc = read_whole(r->paths[l], &text, &len, &s)) < 0 ||
            (text && (rc = iw_jscan_registry(text, len, r->paths[l], keep ? &sc : NULL)) < 0)) {
            free(text);
            free(mtext);
            iw_jscan_free(&msc);
            for (int k = 0; k < 3; k++)
                r->sig[k].valid = false;
            return rc;
        }
        r->sig[l] = s;
        if (l == IW_REG_MERGED) {
            if (text && keep) {
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
        drop_merged(r);
    return 0;
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
        if (!(r->paths[l] = join2(r->dir, FILE_NAMES[l]))) {
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
            goto fail;
        }
    if (!(r->lock_path = join2(r->dir, "model_registry.lock"))) {
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
        goto fail;
    }
    if ((rc = refresh(r, true, false)) < 0)
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
    drop_merged(r);
    free(r->mone);
    for (int l = 0; l < 2; l++)
        layer_free(&r->L[l]);
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
    return refresh(r, false, false) == 0;
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
                const cJSON *e = merged_get(r, L->ents[i].name);
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
        return merged_view(r);
    return (layer >= 0 && layer <= 1) ? layer_view(&r->L[layer]) : NULL;
}

const cJSON *iw_registry_get_layer(const iw_registry *cr, iw_reg_layer layer, const char *name)
{
    iw_registry *r = (iw_registry *)cr;
    if (!r || !name || layer < 0 || layer > 2 || !ensure_loaded(r))
        return NULL;
    if (layer == IW_REG_MERGED)
        return merged_get(r, name);
    long i = layer_find(&r->L[layer], name);
    return i < 0 ? NULL : ent_json(&r->L[layer], (size_t)i);
}

const cJSON *iw_registry_get(const iw_registry *r, const char *name)
{
    return iw_registry_get_layer(r, IW_REG_MERGED, name);
}

/* ------------------------------------------------------------ merge */

/* Curated entry `src` over `dst`: the original's _merge_entry_dicts
 * (registry.py), so the merged view is the snapshot the original
 * materialises and its GUI reads: curated nulls skipped, objects merged
 * key by key, anything else replaced (docs/registry.md, "Merge rules").
 * A curated-only entry is taken as it is (dst NULL), nulls included. */
static bool merge_entry(cJSON *dst, const cJSON *src)
{
    return iw_pyjson_merge(dst, src);
}

typedef struct name_ent { const char *name; cJSON *e; } name_ent;

static int cmp_name_ent(const void *pa, const void *pb)
{
    return strcmp(((const name_ent *)pa)->name, ((const name_ent *)pb)->name);
}

cJSON *iw_registry_merge(const cJSON *discovered, const cJSON *curated)
{
    cJSON *m = cJSON_Duplicate(discovered, 1);
    name_ent *ix = NULL;
    if (!m)
        return cJSON_CreateArray();
    int n = cJSON_GetArraySize(m), k = 0;
    if (n > 0 && !(ix = malloc((size_t)n * sizeof *ix)))
        goto fail;
    cJSON *e;
    cJSON_ArrayForEach(e, m) {
        const char *nm = iw_json_get_str(e, "name");
        if (nm) {
            ix[k].name = nm;
            ix[k].e = e;
            k++;
        }
    }
    if (k > 1)
        qsort(ix, (size_t)k, sizeof *ix, cmp_name_ent);
    const cJSON *c;
    cJSON_ArrayForEach(c, curated) {
        const char *nm = iw_json_get_str(c, "name");
        if (!nm || !cJSON_IsObject(c))
            continue;
        name_ent key = { nm, NULL }, *hit = k ? bsearch(&key, ix, (size_t)k, sizeof *ix, cmp_name_ent) : NULL;
        if (hit) {
            if (!merge_entry(hit->e, c))
                goto fail;
        } else {
            /* curated-only entry: as it is, nulls included (the original's merge) */
            cJSON *o = cJSON_Duplicate(c, 1);
            if (!o)
                goto fail;
            cJSON_AddItemToArray(m, o);
        }
    }
    free(ix);
    return m;
fail:
    free(ix);
    cJSON_Delete(m);
    return NULL;
}

/* ------------------------------------------------------------ writing */

static long test_pause_ms(void)
{
    const char *e = getenv("IW_TEST_PAUSE_BEFORE_RENAME_MS");
    if (!e || !*e)
        return 0;
    char *end;
    long v = strtol(e, &end, 10);
    if (*end || v < 0)
        return 0;
    return v > 60000 ? 60000 : v;
}

static int copy_file(const char *from, const char *to)
{
    iw_buf b = IW_BUF_INIT(IW_REGISTRY_MAX_BYTES);
    int rc = iw_read_file(from, IW_REGISTRY_MAX_BYTES, &b);
    if (rc == 0)
        rc = iw_write_atomic(to, b.data ? b.data : "", b.len);
    iw_buf_free(&b);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Backups this tool writes: <stem>.YYYYmmdd-HHMMSS.iwdl.bak.json.  The
 * original writes <stem>.YYYYmmdd-HHMMSS.bak.json itself (cli.py's
 * reset-discovered, purge-logical-only, normalize-formats, ...); the
 * ".iwdl" keeps ours apart, so pruning never deletes the user's backups
 * and a backup of ours never replaces one of the original's made in the
 * same second.  Both match the original's restore glob
 * (model_registry.*.bak.json). */
static void backup_name(char *out, size_t n, int layer, const char *stamp)
{
    snprintf(out, n, "%s.%s.iwdl.bak.json", STEMS[layer], stamp);
}

static bool is_our_backup(const char *n, size_t len, int layer)
{
    static const char SUF[] = ".iwdl.bak.json";
    size_t sl = strlen(STEMS[layer]), xl = sizeof SUF - 1;
    /* <stem> '.' 15 timestamp characters (YYYYmmdd-HHMMSS) SUF */
    if (len != sl + 1 + 15 + xl || strncmp(n, STEMS[layer], sl) != 0 || n[sl] != '.' || n[sl + 9] != '-' ||
        strcmp(n + sl + 16, SUF) != 0)
        return false;
    for (size_t i = sl + 1; i < sl + 16; i++)
        if (i != sl + 9 && (n[i] < '0' || n[i] > '9'))
            return false;
    return true;
}

/* After a write: under the lock, remove stale temp files of killed writers
 * (no other writer is active) (temps); after the lock is released, keep the
 * newest IW_REGISTRY_BACKUPS backups per stem (backups).  Unlinking an old
 * 17 MB backup takes the filesystem 10-80 ms here, so other writers need
 * not wait for it; two processes pruning at once only race to unlink the
 * same old names. */
static void tidy_dir(iw_registry *r, bool temps, bool backups)
{
    DIR *d = opendir(r->dir);
    if (!d)
        return;
    char **bk[3] = { NULL, NULL, NULL };
    size_t nb[3] = { 0, 0, 0 }, cb[3] = { 0, 0, 0 };
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, ".model_registry", 15) == 0 && strstr(n, ".tmp.")) {
            if (!temps)
                continue;
            char *p = join2(r->dir, n);
            if (p)
                unlink(p);
            free(p);
            continue;
        }
        size_t len = strlen(n);
        if (!backups || len < 9 || strcmp(n + len - 9, ".bak.json") != 0)
            continue;
        for (int l = 0; l < 3; l++) {
            if (is_our_backup(n, len, l)) {
                if (nb[l] == cb[l]) {
                    size_t nc = cb[l] ? cb[l] * 2 : 8;
                    char **g = realloc(bk[l], nc * sizeof *g);
                    if (!g)
                        break;
                    bk[l] = g;
                    cb[l] = nc;
                }
                if ((bk[l][nb[l]] = strdup(n)))
                    nb[l]++;
                break;
            }
        }
    }
    closedir(d);
    for (int l = 0; l < 3; l++) {
        if (nb[l] > IW_REGISTRY_BACKUPS) {
            qsort(bk[l], nb[l], sizeof *bk[l], cmp_str);
            for (size_t i = 0; i + IW_REGISTRY_BACKUPS < nb[l]; i++) {
                char *p = join2(r->dir, bk[l][i]);
                if (p)
                    unlink(p);
                free(p);
            }
        }
        for (size_t i = 0; i < nb[l]; i++)
            free(bk[l][i]);
        free(bk[l]);
    }
}

/* ------------------------------------------------------------ staged writes
 *
 * A change writes up to three files.  Each is written to a temp file in the
 * folder and its writeback started at once; then every temp is fsync'd
 * (the disk works on all of them together), then each is backed up and
 * renamed over its file in the original's order (discovered, curated,
 * snapshot), then the folder is fsync'd once.  A crash at any point leaves
 * each file wholly old or wholly new. */

/* Pieces of a file to write: ranges of a layer text, printed entries. */
typedef struct iovb {
    struct iovec *v;
    size_t n, cap;
    char **owned;
    size_t no, co;
    size_t total;
} iovb;

static void iovb_free(iovb *b)
{
    for (size_t i = 0; i < b->no; i++)
        free(b->owned[i]);
    free(b->owned);
    free(b->v);
    memset(b, 0, sizeof *b);
}

/* Add [p, p+len); a range that continues the previous one is merged, so an
 * untouched stretch of the old text is one piece. */
static int iovb_add(iovb *b, const void *p, size_t len)
{
    if (!len)
        return 0;
    b->total += len;
    if (b->n && (const char *)b->v[b->n - 1].iov_base + b->v[b->n - 1].iov_len == (const char *)p) {
        b->v[b->n - 1].iov_len += len;
        return 0;
    }
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 16;
        struct iovec *g = realloc(b->v, nc * sizeof *g);
        if (!g)
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        b->v = g;
        b->cap = nc;
    }
    b->v[b->n].iov_base = (void *)p;
    b->v[b->n].iov_len = len;
    b->n++;
    return 0;
}

/* Add a malloc'd piece, owned by b from now on (also on failure). */
static int iovb_own(iovb *b, char *p, size_t len)
{
    if (b->no == b->co) {
        size_t nc = b->co ? b->co * 2 : 8;
        char **g = realloc(b->owned, nc * sizeof *g);
        if (!g) {
            free(p);
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
        b->owned = g;
        b->co = nc;
    }
    b->owned[b->no++] = p;
    return iovb_add(b, p, len);
}

static int write_iov(int fd, struct iovec *v, size_t n, const char *what)
{
    while (n) {
        int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
        ssize_t w = writev(fd, v, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot write '%s'", what);
        }
        size_t left = (size_t)w;
        while (n && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            n--;
        }
        if (n && left) {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    return 0;
}

typedef struct stage { int l; int fd; char *tmp; } stage;

/* A temp name no other writer uses: pid, thread and a per-process counter
 * (created O_EXCL, so a clash would fail instead of sharing a file). */
static char *stage_name(const iw_registry *r, int l)
{
    static unsigned long counter;
    char tmpname[256];
    snprintf(tmpname, sizeof tmpname, ".%s.tmp.%ld.%ld.%lu", FILE_NAMES[l], (long)getpid(), (long)gettid(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    return join2(r->dir, tmpname);
}

/* Write one file's temp (the iovecs are consumed) and start its writeback. */
static int stage_file(iw_registry *r, int l, iovb *b, stage *st)
{
    st->l = l;
    st->fd = -1;
    if (!(st->tmp = stage_name(r, l)))
        return iw_error_set(IW_ENOMEM, "registry: out of memory");
    st->fd = open(st->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (st->fd < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot create '%s'", st->tmp);
    int rc = write_iov(st->fd, b->v, b->n, st->tmp);
    if (rc < 0)
        return rc;
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(st->fd, 0, 0, SYNC_FILE_RANGE_WRITE);   /* a hint: fsync below is what counts */
#endif
    return 0;
}

static void stage_abort(stage *st, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (st[i].fd >= 0)
            close(st[i].fd);
        if (st[i].tmp)
            unlink(st[i].tmp);
        free(st[i].tmp);
        st[i].tmp = NULL;
        st[i].fd = -1;
    }
}

/* fsync every temp, then backup + rename each, then fsync the folder. */
static int stage_commit(iw_registry *r, stage *st, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (fsync(st[i].fd) != 0) {
            rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot fsync '%s'", st[i].tmp);
            goto fail;
        }
        int fd = st[i].fd;
        st[i].fd = -1;
        if (close(fd) != 0) {
            rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot close '%s'", st[i].tmp);
            goto fail;
        }
    }
    long pause = test_pause_ms();
    if (pause > 0) {
        struct timespec ts = { pause / 1000, (pause % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (size_t i = 0; i < n; i++) {
        int l = st[i].l;
        /* backup of the previous version: a hard link keeps the old inode */
        char bname[128], *bak;
        backup_name(bname, sizeof bname, l, stamp);
        if ((bak = join2(r->dir, bname))) {
            unlink(bak);
            if (link(r->paths[l], bak) != 0 && errno != ENOENT && copy_file(r->paths[l], bak) < 0)
                iw_error_clear();   /* a failed backup does not block the write */
            free(bak);
        }
        if (rename(st[i].tmp, r->paths[l]) != 0) {
            rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot rename '%s' to '%s'", st[i].tmp, r->paths[l]);
            goto fail;
        }
        free(st[i].tmp);
        st[i].tmp = NULL;
    }
    if ((rc = iw_fsync_dir(r->dir)) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        sig_of(r->paths[st[i].l], &r->sig[st[i].l]);
    return 0;
fail:
    stage_abort(st, n);
    return rc;
}

/* ------------------------------------------------------------ emitting */

/* An entry printed as an element of a top-level array, in the layout
 * iw_json_print gives the whole array (2-space indent, ": ", inline
 * arrays): the entry's own print, one level deeper.  Strings never hold a
 * raw newline (cJSON escapes it), so every '\n' is layout. */
static char *print_entry(const cJSON *e, size_t *len)
{
    char *s = iw_json_print(e);
    if (!s)
        return NULL;
    size_t n = strlen(s), nl = 0;
    if (n && s[n - 1] == '\n')
        n--;
    for (size_t i = 0; i < n; i++)
        nl += s[i] == '\n';
    char *o = malloc(n + 2 * nl + 1);
    if (!o) {
        free(s);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        o[k++] = s[i];
        if (s[i] == '\n') {
            o[k++] = ' ';
            o[k++] = ' ';
        }
    }
    o[k] = 0;
    free(s);
    *len = k;
    return o;
}

/* e (a copy about to be printed) keeps the number tokens of the entry of
 * the same name in L's text (numtok.c). */
static int keep_tokens(const reg_layer *L, cJSON *e)
{
    const char *nm = iw_json_get_str(e, "name");
    long i = nm && L->text ? layer_find(L, nm) : -1;
    if (i < 0 || (size_t)i >= L->n_orig)
        return 0;
    return iw_reg_keep_numbers(e, L->text + L->ents[i].start, L->ents[i].end - L->ents[i].start);
}

/* Print an entry of L (untouched numbers spelled as in L's text). */
static char *print_kept(const cJSON *e, const reg_layer *L, size_t *len)
{
    cJSON *c = cJSON_Duplicate(e, 1);
    char *s = NULL;
    if (c && keep_tokens(L, c) == 0)
        s = print_entry(c, len);
    cJSON_Delete(c);
    return s;
}

static int ent_printed(reg_layer *L, size_t i)
{
    reg_ent *e = &L->ents[i];
    if (e->printed)
        return 0;
    if (!e->json)
        return iw_error_set(IW_EINVAL, "registry: entry '%s' changed but not loaded", e->name);
    if (!(e->printed = print_kept(e->json, L, &e->printed_len)))
        return iw_error_set(IW_ENOMEM, "registry: out of memory serialising '%s'", e->name);
    return 0;
}

/* The separator a layer's text uses between entries (", " as cJSON prints
 * it when the text does not show one). */
static void layer_sep(const reg_layer *L, const char **p, size_t *n)
{
    if (L->text && L->n_orig >= 2) {
        *p = L->text + L->ents[0].end;
        *n = L->ents[1].start - L->ents[0].end;
    } else {
        *p = ", ";
        *n = 2;
    }
}

/* Separator to put after entry i when another entry follows. */
static void sep_after(const reg_layer *L, size_t i, const char **p, size_t *n)
{
    if (i + 1 < L->n_orig) {
        *p = L->text + L->ents[i].end;
        *n = L->ents[i + 1].start - L->ents[i].end;
    } else {
        layer_sep(L, p, n);
    }
}

/* Layer L as the transaction left it (deleted entries out, changed ones
 * printed, new ones appended, every other byte from the text read under the
 * lock), as pieces. */
static int emit(reg_layer *L, iovb *out)
{
    int rc;
    const char *sp;
    size_t sn;
    const char *pre = "[", *suf = "]\n";
    size_t pre_n = 1, suf_n = 2;
    if (L->text && L->n_orig) {
        pre = L->text + L->skip;
        pre_n = L->ents[0].start - L->skip;
        suf = L->text + L->ents[L->n_orig - 1].end;
        suf_n = L->len - L->ents[L->n_orig - 1].end;
    } else if (L->text) {
        pre = L->text + L->skip;
        pre_n = L->open + 1 - L->skip;
        suf = L->text + L->close;
        suf_n = L->len - L->close;
    }
    if ((rc = iovb_add(out, pre, pre_n)) < 0)
        return rc;
    long prev = -1;
    for (size_t i = 0; i < L->n; i++) {
        reg_ent *e = &L->ents[i];
        if (e->deleted)
            continue;
        if (prev >= 0) {
            sep_after(L, (size_t)prev, &sp, &sn);
            if ((rc = iovb_add(out, sp, sn)) < 0)
                return rc;
        }
        prev = (long)i;
        if (e->dirty || e->fresh) {
            if ((rc = ent_printed(L, i)) == 0)
                rc = iovb_add(out, e->printed, e->printed_len);
        } else {
            rc = iovb_add(out, L->text + e->start, e->end - e->start);
        }
        if (rc < 0)
            return rc;
    }
    return iovb_add(out, suf, suf_n);
}

/* Undo get_mut/add/del of a transaction that wrote nothing. */
static void layer_discard(reg_layer *L)
{
    for (size_t i = L->n_orig; i < L->n; i++)
        ent_free(&L->ents[i]);
    L->n = L->n_orig;
    for (size_t i = 0; i < L->n; i++) {
        reg_ent *e = &L->ents[i];
        if (e->dirty) {
            cJSON_Delete(e->json);
            e->json = NULL;
            e->dirty = false;
        }
        free(e->printed);
        e->printed = NULL;
        e->deleted = false;
    }
    L->live = L->n;
}

/* After a write the layer is read again on its next use (from the page
 * cache): building the new text in memory would cost a copy of the whole
 * file that a one-shot command never uses. */
static void layer_written(reg_layer *L)
{
    layer_free(L);
    L->loaded = false;
}

/* ------------------------------------------------------------ transactions */

static void rollback(iw_registry *r)
{
    /* discard in-memory edits: re-read the files */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", iw_error_last());
    int code = iw_error_last_code();
    for (int l = 0; l < 3; l++)
        r->sig[l].valid = false;
    for (int l = 0; l < 2; l++)
        layer_free(&r->L[l]);
    drop_merged(r);
    (void)refresh(r, true, false);
    iw_error_set(code ? code : IW_EIO, "%s", saved);
}

/* A legacy single model_registry.json, split before the first write the
 * way the original's registry.py::_migrate_legacy_snapshot splits it:
 * entries with metadata.created_from_download or a backend of "ollama" or
 * "unassigned" go to the discovered layer, every other entry to the
 * curated layer (each printed as its json.dumps(indent=2)), and the old
 * file is renamed to model_registry.backup.pre_split.json (kept when that
 * exists).  Under the lock; the layers are then read back. */
static int legacy_split(iw_registry *r)
{
    reg_layer *L = &r->L[IW_REG_DISCOVERED];
    iw_buf out[2] = { IW_BUF_INIT(IW_BUF_UNCAPPED), IW_BUF_INIT(IW_BUF_UNCAPPED) };
    size_t cnt[2] = { 0, 0 };
    int rc = 0;
    for (size_t i = 0; i < L->n_orig && rc == 0; i++) {
        const cJSON *e = ent_json(L, i);
        if (!e) {
            rc = IW_ENOMEM;
            break;
        }
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
        const cJSON *cfd = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "created_from_download") : NULL;
        bool truthy = cfd && !cJSON_IsFalse(cfd) && !cJSON_IsNull(cfd) && !(cJSON_IsNumber(cfd) && cfd->valuedouble == 0) &&
                      !(cJSON_IsString(cfd) && !cfd->valuestring[0]) && !(cJSON_IsArray(cfd) && !cfd->child) &&
                      !(cJSON_IsObject(cfd) && !cfd->child);
        const char *b = iw_json_get_str(e, "backend");
        int l = (truthy || (b && (!strcmp(b, "ollama") || !strcmp(b, "unassigned")))) ? IW_REG_DISCOVERED : IW_REG_CURATED;
        if (iw_buf_puts(&out[l], cnt[l]++ ? ",\n  " : "[\n  ") < 0) {
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
            break;
        }
        rc = iw_pyjson_reformat(L->text + L->ents[i].start, L->ents[i].end - L->ents[i].start, 1, &out[l]);
    }
    for (int l = 0; l < 2 && rc == 0; l++)
        if (iw_buf_puts(&out[l], cnt[l] ? "\n]\n" : "[]\n") < 0)
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
    char *bak = join2(r->dir, "model_registry.backup.pre_split.json");
    if (rc == 0 && !bak)
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
    /* the backup first: a crash after it leaves the layers to write again */
    if (rc == 0 && !iw_path_exists(bak) && link(r->paths[IW_REG_MERGED], bak) != 0 &&
        (rc = copy_file(r->paths[IW_REG_MERGED], bak)) < 0)
        iw_error_prefix("splitting the legacy registry");
    if (rc == 0 && (rc = iw_write_atomic(r->paths[IW_REG_CURATED], out[IW_REG_CURATED].data, out[IW_REG_CURATED].len)) == 0)
        rc = iw_write_atomic(r->paths[IW_REG_DISCOVERED], out[IW_REG_DISCOVERED].data, out[IW_REG_DISCOVERED].len);
    free(bak);
    iw_buf_free(&out[0]);
    iw_buf_free(&out[1]);
    if (rc < 0)
        return rc;
    r->legacy = false;
    return refresh(r, true, true);
}

static int begin(iw_registry *r, iw_lock *lk)
{
    int rc;
    if ((rc = iw_mkdir_p(r->dir, 0755)) < 0)
        return rc;
    if ((rc = iw_lock_acquire(lk, r->lock_path, IW_REGISTRY_LOCK_TIMEOUT_MS)) < 0)
        return rc;
    r->lock_fd = lk->fd;
    if ((rc = refresh(r, false, true)) < 0 || (r->legacy && (rc = legacy_split(r)) < 0)) {
        r->lock_fd = -1;
        iw_lock_release(lk);
        return rc;
    }
    for (int l = 0; l < 2; l++)
        layer_drop_view(&r->L[l]);
    drop_merged(r);
    return 0;
}

static void finish(iw_registry *r, iw_lock *lk, bool wrote)
{
    if (wrote) {
        r->legacy = false;
        record_snapshot(r);
        tidy_dir(r, true, false);
    }
    r->lock_fd = -1;
    iw_lock_release(lk);
    if (wrote)
        tidy_dir(r, false, true);
}

/* The snapshot (b[IW_REG_MERGED]) from the layer texts as they will be
 * on disk: the new text of a layer in `which`, else the text read under the
 * lock.  Printed as the original's _materialize_snapshot prints it
 * (pyjson.h), so the original's load finds the same bytes and leaves it. */
static int snapshot_build(iw_registry *r, iovb b[3], unsigned which)
{
    char *own[2] = { NULL, NULL };
    const char *t[2] = { NULL, NULL };
    size_t n[2] = { 0, 0 };
    int rc = 0;
    for (int l = IW_REG_CURATED; l <= IW_REG_DISCOVERED; l++) {
        if (which & (1u << l)) {
            if (!(own[l] = malloc(b[l].total ? b[l].total : 1))) {
                rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
                goto out;
            }
            for (size_t i = 0; i < b[l].n; i++) {
                memcpy(own[l] + n[l], b[l].v[i].iov_base, b[l].v[i].iov_len);
                n[l] += b[l].v[i].iov_len;
            }
            t[l] = own[l];
        } else if (r->L[l].text) {
            t[l] = r->L[l].text;
            n[l] = r->L[l].len;
        }
    }
    iw_buf out = IW_BUF_INIT(IW_BUF_UNCAPPED);
    if ((rc = iw_pyjson_snapshot(t[IW_REG_DISCOVERED], n[IW_REG_DISCOVERED], t[IW_REG_CURATED], n[IW_REG_CURATED],
                                 &out)) == 0) {
        size_t len = out.len;
        char *txt = iw_buf_detach(&out);
        rc = txt ? iovb_own(&b[IW_REG_MERGED], txt, len) : iw_error_set(IW_ENOMEM, "registry: out of memory");
    }
    iw_buf_free(&out);
out:
    free(own[0]);
    free(own[1]);
    return rc;
}

/* Stage the layers' files (those in `which`, as pieces in b[l]), a "[]"
 * for a layer file that does not exist yet (all three files exist after
 * the first write), and the snapshot (b[IW_REG_MERGED]); then commit. */
static int write_files(iw_registry *r, iovb b[3], unsigned which)
{
    static const char EMPTY[] = "[]\n";
    stage st[3];
    size_t ns = 0;
    int rc = 0;
    iovb empty[2];
    memset(empty, 0, sizeof empty);
    for (int l = IW_REG_DISCOVERED; l >= IW_REG_CURATED && rc == 0; l--) {
        iovb *src = &b[l];
        if (!(which & (1u << l))) {
            if (iw_path_exists(r->paths[l]) || (l == IW_REG_DISCOVERED && r->legacy))
                continue;
            if ((rc = iovb_add(&empty[l], EMPTY, sizeof EMPTY - 1)) < 0)
                break;
            src = &empty[l];
        }
        rc = stage_file(r, l, src, &st[ns++]);
    }
    if (rc == 0)
        rc = stage_file(r, IW_REG_MERGED, &b[IW_REG_MERGED], &st[ns++]);
    if (rc == 0)
        rc = stage_commit(r, st, ns);
    else
        stage_abort(st, ns);
    for (int l = 0; l < 2; l++)
        iovb_free(&empty[l]);
    return rc;
}

int iw_reg_update_entries(iw_registry *r, iw_reg_txn_fn fn, void *ctx)
{
    iw_lock lk = { -1, NULL };
    iovb b[3];
    int rc, mask;
    unsigned which = 0;
    memset(b, 0, sizeof b);
    if (!r || !fn)
        return iw_error_set(IW_EINVAL, "registry update: no registry or function");
    if ((rc = begin(r, &lk)) < 0)
        return rc;
    struct iw_reg_txn t = { r, 0 };
    mask = fn(&t, ctx);
    if (mask >= 0 && t.err < 0)
        mask = t.err;
    if (mask <= 0) {
        for (int l = 0; l < 2; l++)
            layer_discard(&r->L[l]);
        drop_merged(r);
        finish(r, &lk, false);
        return mask;
    }
    reg_layer *D = &r->L[IW_REG_DISCOVERED], *C = &r->L[IW_REG_CURATED];
    if ((mask & (1 << IW_REG_DISCOVERED)) || r->legacy) {
        which |= 1u << IW_REG_DISCOVERED;
        if ((rc = emit(D, &b[IW_REG_DISCOVERED])) < 0)
            goto rollback;
    }
    if (mask & (1 << IW_REG_CURATED)) {
        which |= 1u << IW_REG_CURATED;
        if ((rc = emit(C, &b[IW_REG_CURATED])) < 0)
            goto rollback;
    }
    rc = snapshot_build(r, b, which);
    if (rc < 0 || (rc = write_files(r, b, which)) < 0)
        goto rollback;
    for (int l = 0; l < 2; l++) {
        if (which & (1u << l))
            layer_written(&r->L[l]);
        else
            layer_discard(&r->L[l]);
    }
    drop_merged(r);
    finish(r, &lk, true);
    rc = mask;
    goto done;
rollback:
    rollback(r);
    finish(r, &lk, false);
done:
    for (int l = 0; l < 3; l++)
        iovb_free(&b[l]);
    return rc;
}

static reg_layer *txn_layer(iw_reg_txn *t, iw_reg_layer layer)
{
    return (layer == IW_REG_CURATED || layer == IW_REG_DISCOVERED) ? &t->r->L[layer] : NULL;
}

const cJSON *iw_reg_txn_get(iw_reg_txn *t, iw_reg_layer layer, const char *name)
{
    if (!t || !name)
        return NULL;
    const cJSON *e;
    if (layer == IW_REG_MERGED) {
        iw_error_clear();
        e = merged_get(t->r, name);
    } else {
        reg_layer *L = txn_layer(t, layer);
        long i = L ? layer_find(L, name) : -1;
        if (i < 0)
            return NULL;
        e = ent_json(L, (size_t)i);
    }
    if (!e && iw_error_last_code() == IW_ENOMEM && t->err == 0)
        t->err = IW_ENOMEM;
    return e;
}

cJSON *iw_reg_txn_get_mut(iw_reg_txn *t, iw_reg_layer layer, const char *name)
{
    reg_layer *L = t ? txn_layer(t, layer) : NULL;
    long i = (L && name) ? layer_find(L, name) : -1;
    if (i < 0)
        return NULL;
    cJSON *e = ent_json(L, (size_t)i);
    if (!e) {
        if (t->err == 0)
            t->err = IW_ENOMEM;
        return NULL;
    }
    L->ents[i].dirty = true;
    free(L->ents[i].printed);
    L->ents[i].printed = NULL;
    drop_merged(t->r);
    return e;
}

int iw_reg_txn_add(iw_reg_txn *t, iw_reg_layer layer, cJSON *entry)
{
    reg_layer *L = t ? txn_layer(t, layer) : NULL;
    const char *nm = iw_json_get_str(entry, "name");
    int rc = 0;
    if (!L || !cJSON_IsObject(entry) || !nm || !*nm || strlen(nm) > IW_REGISTRY_MAX_NAME)
        rc = iw_error_set(IW_EINVAL, "registry: a new entry needs a string \"name\" of 1 to %d bytes", IW_REGISTRY_MAX_NAME);
    else if (layer_find(L, nm) >= 0)
        rc = iw_error_set(IW_EEXISTS, "registry: an entry named '%s' exists already", nm);
    if (rc == 0 && L->n == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 16;
        reg_ent *g = realloc(L->ents, nc * sizeof *g);
        if (!g)
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
        else {
            L->ents = g;
            L->cap = nc;
        }
    }
    char *name = rc == 0 ? strdup(nm) : NULL;
    if (rc == 0 && !name)
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
    if (rc < 0) {
        cJSON_Delete(entry);
        if (t && t->err == 0)
            t->err = rc;
        return rc;
    }
    reg_ent *e = &L->ents[L->n++];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->name_owned = e->fresh = e->dirty = true;
    e->json = entry;
    L->live++;
    drop_merged(t->r);
    return 0;
}

bool iw_reg_txn_del(iw_reg_txn *t, iw_reg_layer layer, const char *name)
{
    reg_layer *L = t ? txn_layer(t, layer) : NULL;
    long i = (L && name) ? layer_find(L, name) : -1;
    if (i < 0)
        return false;
    L->ents[i].deleted = true;
    L->live--;
    drop_merged(t->r);
    return true;
}

/* Whole-array transaction (migrate, reconcile, maintenance): every entry is
 * parsed, handed over as arrays, and the changed files printed whole. */
static cJSON *layer_take_tree(reg_layer *L)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < L->n; i++) {
        if (L->ents[i].deleted)
            continue;
        cJSON *j = ent_json(L, i);
        if (!j) {
            cJSON_Delete(arr);
            return NULL;
        }
        L->ents[i].json = NULL;   /* the array owns it now */
        cJSON_AddItemToArray(arr, j);
    }
    return arr;
}

/* Give the trees back to the entries when the array still lists them in
 * order (entry pointers handed out before stay valid); else drop them. */
static void layer_give_tree(reg_layer *L, cJSON *arr)
{
    size_t k = 0;
    bool same = true;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *nm = iw_json_get_str(e, "name");
        if (k >= L->n || !nm || strcmp(nm, L->ents[k].name) != 0) {
            same = false;
            break;
        }
        k++;
    }
    if (!same || k != L->n) {
        cJSON_Delete(arr);
        return;
    }
    cJSON *c = arr->child;
    arr->child = NULL;
    for (k = 0; c; k++) {
        cJSON *next = c->next;
        c->next = c->prev = NULL;
        cJSON_Delete(L->ents[k].json);
        L->ents[k].json = c;
        c = next;
    }
    cJSON_Delete(arr);
}

/* Print layer L's whole array, its entries' untouched numbers spelled as
 * in L's text (arr is printed and then freed: changed in place). */
static int print_into(iovb *b, cJSON *arr, const reg_layer *L, const char *path)
{
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (keep_tokens(L, e) < 0)
            return iw_error_set(IW_ENOMEM, "registry: out of memory serialising '%s'", path);
    char *t = iw_json_print(arr);
    if (!t)
        return iw_error_set(IW_ENOMEM, "registry: out of memory serialising '%s'", path);
    return iovb_own(b, t, strlen(t));
}

int iw_registry_update(iw_registry *r, iw_registry_txn_fn fn, void *ctx)
{
    iw_lock lk = { -1, NULL };
    int rc, mask = 0;
    unsigned which = 0;
    iovb b[3];
    cJSON *tree[2] = { NULL, NULL }, *merged = NULL;
    memset(b, 0, sizeof b);
    if (!r || !fn)
        return iw_error_set(IW_EINVAL, "iw_registry_update: no registry or function");
    if ((rc = begin(r, &lk)) < 0)
        return rc;
    for (int l = 0; l < 2; l++)
        if (!(tree[l] = layer_take_tree(&r->L[l]))) {
            rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
            goto rollback;
        }
    mask = fn(tree[IW_REG_DISCOVERED], tree[IW_REG_CURATED], ctx);
    if (mask < 0) {
        rc = mask;
        goto rollback;
    }
    if (mask == 0) {
        for (int l = 0; l < 2; l++) {
            layer_give_tree(&r->L[l], tree[l]);
            tree[l] = NULL;
        }
        finish(r, &lk, false);
        return 0;
    }
    /* the original's order: discovered, curated, snapshot */
    if ((mask & (1 << IW_REG_DISCOVERED)) || r->legacy) {
        which |= 1u << IW_REG_DISCOVERED;
        if ((rc = print_into(&b[IW_REG_DISCOVERED], tree[IW_REG_DISCOVERED], &r->L[IW_REG_DISCOVERED], r->paths[IW_REG_DISCOVERED])) < 0)
            goto rollback;
    }
    if (mask & (1 << IW_REG_CURATED)) {
        which |= 1u << IW_REG_CURATED;
        if ((rc = print_into(&b[IW_REG_CURATED], tree[IW_REG_CURATED], &r->L[IW_REG_CURATED], r->paths[IW_REG_CURATED])) < 0)
            goto rollback;
    }
    rc = snapshot_build(r, b, which);
    if (rc < 0 || (rc = write_files(r, b, which)) < 0)
        goto rollback;
    for (int l = 0; l < 2; l++) {
        if (which & (1u << l)) {
            layer_written(&r->L[l]);
            cJSON_Delete(tree[l]);
        } else {
            layer_give_tree(&r->L[l], tree[l]);
        }
        tree[l] = NULL;
    }
    drop_merged(r);
    finish(r, &lk, true);
    rc = mask;
    goto done;
rollback:
    rollback(r);
    finish(r, &lk, false);
done:
    for (int l = 0; l < 2; l++)
        cJSON_Delete(tree[l]);
    cJSON_Delete(merged);
    for (int l = 0; l < 3; l++)
        iovb_free(&b[l]);
    return rc;
}

/* ------------------------------------------------------------ upsert/remove */

typedef struct upsert_ctx { const char *name; iw_registry_entry_fn fn; void *ctx; int result; } upsert_ctx;

static int upsert_txn(iw_reg_txn *t, void *p)
{
    upsert_ctx *u = p;
    cJSON *e = iw_reg_txn_get_mut(t, IW_REG_DISCOVERED, u->name);
    bool is_new = e == NULL;
    if (t->err < 0)
        return t->err;
    if (is_new) {
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", u->name)) {
            cJSON_Delete(e);
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
    }
    int rc = u->fn(e, is_new, u->ctx);
    u->result = rc < 0 ? rc : rc > 0;
    if (rc <= 0) {
        if (is_new)
            cJSON_Delete(e);
        return rc;
    }
    /* the callback must not rename the entry onto another one */
    const char *nm = iw_json_get_str(e, "name");
    if (!nm || strcmp(nm, u->name) != 0) {
        if (is_new)
            cJSON_Delete(e);
        return iw_error_set(IW_EINVAL, "registry: upsert of '%s' changed the entry name", u->name);
    }
    if (is_new && (rc = iw_reg_txn_add(t, IW_REG_DISCOVERED, e)) < 0)
        return rc;
    u->result = 1;
    return 1 << IW_REG_DISCOVERED;
}

int iw_registry_upsert(iw_registry *r, const char *name, iw_registry_entry_fn fn, void *ctx)
{
    if (!name || !*name || strlen(name) > IW_REGISTRY_MAX_NAME || !fn)
        return iw_error_set(IW_EINVAL, "registry: invalid entry name or callback");
    upsert_ctx u = { name, fn, ctx, 0 };
    int rc = iw_reg_update_entries(r, upsert_txn, &u);
    return rc < 0 ? rc : u.result;
}

/* ---- upsert of both layers (docs/registry.md, "Curated entries") ----- */

typedef struct both_ctx {
    const char *name;
    iw_registry_layer_fn fn;
    void *ctx;
    bool curated;
} both_ctx;

static int both_txn(iw_reg_txn *t, void *p)
{
    both_ctx *b = p;
    cJSON *e = iw_reg_txn_get_mut(t, IW_REG_DISCOVERED, b->name);
    bool is_new = e == NULL;
    int mask = 0, rc;
    if (t->err < 0)
        return t->err;
    if (is_new && (!(e = cJSON_CreateObject()) || !cJSON_AddStringToObject(e, "name", b->name))) {
        cJSON_Delete(e);
        return iw_error_set(IW_ENOMEM, "registry: out of memory");
    }
    rc = b->fn(e, is_new, false, b->ctx);
    if (rc < 0 || (rc > 0 && !iw_json_get_str(e, "name"))) {
        if (is_new)
            cJSON_Delete(e);
        return rc < 0 ? rc : iw_error_set(IW_EINVAL, "registry: upsert of '%s' changed the entry name", b->name);
    }
    if (rc > 0) {
        if (is_new && (rc = iw_reg_txn_add(t, IW_REG_DISCOVERED, e)) < 0)
            return rc;
        mask |= 1 << IW_REG_DISCOVERED;
    } else if (is_new) {
        cJSON_Delete(e);
    }
    /* the curated entry of that name: its values win in the merged view */
    if (iw_reg_txn_get(t, IW_REG_CURATED, b->name)) {
        cJSON *c = iw_reg_txn_get_mut(t, IW_REG_CURATED, b->name);
        if (t->err < 0)
            return t->err;
        if ((rc = b->fn(c, false, true, b->ctx)) < 0)
            return rc;
        if (rc > 0) {
            const char *nm = iw_json_get_str(c, "name");
            if (!nm || strcmp(nm, b->name) != 0)
                return iw_error_set(IW_EINVAL, "registry: upsert of '%s' changed the entry name", b->name);
            mask |= 1 << IW_REG_CURATED;
            b->curated = true;
        }
    }
    return mask;
}

int iw_registry_upsert_both(iw_registry *r, const char *name, iw_registry_layer_fn fn, void *ctx,
                            bool *curated_changed)
{
    if (curated_changed)
        *curated_changed = false;
    if (!name || !*name || strlen(name) > IW_REGISTRY_MAX_NAME || !fn)
        return iw_error_set(IW_EINVAL, "registry: invalid entry name or callback");
    both_ctx b = { name, fn, ctx, false };
    int rc = iw_reg_update_entries(r, both_txn, &b);
    if (rc < 0)
        return rc;
    if (curated_changed)
        *curated_changed = b.curated;
    return rc > 0;
}

typedef struct remove_ctx { const char *name; bool curated; } remove_ctx;

static int remove_txn(iw_reg_txn *t, void *p)
{
    remove_ctx *x = p;
    int mask = 0;
    if (iw_reg_txn_del(t, IW_REG_DISCOVERED, x->name))
        mask |= 1 << IW_REG_DISCOVERED;
    if (x->curated && iw_reg_txn_del(t, IW_REG_CURATED, x->name))
        mask |= 1 << IW_REG_CURATED;
    if (!mask)
        return iw_error_set(IW_ENOTFOUND, "no registry entry named '%s'%s", x->name,
                            x->curated ? "" : " in the discovered layer");
    return mask;
}

int iw_registry_remove(iw_registry *r, const char *name, bool from_curated)
{
    if (!name || !*name)
        return iw_error_set(IW_EINVAL, "registry: no entry name");
    remove_ctx x = { name, from_curated };
    int rc = iw_reg_update_entries(r, remove_txn, &x);
    return rc < 0 ? rc : 0;
}

void iw_registry_iso_time(int64_t sec, long usec, char out[40])
{
    struct tm tm;
    char base[24];
    time_t t = (time_t)sec;
    gmtime_r(&t, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.19s.%06d+00:00", base, (int)(usec % 1000000));
}

void iw_registry_now_iso(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    iw_registry_iso_time(tv.tv_sec, (long)tv.tv_usec, out);
}
