/* store.c - registry files: load, validate, merge, locked atomic update. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "iwdl/registry.h"
#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/schema.h"

static const char *const FILE_NAMES[3] = {
    "model_registry.curated.json", "model_registry.discovered.json", "model_registry.json"
};
/* backup stems: <stem>.YYYYmmdd-HHMMSS.bak.json */
static const char *const STEMS[3] = {
    "model_registry.curated", "model_registry.discovered", "model_registry"
};

typedef struct file_sig { bool valid, exists; dev_t dev; ino_t ino; off_t size; struct timespec mtim; } file_sig;

struct iw_registry {
    char   *dir;
    char   *paths[3];
    char   *lock_path;
    cJSON  *layers[3];   /* curated, discovered, merged (computed in memory) */
    file_sig sig[3];
    bool    legacy;      /* discovered loaded from model_registry.json */
    int     lock_fd;     /* held lock's fd during an update, else -1 */
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
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
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
    if (stat(path, &st) != 0)
        return;
    s->exists = true;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtim = st.st_mtim;
}

/* Load one file: missing -> empty array (exists=false). */
static int load_file(const char *path, cJSON **out, file_sig *sig)
{
    iw_buf b = IW_BUF_INIT(IW_REGISTRY_MAX_BYTES);
    cJSON *j = NULL;
    int rc;
    *out = NULL;
    sig_of(path, sig);
    rc = iw_read_file(path, IW_REGISTRY_MAX_BYTES, &b);
    if (rc == IW_ENOTFOUND) {
        iw_error_clear();
        sig->exists = false;
        *out = cJSON_CreateArray();
        return *out ? 0 : iw_error_set(IW_ENOMEM, "registry: out of memory");
    }
    if (rc < 0)
        return rc;
    if ((rc = iw_json_parse(b.data ? b.data : "", b.len, path, &j, NULL)) < 0) {
        /* make it explicit that the file is left alone */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", iw_error_last());
        rc = iw_error_set(rc, "%s; refusing to use or overwrite it", msg);
        goto done;
    }
    if ((rc = iw_registry_validate(j, b.data, b.len, path)) < 0)
        goto done;
    *out = j;
    j = NULL;
done:
    cJSON_Delete(j);
    iw_buf_free(&b);
    return rc;
}

/* The merged view; with no curated entries it is the discovered array itself. */
static cJSON *merged_view(const iw_registry *r)
{
    return r->layers[IW_REG_MERGED] ? r->layers[IW_REG_MERGED] : r->layers[IW_REG_DISCOVERED];
}

static int recompute_merged(iw_registry *r)
{
    if (cJSON_GetArraySize(r->layers[IW_REG_CURATED]) == 0) {
        cJSON_Delete(r->layers[IW_REG_MERGED]);
        r->layers[IW_REG_MERGED] = NULL;   /* alias of discovered, no copy */
        return 0;
    }
    cJSON *m = iw_registry_merge(r->layers[IW_REG_DISCOVERED], r->layers[IW_REG_CURATED]);
    if (!m)
        return iw_error_set(IW_ENOMEM, "registry: out of memory");
    cJSON_Delete(r->layers[IW_REG_MERGED]);
    r->layers[IW_REG_MERGED] = m;
    return 0;
}

/* Re-read the files whose signature changed (force: all).  The merged
 * snapshot is derived, so it is only parsed (validated) before a write
 * (for_write) or when it is the only file (legacy). */
static int refresh(iw_registry *r, bool force, bool for_write)
{
    bool changed = false;
    int rc;
    cJSON *merged_disk = NULL;
    for (int l = 0; l < 3; l++) {
        file_sig now;
        sig_of(r->paths[l], &now);
        if (!force && sig_equal(&now, &r->sig[l]) && (l == IW_REG_MERGED || r->layers[l]))
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
        cJSON *arr = NULL;
        file_sig s;
        if ((rc = load_file(r->paths[l], &arr, &s)) < 0) {
            for (int k = 0; k < 3; k++)
                r->sig[k].valid = false;
            return rc;
        }
        r->sig[l] = s;
        if (l == IW_REG_MERGED) {
            merged_disk = arr;   /* validated; the in-memory view is recomputed */
        } else {
            cJSON_Delete(r->layers[l]);
            r->layers[l] = arr;
        }
        changed = true;
    }
    /* legacy single-file registry: model_registry.json only */
    r->legacy = !r->sig[IW_REG_CURATED].exists && !r->sig[IW_REG_DISCOVERED].exists &&
                r->sig[IW_REG_MERGED].exists;
    if (r->legacy && merged_disk && cJSON_GetArraySize(r->layers[IW_REG_DISCOVERED]) == 0) {
        cJSON_Delete(r->layers[IW_REG_DISCOVERED]);
        r->layers[IW_REG_DISCOVERED] = merged_disk;
        merged_disk = NULL;
    }
    cJSON_Delete(merged_disk);
    if (changed || !r->layers[IW_REG_MERGED])
        return recompute_merged(r);
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
    for (int l = 0; l < 3; l++) {
        free(r->paths[l]);
        cJSON_Delete(r->layers[l]);
    }
    free(r->lock_path);
    free(r->dir);
    free(r);
}

int iw_registry_reload(iw_registry *r)
{
    return refresh(r, true, false);
}

const char *iw_registry_dir(const iw_registry *r) { return r->dir; }

const char *iw_registry_path(const iw_registry *r, iw_reg_layer layer)
{
    return (layer >= 0 && layer <= 2) ? r->paths[layer] : NULL;
}

const cJSON *iw_registry_entries(const iw_registry *r, iw_reg_layer layer)
{
    if (layer == IW_REG_MERGED)
        return merged_view(r);
    return (layer >= 0 && layer <= 1) ? r->layers[layer] : NULL;
}

static cJSON *find_entry(const cJSON *arr, const char *name, int *index)
{
    int i = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0) {
            if (index)
                *index = i;
            return e;
        }
        i++;
    }
    return NULL;
}

const cJSON *iw_registry_get_layer(const iw_registry *r, iw_reg_layer layer, const char *name)
{
    if (!r || !name || layer < 0 || layer > 2)
        return NULL;
    return find_entry(layer == IW_REG_MERGED ? merged_view(r) : r->layers[layer], name, NULL);
}

const cJSON *iw_registry_get(const iw_registry *r, const char *name)
{
    return iw_registry_get_layer(r, IW_REG_MERGED, name);
}

/* ------------------------------------------------------------ merge */

/* Where deep_merge is in an entry: the merge rules differ for
 * metadata.architecture (docs/registry.md, "Merge rules"). */
enum merge_level { MERGE_ENTRY, MERGE_METADATA, MERGE_PLAIN };

static bool merge_arch(cJSON *dst, const cJSON *src);

static bool deep_merge(cJSON *dst, const cJSON *src, enum merge_level lv)
{
    for (const cJSON *it = src->child; it; it = it->next) {
        if (!it->string || cJSON_IsNull(it))
            continue;   /* curated nulls are skipped */
        if (lv == MERGE_ENTRY && strcmp(it->string, "name") == 0 && cJSON_GetObjectItemCaseSensitive(dst, "name"))
            continue;   /* same name by construction; the index points at it */
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(dst, it->string);
        if (cur && cJSON_IsObject(cur) && cJSON_IsObject(it)) {
            bool ok;
            if (lv == MERGE_ENTRY && strcmp(it->string, "metadata") == 0)
                ok = deep_merge(cur, it, MERGE_METADATA);
            else if (lv == MERGE_METADATA && strcmp(it->string, "architecture") == 0)
                ok = merge_arch(cur, it);
            else
                ok = deep_merge(cur, it, MERGE_PLAIN);
            if (!ok)
                return false;
            continue;
        }
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup)
            return false;
        if (cur)
            cJSON_ReplaceItemViaPointer(dst, cur, dup);
        else
            cJSON_AddItemToObject(dst, it->string, dup);
    }
    return true;
}

/* metadata.architecture is written by tools (migrate, register, reconcile;
 * the original's extractor wrote the curated copies), so it does not follow
 * "curated wins" key by key.  dst is the discovered record, src the curated
 * one:
 *  - keys this schema does not know (hand-added fields): curated wins, as
 *    everywhere else;
 *  - known keys the discovered record has: the discovered value stays;
 *  - known keys it lacks: when the discovered record is a full extraction
 *    (it has collected_at), curated's are dropped (stale head_dim, warnings
 *    of an old run), except runtime and params_billion, which an extraction
 *    may not produce; when it is partial (only a reconcile runtime or a
 *    migrate failure warning), curated's fill the gaps. */
static bool merge_arch(cJSON *dst, const cJSON *src)
{
    bool full = cJSON_GetObjectItemCaseSensitive(dst, "collected_at") != NULL;
    for (const cJSON *it = src->child; it; it = it->next) {
        if (!it->string || cJSON_IsNull(it))
            continue;
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(dst, it->string);
        if (iw_schema_is_known_key(it->string)) {
            if (cur || (full && strcmp(it->string, "runtime") != 0 && strcmp(it->string, "params_billion") != 0))
                continue;
        } else if (cur && cJSON_IsObject(cur) && cJSON_IsObject(it)) {
            if (!deep_merge(cur, it, MERGE_PLAIN))
                return false;
            continue;
        }
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup)
            return false;
        if (cur)
            cJSON_ReplaceItemViaPointer(dst, cur, dup);
        else
            cJSON_AddItemToObject(dst, it->string, dup);
    }
    return true;
}

/* Curated entry `src` over `dst` (a copy of the discovered entry, or {} for
 * a curated-only entry), then curated metadata.architecture_override, the
 * way to pin an architecture value by hand, over the result. */
static bool merge_entry(cJSON *dst, const cJSON *src)
{
    if (!deep_merge(dst, src, MERGE_ENTRY))
        return false;
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(src, "metadata");
    const cJSON *ov = cJSON_IsObject(sm) ? cJSON_GetObjectItemCaseSensitive(sm, "architecture_override") : NULL;
    if (!cJSON_IsObject(ov))
        return true;
    cJSON *dm = cJSON_GetObjectItemCaseSensitive(dst, "metadata");
    if (!cJSON_IsObject(dm))
        return true;   /* deep_merge copied curated's object metadata: cannot be absent */
    cJSON *da = cJSON_GetObjectItemCaseSensitive(dm, "architecture");
    if (!cJSON_IsObject(da)) {
        if (da)
            cJSON_DeleteItemFromObjectCaseSensitive(dm, "architecture");
        if (!(da = cJSON_AddObjectToObject(dm, "architecture")))
            return false;
    }
    return deep_merge(da, ov, MERGE_PLAIN);
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
            /* curated-only entry: nulls skipped as in a merge over {} */
            cJSON *o = cJSON_CreateObject();
            if (!o || !merge_entry(o, c)) {
                cJSON_Delete(o);
                goto fail;
            }
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

/* After a write, under the lock: remove stale temp files of killed writers
 * (no other writer is active) and keep the newest IW_REGISTRY_BACKUPS
 * backups per stem. */
static void tidy_dir(iw_registry *r)
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
            char *p = join2(r->dir, n);
            if (p)
                unlink(p);
            free(p);
            continue;
        }
        size_t len = strlen(n);
        if (len < 9 || strcmp(n + len - 9, ".bak.json") != 0)
            continue;
        for (int l = 0; l < 3; l++) {
            size_t sl = strlen(STEMS[l]);
            /* <stem>.YYYYmmdd-HHMMSS.bak.json : exactly 15 timestamp chars */
            if (len == sl + 1 + 15 + 9 && strncmp(n, STEMS[l], sl) == 0 && n[sl] == '.' &&
                n[sl + 9] == '-') {
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

static int write_all(int fd, const char *p, size_t n, const char *what)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot write '%s'", what);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* temp + fsync + [test pause] + backup link + rename + fsync dir. */
static int write_layer(iw_registry *r, int l, const char *text)
{
    char tmpname[256], *tmp = NULL, *bak = NULL;
    int fd = -1, rc = 0;
    snprintf(tmpname, sizeof tmpname, ".%s.tmp.%ld", FILE_NAMES[l], (long)getpid());
    if (!(tmp = join2(r->dir, tmpname))) {
        rc = iw_error_set(IW_ENOMEM, "registry: out of memory");
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot create '%s'", tmp);
        goto done;
    }
    if ((rc = write_all(fd, text, strlen(text), tmp)) < 0)
        goto done;
    if (fsync(fd) != 0) {
        rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot fsync '%s'", tmp);
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot close '%s'", tmp);
        goto done;
    }
    fd = -1;
    long pause = test_pause_ms();
    if (pause > 0) {
        struct timespec ts = { pause / 1000, (pause % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    /* backup of the previous version: a hard link keeps the old inode */
    if (iw_path_exists(r->paths[l])) {
        char stamp[32], bname[128];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(bname, sizeof bname, "%s.%s.bak.json", STEMS[l], stamp);
        if ((bak = join2(r->dir, bname))) {
            unlink(bak);
            if (link(r->paths[l], bak) != 0 && copy_file(r->paths[l], bak) < 0)
                iw_error_clear();   /* a failed backup does not block the write */
        }
    }
    if (rename(tmp, r->paths[l]) != 0) {
        rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot rename '%s' to '%s'", tmp, r->paths[l]);
        goto done;
    }
    free(tmp);
    tmp = NULL;
    if ((rc = iw_fsync_dir(r->dir)) < 0)
        goto done;
    sig_of(r->paths[l], &r->sig[l]);
done:
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
    free(bak);
    return rc;
}

static int print_and_write(iw_registry *r, int l, const cJSON *arr, char **keep)
{
    char *text = iw_json_print(arr);
    if (!text)
        return iw_error_set(IW_ENOMEM, "registry: out of memory serialising '%s'", r->paths[l]);
    int rc = write_layer(r, l, text);
    if (keep)
        *keep = text;
    else
        free(text);
    return rc;
}

int iw_registry_update(iw_registry *r, iw_registry_txn_fn fn, void *ctx)
{
    iw_lock lk = { -1, NULL };
    int rc, mask = 0;
    char *disc_text = NULL;
    if (!r || !fn)
        return iw_error_set(IW_EINVAL, "iw_registry_update: no registry or function");
    if ((rc = iw_mkdir_p(r->dir, 0755)) < 0)
        return rc;
    if ((rc = iw_lock_acquire(&lk, r->lock_path, IW_REGISTRY_LOCK_TIMEOUT_MS)) < 0)
        return rc;
    r->lock_fd = lk.fd;
    if ((rc = refresh(r, false, true)) < 0)
        goto done;
    mask = fn(r->layers[IW_REG_DISCOVERED], r->layers[IW_REG_CURATED], ctx);
    if (mask < 0) {
        rc = mask;
        goto rollback;
    }
    if (mask == 0)
        goto done;
    if ((rc = recompute_merged(r)) < 0)
        goto rollback;
    /* the original's order: discovered, curated, snapshot.  With no curated
     * entries the snapshot equals the discovered layer: print it once. */
    bool same = cJSON_GetArraySize(r->layers[IW_REG_CURATED]) == 0;
    if ((mask & (1 << IW_REG_DISCOVERED)) || r->legacy || same) {
        if ((rc = print_and_write(r, IW_REG_DISCOVERED, r->layers[IW_REG_DISCOVERED], same ? &disc_text : NULL)) < 0)
            goto rollback;
    }
    if ((mask & (1 << IW_REG_CURATED)) &&
        (rc = print_and_write(r, IW_REG_CURATED, r->layers[IW_REG_CURATED], NULL)) < 0)
        goto rollback;
    /* all three files exist after the first write; an absent curated layer
     * is created empty, never rewritten later except by remove */
    if (!(mask & (1 << IW_REG_CURATED)) && !iw_path_exists(r->paths[IW_REG_CURATED]) &&
        (rc = write_layer(r, IW_REG_CURATED, "[]\n")) < 0)
        goto rollback;
    if (same && disc_text)
        rc = write_layer(r, IW_REG_MERGED, disc_text);
    else
        rc = print_and_write(r, IW_REG_MERGED, merged_view(r), NULL);
    if (rc < 0)
        goto rollback;
    r->legacy = false;
    record_snapshot(r);
    tidy_dir(r);
    rc = mask;
    goto done;
rollback:
    /* discard in-memory edits: the next access re-reads the files */
    for (int l = 0; l < 3; l++)
        r->sig[l].valid = false;
    {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", iw_error_last());
        int code = iw_error_last_code();
        (void)refresh(r, true, false);
        iw_error_set(code ? code : rc, "%s", saved);
    }
done:
    free(disc_text);
    r->lock_fd = -1;
    iw_lock_release(&lk);
    return rc;
}

/* ------------------------------------------------------------ upsert/remove */

typedef struct upsert_ctx { const char *name; iw_registry_entry_fn fn; void *ctx; int result; } upsert_ctx;

static int upsert_txn(cJSON *disc, cJSON *cur, void *p)
{
    upsert_ctx *u = p;
    (void)cur;
    cJSON *e = find_entry(disc, u->name, NULL);
    bool is_new = e == NULL;
    if (is_new) {
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", u->name)) {
            cJSON_Delete(e);
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
    }
    int rc = u->fn(e, is_new, u->ctx);
    if (rc < 0 || rc == 0) {
        if (is_new)
            cJSON_Delete(e);
        u->result = rc;
        return rc;
    }
    /* the callback must not rename the entry onto another one */
    const char *nm = iw_json_get_str(e, "name");
    if (!nm || strcmp(nm, u->name) != 0) {
        if (is_new)
            cJSON_Delete(e);
        return iw_error_set(IW_EINVAL, "registry: upsert of '%s' changed the entry name", u->name);
    }
    if (is_new)
        cJSON_AddItemToArray(disc, e);
    u->result = 1;
    return 1 << IW_REG_DISCOVERED;
}

int iw_registry_upsert(iw_registry *r, const char *name, iw_registry_entry_fn fn, void *ctx)
{
    if (!name || !*name || strlen(name) > IW_REGISTRY_MAX_NAME || !fn)
        return iw_error_set(IW_EINVAL, "registry: invalid entry name or callback");
    upsert_ctx u = { name, fn, ctx, 0 };
    int rc = iw_registry_update(r, upsert_txn, &u);
    return rc < 0 ? rc : u.result;
}

typedef struct remove_ctx { const char *name; bool curated; } remove_ctx;

static int remove_txn(cJSON *disc, cJSON *cur, void *p)
{
    remove_ctx *x = p;
    int mask = 0, idx;
    if (find_entry(disc, x->name, &idx)) {
        cJSON_DeleteItemFromArray(disc, idx);
        mask |= 1 << IW_REG_DISCOVERED;
    }
    if (x->curated && find_entry(cur, x->name, &idx)) {
        cJSON_DeleteItemFromArray(cur, idx);
        mask |= 1 << IW_REG_CURATED;
    }
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
    int rc = iw_registry_update(r, remove_txn, &x);
    return rc < 0 ? rc : 0;
}

void iw_registry_now_iso(char out[40])
{
    struct timeval tv;
    struct tm tm;
    char base[24];
    gettimeofday(&tv, NULL);
    time_t t = tv.tv_sec;
    gmtime_r(&t, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.19s.%06d+00:00", base, (int)(tv.tv_usec % 1000000));
}
