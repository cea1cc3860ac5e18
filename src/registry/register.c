/* register.c - create/update the discovered entry after a download, or for
 * a model of Ollama's store (scan). */
#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "iwdl/error.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"
#include "iwdl/buf.h"
#include "iwdl/ollama_ref.h"
#include "regstore.h"

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sha256 over the sorted lines; lines[i] malloc'd; frees them. */
static int hash_sorted_lines(char **lines, size_t n, char out[65])
{
    iw_hash *h = NULL;
    int rc = iw_hash_new(&h, IW_HASH_SHA256);
    if (rc == 0) {
        qsort(lines, n, sizeof *lines, cmp_strp);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = iw_hash_update(h, lines[i], strlen(lines[i]));
        if (rc == 0)
            rc = iw_hash_final_hex(h, out, 65);
    }
    iw_hash_free(h);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return rc;
}

/* Python's sorted() of pathlib paths: component by component. */
static int cmp_parts(const char *a, const char *b)
{
    for (;;) {
        size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
        size_t m = la < lb ? la : lb;
        int c = memcmp(a, b, m);
        if (c)
            return c;
        if (la != lb)
            return la < lb ? -1 : 1;
        if (!a[la] || !b[lb])
            return !a[la] && !b[lb] ? 0 : !a[la] ? -1 : 1;
        a += la + 1;
        b += lb + 1;
    }
}

static int cmp_file_parts(const void *x, const void *y)
{
    return cmp_parts(((const iw_reg_file *)x)->path, ((const iw_reg_file *)y)->path);
}

/* artifacts.aggregate_sha256 as hashing.py::compute_artifact_hashes: the
 * sorted "<sha>  <rel>" lines joined by "\n" (no newline after the last). */
int iw_registry_aggregate_sha256(const iw_reg_file *files, size_t n, char out[65])
{
    char **lines = calloc(n ? n : 1, sizeof *lines);
    size_t k = 0;
    out[0] = 0;
    if (!lines)
        return iw_error_set(IW_ENOMEM, "aggregate sha256: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!files[i].sha256 || !files[i].sha256[0] || !files[i].path)
            continue;
        if (asprintf(&lines[k], "%s%s  %s", k ? "\n" : "", files[i].sha256, files[i].path) < 0) {
            lines[k] = NULL;
            hash_sorted_lines(lines, k, out);
            out[0] = 0;
            return iw_error_set(IW_ENOMEM, "aggregate sha256: out of memory");
        }
        k++;
    }
    if (k == 0) {
        free(lines);
        return 0;   /* nothing hashed: "" as the original writes */
    }
    /* the "\n" separators go between lines after sorting: strip, sort, join */
    for (size_t i = 0; i < k; i++)
        if (lines[i][0] == '\n')
            memmove(lines[i], lines[i] + 1, strlen(lines[i]));
    qsort(lines, k, sizeof *lines, cmp_strp);
    iw_hash *h = NULL;
    int rc = iw_hash_new(&h, IW_HASH_SHA256);
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (i)
            rc = iw_hash_update(h, "\n", 1);
        if (rc == 0)
            rc = iw_hash_update(h, lines[i], strlen(lines[i]));
    }
    if (rc == 0)
        rc = iw_hash_final_hex(h, out, 65);
    iw_hash_free(h);
    for (size_t i = 0; i < k; i++)
        free(lines[i]);
    free(lines);
    return rc;
}

/* download_directory_checksum as download_adapter.py::
 * compute_directory_checksum: sha256 over each file's relative path then
 * its size in decimal, nothing between, in sorted path order; first 16
 * hex digits. */
int iw_registry_dir_checksum(const iw_reg_file *files, size_t n, char out[17])
{
    iw_reg_file *v = malloc((n ? n : 1) * sizeof *v);
    char full[65];
    size_t k = 0;
    out[0] = 0;
    if (!v)
        return iw_error_set(IW_ENOMEM, "directory checksum: out of memory");
    for (size_t i = 0; i < n; i++)
        if (files[i].path)
            v[k++] = files[i];
    qsort(v, k, sizeof *v, cmp_file_parts);
    iw_hash *h = NULL;
    int rc = iw_hash_new(&h, IW_HASH_SHA256);
    for (size_t i = 0; i < k && rc == 0; i++) {
        char sz[32];
        snprintf(sz, sizeof sz, "%llu", (unsigned long long)v[i].size);
        if ((rc = iw_hash_update(h, v[i].path, strlen(v[i].path))) == 0)
            rc = iw_hash_update(h, sz, strlen(sz));
    }
    if (rc == 0 && (rc = iw_hash_final_hex(h, full, sizeof full)) == 0) {
        memcpy(out, full, 16);
        out[16] = 0;
    }
    iw_hash_free(h);
    free(v);
    return rc;
}

/* The original's walk (pathlib rglob("*") + is_file): every regular file
 * below dir, hidden ones included, symlinks to files followed, symlinked
 * folders not entered. */
typedef struct walk_acc { iw_reg_file *v; size_t n, cap; } walk_acc;

static int walk_dir(const char *root, const char *rel, walk_acc *w, int depth)
{
    char *path = NULL;
    if (asprintf(&path, "%s%s%s", root, rel[0] ? "/" : "", rel) < 0)
        return iw_error_set(IW_ENOMEM, "directory checksum: out of memory");
    DIR *d = opendir(path);
    int rc = 0;
    if (!d) {
        free(path);
        return 0;   /* unreadable: the original's scandir errors are skipped too */
    }
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *r2 = NULL, *full = NULL;
        if (asprintf(&r2, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) < 0 ||
            asprintf(&full, "%s/%s", path, de->d_name) < 0) {
            free(r2);
            rc = iw_error_set(IW_ENOMEM, "directory checksum: out of memory");
            break;
        }
        struct stat ls, st;
        if (lstat(full, &ls) == 0 && stat(full, &st) == 0) {
            if (S_ISREG(st.st_mode)) {
                if (w->n == w->cap) {
                    size_t nc = w->cap ? w->cap * 2 : 64;
                    iw_reg_file *g = realloc(w->v, nc * sizeof *g);
                    if (!g) {
                        free(r2);
                        free(full);
                        rc = iw_error_set(IW_ENOMEM, "directory checksum: out of memory");
                        break;
                    }
                    w->v = g;
                    w->cap = nc;
                }
                w->v[w->n].path = r2;
                w->v[w->n].sha256 = NULL;
                w->v[w->n].size = (uint64_t)st.st_size;
                w->n++;
                r2 = NULL;
            } else if (S_ISDIR(st.st_mode) && !S_ISLNK(ls.st_mode) && depth < 64) {
                rc = walk_dir(root, r2, w, depth + 1);
            }
        }
        free(r2);
        free(full);
    }
    closedir(d);
    free(path);
    return rc;
}

int iw_registry_dir_checksum_path(const char *dir, char out[17])
{
    struct stat st;
    out[0] = 0;
    if (!dir || stat(dir, &st) != 0)
        return 0;   /* a missing folder: "" as the original writes */
    walk_acc w = { NULL, 0, 0 };
    int rc = S_ISDIR(st.st_mode) ? walk_dir(dir, "", &w, 0) : 0;
    if (rc == 0)
        rc = iw_registry_dir_checksum(w.v, w.n, out);
    for (size_t i = 0; i < w.n; i++)
        free((char *)w.v[i].path);
    free(w.v);
    return rc;
}

/* ---------------------------------------------------------------- entry */

typedef struct reg_ctx {
    const iw_reg_download *d;
    const char *format, *backend;
    char quant[64];
    bool has_quant;
    char agg[65], dirsum[17], now[40];
    char *name;            /* chosen under the lock */
    char *match;           /* an entry that already names this install (found before the lock) */
    char *display;         /* the original's display name for a new entry */
} reg_ctx;

/* Set key to item (takes ownership), replacing in place to keep key order. */
static bool put(cJSON *o, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(o, key, item) != 0;
    return cJSON_AddItemToObject(o, key, item) != 0;
}

static bool put_str(cJSON *o, const char *key, const char *v)
{
    return put(o, key, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

static cJSON *nulls_obj(const char *const *keys, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < n; i++)
        if (!cJSON_AddNullToObject(o, keys[i])) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

static cJSON *default_extra_args(const char *backend, const iw_arch *a)
{
    cJSON *arr = cJSON_CreateArray();
    char num[32];
    int64_t ctx = iw_arch_context(a);
    if (!arr)
        return NULL;
    if (strcmp(backend, "vllm") == 0) {
        int64_t len = 4096;
        if (ctx > 0) {
            len = (int64_t)(0.6 * (double)ctx);
            if (len < 4096)
                len = 4096;
            if (len > ctx)
                len = ctx;   /* never above the model's real context */
        }
        snprintf(num, sizeof num, "%lld", (long long)len);
        const char *args[] = { "--max-model-len", num, "--max-num-seqs", "1",
                               "--gpu-memory-utilization", "0.85", "--tensor-parallel-size", "1" };
        for (size_t i = 0; i < 8; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(args[i]));
    } else if (strcmp(backend, "ollama") == 0) {
        int64_t len = 4096;
        if (ctx > 0) {
            len = (int64_t)(0.6 * (double)ctx);
            if (len < 2048)
                len = 2048;
            if (len > ctx)
                len = ctx;
        }
        snprintf(num, sizeof num, "%lld", (long long)len);
        cJSON_AddItemToArray(arr, cJSON_CreateString("--num-ctx"));
        cJSON_AddItemToArray(arr, cJSON_CreateString(num));
    }
    return arr;
}

static char *lower_dup(const char *s)
{
    char *r = strdup(s);
    for (char *p = r; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

static int fill_entry(cJSON *e, bool is_new, reg_ctx *c)
{
    const iw_reg_download *d = c->d;
    const char *repo_base = strrchr(d->repo_id, '/');
    repo_base = repo_base ? repo_base + 1 : d->repo_id;
    char *qlow = c->has_quant ? strdup(c->quant) : NULL;
    bool ok = true;
    cJSON *meta;

    if (is_new) {
        /* the original's simplified display: its slug with spaces */
        char disp[512];
        snprintf(disp, sizeof disp, "%s", c->display ? c->display : repo_base);
        cJSON *bc = cJSON_CreateObject();
        ok = bc && cJSON_AddNumberToObject(bc, "port", iw_registry_default_port(c->backend)) &&
             cJSON_AddStringToObject(bc, "model_path", d->dest_path) &&
             cJSON_AddItemToObject(bc, "extra_args", default_extra_args(c->backend, d->arch));
        cJSON *caps = cJSON_CreateObject();
        ok = ok && caps && cJSON_AddTrueToObject(caps, "text") &&
             cJSON_AddBoolToObject(caps, "vision", d->arch && d->arch->has_vision) &&
             cJSON_AddFalseToObject(caps, "audio") && cJSON_AddFalseToObject(caps, "embedding");
        static const char *const CT[] = { "path", "sha256" };
        cJSON *ct = cJSON_CreateObject();
        ok = ok && ct && cJSON_AddStringToObject(ct, "source", "embedded") &&
             cJSON_AddNullToObject(ct, CT[0]) && cJSON_AddNullToObject(ct, CT[1]);
        cJSON *vl = cJSON_CreateObject();
        ok = ok && vl && cJSON_AddFalseToObject(vl, "locked") &&
             cJSON_AddNullToObject(vl, "expected_aggregate_sha256") && cJSON_AddNullToObject(vl, "last_verified");
        static const char *const PERF[] = { "ttft_ms_avg", "throughput_toks_per_s_avg", "last_sample" };
        cJSON *perf = cJSON_CreateObject();
        ok = ok && perf && cJSON_AddNumberToObject(perf, "rolling_samples", 0);
        for (size_t i = 0; ok && i < 3; i++)
            ok = cJSON_AddNullToObject(perf, PERF[i]) != NULL;
        static const char *const PROBES[] = { "vision" };
        ok = ok && put_str(e, "display_name", disp) && put_str(e, "backend", c->backend) &&
             put(e, "backend_config", bc) && put(e, "capabilities", caps);
        if (!ok) {
            /* items not yet attached are freed here; attached ones belong to e */
            if (!cJSON_GetObjectItem(e, "backend_config")) cJSON_Delete(bc);
            if (!cJSON_GetObjectItem(e, "capabilities")) cJSON_Delete(caps);
            cJSON_Delete(ct);
            cJSON_Delete(vl);
            cJSON_Delete(perf);
            goto oom;
        }
        ok = put(e, "artifacts", cJSON_CreateObject()) && put(e, "chat_template", ct) &&
             put(e, "version_lock", vl) && put(e, "performance", perf) &&
             put(e, "probes", nulls_obj(PROBES, 1)) && put(e, "profiles_placeholder", cJSON_CreateNull()) &&
             put(e, "metadata", cJSON_CreateObject()) && put(e, "served_model_id", cJSON_CreateNull()) &&
             put(e, "model_aliases", cJSON_CreateArray()) && put(e, "roles", cJSON_CreateArray()) &&
             put(e, "license", cJSON_CreateNull()) && put(e, "source", cJSON_CreateNull()) &&
             put(e, "deprecated", cJSON_CreateFalse());
        if (!ok)
            goto oom;
        char *fam = lower_dup(repo_base);
        ok = fam && put_str(e, "family", fam) && put_str(e, "source_provider", "hf") &&
             put_str(e, "quantization", qlow) && put(e, "backend_alternatives", cJSON_CreateArray()) &&
             put(e, "role_priority", cJSON_CreateObject());
        free(fam);
        if (!ok)
            goto oom;
    } else {
        cJSON *bc = cJSON_GetObjectItemCaseSensitive(e, "backend_config");
        if (!cJSON_IsObject(bc)) {
            bc = cJSON_CreateObject();
            if (!bc || !cJSON_AddNumberToObject(bc, "port", iw_registry_default_port(c->backend)) ||
                !cJSON_AddStringToObject(bc, "model_path", d->dest_path) ||
                !cJSON_AddItemToObject(bc, "extra_args", default_extra_args(c->backend, d->arch)) ||
                !put(e, "backend_config", bc))
                goto oom;
        } else if (!cJSON_GetObjectItemCaseSensitive(bc, "model_path")) {
            if (!cJSON_AddStringToObject(bc, "model_path", d->dest_path))
                goto oom;
        }
        if (!cJSON_GetObjectItemCaseSensitive(e, "backend") && !put_str(e, "backend", c->backend))
            goto oom;
        if (c->has_quant && !put_str(e, "quantization", qlow))
            goto oom;
    }

    /* artifacts: replaced wholesale by what was downloaded */
    cJSON *art = cJSON_CreateObject(), *files = art ? cJSON_AddArrayToObject(art, "files") : NULL;
    if (!art || !files || !cJSON_AddStringToObject(art, "aggregate_sha256", c->agg)) {
        cJSON_Delete(art);
        goto oom;
    }
    /* keep aggregate first like the original */
    cJSON_DetachItemViaPointer(art, files);
    cJSON_AddItemToObject(art, "files", files);
    cJSON *dl = cJSON_CreateArray();
    uint64_t total = 0;
    for (size_t i = 0; i < d->n_files; i++) {
        const iw_reg_file *f = &d->files[i];
        cJSON *fo = cJSON_CreateObject();
        if (!fo || !cJSON_AddStringToObject(fo, "path", f->path) ||
            !(f->sha256 ? cJSON_AddStringToObject(fo, "sha256", f->sha256) : cJSON_AddNullToObject(fo, "sha256")) ||
            !cJSON_AddNumberToObject(fo, "size", (double)f->size)) {
            cJSON_Delete(fo);
            cJSON_Delete(art);
            cJSON_Delete(dl);
            goto oom;
        }
        cJSON_AddItemToArray(files, fo);
        if (dl)
            cJSON_AddItemToArray(dl, cJSON_CreateString(f->path));
        total += f->size;
    }
    if (!put(e, "artifacts", art)) {
        cJSON_Delete(dl);
        goto oom;
    }
    ok = put_str(e, "download_format", c->format) &&
         put_str(e, "download_location", d->location ? d->location : "linux_wsl") &&
         put_str(e, "download_path", d->dest_path) &&
         put(e, "download_size_bytes", cJSON_CreateNumber((double)total)) &&
         put(e, "download_files", dl) &&
         put_str(e, "download_directory_checksum", c->dirsum);
    if (!ok)
        goto oom;
    /* the first download's time stays (download_adapter.py:
     * downloaded_at = downloaded_at or now); last_accessed is now */
    const char *first = iw_json_get_str(e, "downloaded_at");
    if ((!first || !*first) && !put_str(e, "downloaded_at", c->now))
        goto oom;
    if (!put_str(e, "last_accessed", c->now))
        goto oom;

    meta = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    if (!cJSON_IsObject(meta)) {
        if (!put(e, "metadata", cJSON_CreateObject()))
            goto oom;
        meta = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    }
    if (!put_str(meta, "hf_repo_id", d->repo_id) ||
        (d->revision && !put_str(meta, "hf_revision", d->revision)) ||
        (d->commit && !put_str(meta, "hf_commit", d->commit)))
        goto oom;
    if (d->arch) {
        cJSON *old = cJSON_GetObjectItemCaseSensitive(meta, "architecture");
        cJSON *na = iw_arch_to_json_keep(d->arch, old);
        if (!na || !put(meta, "architecture", na))
            goto oom;
    }
    free(qlow);
    return 1;
oom:
    free(qlow);
    return iw_error_set(IW_ENOMEM, "registry: out of memory building entry for '%s'", d->repo_id);
}

/* Does `name` belong to another install (different download_path)? */
static bool clashes(iw_reg_txn *t, const char *name, const char *dest)
{
    const iw_reg_layer layers[2] = { IW_REG_DISCOVERED, IW_REG_CURATED };
    for (int l = 0; l < 2; l++) {
        const cJSON *e = iw_reg_txn_get(t, layers[l], name);
        if (!e)
            continue;
        const char *p = iw_json_get_str(e, "download_path");
        if (p && strcmp(p, dest) != 0)
            return true;
        if (!p && l == 1 && !iw_reg_txn_get(t, IW_REG_DISCOVERED, name))
            return true;   /* a curated entry without a path is someone else's */
    }
    return false;
}

/* ------------------------------------------------------------ matching
 * One entry per install (issue 18): before a new name is made, an entry
 * that already names this install is looked for, as the original's
 * record_download and find_by_download_identity do: by download_path (or
 * backend_config.model_path), normalised as registry.py::
 * _normalize_download_path (expanduser + resolve; ollama: references in
 * lower case); then, among entries without a download_path, by HF id
 * (metadata.hf_repo_id, source.huggingface_id, model_aliases) or
 * served_model_id. */

static char *norm_path(const char *p)
{
    if (!p)
        return NULL;
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    if (!*p)
        return NULL;
    if (strncmp(p, "ollama:", 7) == 0)
        return lower_dup(p);
    char *x = NULL;
    if (p[0] == '~' && (p[1] == '/' || !p[1]) && getenv("HOME")) {
        if (asprintf(&x, "%s%s", getenv("HOME"), p + 1) < 0)
            return NULL;
    } else if (!(x = strdup(p))) {
        return NULL;
    }
    size_t n = strlen(x);
    while (n && (x[n - 1] == ' ' || x[n - 1] == '\t' || x[n - 1] == '\n'))
        x[--n] = 0;
    char *r = realpath(x, NULL);
    if (r) {
        free(x);
        return r;
    }
    /* not there: lexical form (no "//", no trailing '/') */
    size_t o = 0;
    for (size_t i = 0; x[i]; i++)
        if (!(x[i] == '/' && o && x[o - 1] == '/'))
            x[o++] = x[i];
    while (o > 1 && x[o - 1] == '/')
        o--;
    x[o] = 0;
    return x;
}

static bool same_path(const char *a, const char *norm_b)
{
    char *na = norm_path(a);
    bool eq = na && norm_b && strcmp(na, norm_b) == 0;
    free(na);
    return eq;
}

static bool names_repo(const cJSON *e, const char *repo)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    const char *h = iw_json_get_str(m, "hf_repo_id");
    if (h && !strcmp(h, repo))
        return true;
    h = iw_json_get_str(cJSON_GetObjectItemCaseSensitive(e, "source"), "huggingface_id");
    if (h && !strcmp(h, repo))
        return true;
    h = iw_json_get_str(e, "served_model_id");
    if (h && !strcmp(h, repo))
        return true;
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(e, "model_aliases"))
        if (cJSON_IsString(a) && !strcmp(a->valuestring, repo))
            return true;
    return false;
}

static bool has_path(const cJSON *e)
{
    const char *p = iw_json_get_str(e, "download_path");
    return p && *p;
}

/* 2: names the install by path, 1: a path-less entry names its repo, 0 */
static int match_kind(const cJSON *e, const char *norm_dest, const char *repo)
{
    if (same_path(iw_json_get_str(e, "download_path"), norm_dest) ||
        same_path(iw_json_get_str(cJSON_GetObjectItemCaseSensitive(e, "backend_config"), "model_path"), norm_dest))
        return 2;
    if (!has_path(e) && repo && names_repo(e, repo))
        return 1;
    return 0;
}

typedef struct find_ctx { const char *norm; const char *repo; int kind; } find_ctx;

static bool matches_kind(const cJSON *e, void *p)
{
    find_ctx *f = p;
    return match_kind(e, f->norm, f->repo) == f->kind;
}

/* Only entries whose text holds the install's folder name (a path match)
 * or the HF id are parsed: a path match is looked for first, everywhere. */
static char *find_install(iw_registry *r, const iw_reg_download *d)
{
    char *nd = norm_path(d->dest_path);
    const char *base = strrchr(d->dest_path, '/');
    base = base ? base + 1 : d->dest_path;
    char *b2 = strdup(*base ? base : d->dest_path);
    if (b2) {
        size_t n = strlen(b2);
        while (n > 1 && b2[n - 1] == '/')
            b2[--n] = 0;
        if (!*base) {   /* dest ends in '/': its last component */
            char *s2 = strrchr(b2, '/');
            if (s2)
                memmove(b2, s2 + 1, strlen(s2 + 1) + 1);
        }
    }
    const char *ndl[2] = { b2, nd && strrchr(nd, '/') ? strrchr(nd, '/') + 1 : NULL };
    find_ctx f = { nd, d->repo_id, 2 };
    char *hit = iw_reg_find_by_text(r, ndl, 2, matches_kind, &f);
    if (!hit) {
        const char *rl[1] = { d->repo_id };
        f.kind = 1;
        hit = iw_reg_find_by_text(r, rl, 1, matches_kind, &f);
    }
    free(b2);
    free(nd);
    iw_error_clear();
    return hit;
}

/* Under the lock, against the fresh state: the candidate still names it. */
static bool still_matches(iw_reg_txn *t, const char *name, const iw_reg_download *d)
{
    const cJSON *e = iw_reg_txn_get(t, IW_REG_MERGED, name);
    char *nd = norm_path(d->dest_path);
    bool ok = e && match_kind(e, nd, d->repo_id) > 0;
    free(nd);
    return ok;
}

/* The name for a new install: the original's slug of the HF id.  A lone
 * GGUF file of a folder (slug_from) is ours only (the original registers
 * folders), named by iw_registry_slug from the file name. */
static int original_slug_for(const iw_reg_download *d, const char *quant, char **out)
{
    if (d->slug_from && *d->slug_from) {
        char lb[64];
        const char *l = iw_registry_quant_label(d->arch, lb, sizeof lb);
        return iw_registry_slug(d->slug_from, l, d->arch ? d->arch->parameters.total : IW_UNKNOWN, out);
    }
    return iw_registry_original_slug(d->repo_id, quant, out);
}

/* Under the lock: only the entries looked at by name are parsed, and only
 * the registered one is printed (regstore.h). */
static int register_txn(iw_reg_txn *t, void *p)
{
    reg_ctx *c = p;
    const iw_reg_download *d = c->d;
    char *base = NULL;
    int rc;
    if (d->name && *d->name) {
        base = strdup(d->name);
        if (!base)
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        c->name = base;
    } else if (c->match && still_matches(t, c->match, d)) {
        /* one entry per install: the entry that already names it, whatever
         * its name (the original's, a curated one, an older slug) */
        if (!(base = strdup(c->match)))
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        c->name = base;
    } else {
        if ((rc = original_slug_for(d, c->has_quant ? c->quant : NULL, &base)) < 0)
            return rc;
        c->name = base;
        for (int k = 2; clashes(t, c->name, d->dest_path); k++) {
            if (c->name != base)
                free(c->name);
            if (k > 10000 || asprintf(&c->name, "%s-%d", base, k) < 0) {
                c->name = base;
                return iw_error_set(IW_EEXISTS, "registry: no free name for '%s'", base);
            }
        }
        if (c->name != base)
            free(base);
    }
    cJSON *e = iw_reg_txn_get_mut(t, IW_REG_DISCOVERED, c->name);
    bool is_new = e == NULL;
    if (is_new) {
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", c->name)) {
            cJSON_Delete(e);
            return iw_error_set(IW_ENOMEM, "registry: out of memory");
        }
    }
    rc = fill_entry(e, is_new, c);
    if (rc < 0) {
        if (is_new)
            cJSON_Delete(e);
        return rc;
    }
    if (is_new && (rc = iw_reg_txn_add(t, IW_REG_DISCOVERED, e)) < 0)
        return rc;
    return 1 << IW_REG_DISCOVERED;
}

static const char *format_of(const iw_reg_download *d)
{
    if (d->format && *d->format)
        return d->format;
    bool st = false;
    for (size_t i = 0; i < d->n_files; i++) {
        const char *p = d->files[i].path;
        size_t n = p ? strlen(p) : 0;
        if (n >= 5 && strcasecmp(p + n - 5, ".gguf") == 0)
            return "gguf";
        if (n >= 12 && strcasecmp(p + n - 12, ".safetensors") == 0)
            st = true;
    }
    if (st)
        return "safetensors";
    if (d->arch && d->arch->source && strcmp(d->arch->source, "gguf") == 0)
        return "gguf";
    return NULL;
}

int iw_registry_register_download(iw_registry *r, const iw_reg_download *d, char **name_out)
{
    reg_ctx c;
    int rc;
    if (name_out)
        *name_out = NULL;
    if (!r || !d || !d->repo_id || !*d->repo_id || !d->dest_path || !*d->dest_path ||
        (d->n_files && !d->files))
        return iw_error_set(IW_EINVAL, "register download: repo id and destination path are required");
    if (d->name && strlen(d->name) > IW_REGISTRY_MAX_NAME)
        return iw_error_set(IW_EINVAL, "register download: name longer than %d bytes", IW_REGISTRY_MAX_NAME);
    for (size_t i = 0; i < d->n_files; i++)
        if (!d->files[i].path)
            return iw_error_set(IW_EINVAL, "register download: file %zu has no path", i);
    memset(&c, 0, sizeof c);
    c.d = d;
    c.format = format_of(d);
    c.backend = d->backend && *d->backend ? d->backend
              : (c.format && strcmp(c.format, "gguf") == 0) ? "llama.cpp" : "vllm";
    {
        struct stat st;
        bool is_dir = stat(d->dest_path, &st) == 0 && S_ISDIR(st.st_mode);
        c.has_quant = iw_registry_original_quant(is_dir ? d->dest_path : NULL, d->files, d->n_files, d->arch,
                                                 c.quant, sizeof c.quant) == 1;
    }
    if (!(d->name && *d->name))
        c.match = find_install(r, d);
    {
        char *slug = NULL;
        if (original_slug_for(d, c.has_quant ? c.quant : NULL, &slug) == 0) {
            for (char *p = slug; *p; p++)
                if (*p == '_')
                    *p = ' ';
            c.display = slug;
        }
        iw_error_clear();
    }
    if ((rc = iw_registry_aggregate_sha256(d->files, d->n_files, c.agg)) < 0 ||
        (rc = iw_registry_dir_checksum_path(d->dest_path, c.dirsum)) < 0)
        return rc;
    iw_registry_now_iso(c.now);
    rc = iw_reg_update_entries(r, register_txn, &c);
    if (rc >= 0 && name_out) {
        *name_out = c.name;
        c.name = NULL;
    }
    free(c.name);
    free(c.match);
    free(c.display);
    return rc < 0 ? rc : 0;
}

/* ---- Ollama models ------------------------------------------------------- */

const char *iw_registry_ollama_served_id(const cJSON *e)
{
    const char *b = iw_json_get_str(e, "backend");
    const char *s = iw_json_get_str(e, "served_model_id");
    if (!b || strcmp(b, "ollama") != 0 || !s || !*s || !strcmp(s, "None") || !strcmp(s, "null"))
        return NULL;
    return s;
}

bool iw_registry_ollama_refs(const cJSON *e, const char **ref, const char **alt)
{
    const char *dp = iw_json_get_str(e, "download_path");
    const char *sid = iw_registry_ollama_served_id(e);
    if (alt)
        *alt = NULL;
    if (dp && iw_ollama_is_ref(dp)) {
        *ref = dp;
        if (alt && sid && strcmp(iw_ollama_ref_bare(dp), sid) != 0)
            *alt = sid;
        return true;
    }
    if (!sid)
        return false;
    *ref = sid;
    return true;
}

static bool entry_is_model(const cJSON *e, const iw_ollama_ref *want)
{
    const char *dp = iw_json_get_str(e, "download_path");
    if (dp && iw_ollama_is_ref(dp) && iw_ollama_ref_same(dp, want))
        return true;
    const char *sid = iw_registry_ollama_served_id(e);
    return sid && iw_ollama_ref_same(sid, want);
}

static cJSON *find_model(const cJSON *arr, const iw_ollama_ref *want)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (entry_is_model(e, want))
            return (cJSON *)e;
    return NULL;
}

static cJSON *find_name(const cJSON *arr, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *n = iw_json_get_str(e, "name");
        if (n && strcmp(n, name) == 0)
            return (cJSON *)e;
    }
    return NULL;
}

typedef struct oreg {
    const iw_reg_ollama *o;
    iw_ollama_ref ref;
    char fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];       /* "name:tag" */
    char path[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 16];      /* "ollama:/name:tag" */
    char downloaded_at[40];   /* when it was pulled, "" when not known */
    char *name;
    bool changed;
} oreg;

/* put, and the item is freed when it could not be attached. */
static bool take(cJSON *o, const char *key, cJSON *item)
{
    if (put(o, key, item))
        return true;
    cJSON_Delete(item);
    return false;
}

static bool take_str(cJSON *o, const char *key, const char *v)
{
    return take(o, key, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

/* A key the entry lacks, or holds as null (or the original's "None"). */
static bool lacks(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && (!*v->valuestring || !strcmp(v->valuestring, "None")));
}

/* metadata.architecture of e = keep(new, old) when more than collected_at changes. */
static int set_arch(cJSON *e, oreg *c)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    if (!cJSON_IsObject(m)) {
        if (!take(e, "metadata", cJSON_CreateObject()))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    }
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(m, "architecture");
    cJSON *na = iw_arch_to_json_keep(c->o->arch, cJSON_IsObject(old) ? old : NULL);
    if (!na)
        return IW_ENOMEM;
    if (cJSON_IsObject(old) && iw_arch_json_same(na, old)) {
        cJSON_Delete(na);
        return 0;
    }
    if (!take(m, "architecture", na))
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    c->changed = true;
    return 0;
}

/* Context Ollama serves by default: the params' num_ctx, else the
 * original's seed min(max(2048, 0.6 ctx), ctx), else 4096. */
static int64_t num_ctx_of(const iw_arch *a)
{
    if (a->ollama_num_ctx > 0)
        return a->ollama_num_ctx;
    int64_t ctx = iw_arch_context(a);
    if (ctx <= 0)
        return 4096;
    int64_t n = (int64_t)(0.6 * (double)ctx);
    if (n < 2048)
        n = 2048;
    return n > ctx ? ctx : n;
}

/* The family/slug base: "qwen3" for library models, "ns-name" for other
 * namespaces on registry.ollama.ai (the original's "aqualaguna-gemma-..."),
 * the repo name for other registries (hf.co/<owner>/<repo>). */
static void ollama_base_name(const iw_ollama_ref *r, char *out, size_t n)
{
    if (strcasecmp(r->registry, IW_OLLAMA_DEFAULT_REGISTRY) == 0 && strcasecmp(r->ns, IW_OLLAMA_DEFAULT_NAMESPACE) != 0)
        snprintf(out, n, "%s-%s", r->ns, r->name);
    else
        snprintf(out, n, "%s", r->name);
}

static int new_ollama_entry(cJSON *e, oreg *c)
{
    const iw_arch *a = c->o->arch;
    char base[2 * IW_OLLAMA_MAX_PART + 2], qbuf[64], disp[2 * IW_OLLAMA_MAX_PART + 80];
    ollama_base_name(&c->ref, base, sizeof base);
    const char *q = iw_registry_quant_label(a, qbuf, sizeof qbuf);
    char ql[64] = "";
    if (q) {
        snprintf(ql, sizeof ql, "%s", q);
        for (char *p = ql; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        char spaced[64];
        snprintf(spaced, sizeof spaced, "%s", q);
        for (char *p = spaced; *p; p++)
            if (*p == '_')
                *p = ' ';
        snprintf(disp, sizeof disp, "%s (%s)", base, spaced);
    } else {
        snprintf(disp, sizeof disp, "%s", base);
    }
    char fam[sizeof base];
    snprintf(fam, sizeof fam, "%s", base);
    for (char *p = fam; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    char nc[32];
    snprintf(nc, sizeof nc, "%" PRId64, num_ctx_of(a));

    cJSON *bc = cJSON_CreateObject(), *args = cJSON_CreateArray();
    bool ok = bc && args && cJSON_AddItemToArray(args, cJSON_CreateString("--num-ctx")) &&
              cJSON_AddItemToArray(args, cJSON_CreateString(nc)) &&
              cJSON_AddNumberToObject(bc, "port", iw_registry_default_port("ollama")) &&
              cJSON_AddStringToObject(bc, "model_path", c->path) && cJSON_AddItemToObject(bc, "extra_args", args);
    if (!ok) {
        if (!bc || !cJSON_GetObjectItemCaseSensitive(bc, "extra_args"))
            cJSON_Delete(args);
        cJSON_Delete(bc);
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    }
    cJSON *caps = cJSON_CreateObject(), *art = cJSON_CreateObject(), *ct = cJSON_CreateObject();
    cJSON *vl = cJSON_CreateObject(), *perf = cJSON_CreateObject(), *probes = cJSON_CreateObject();
    ok = caps && cJSON_AddTrueToObject(caps, "text") && cJSON_AddBoolToObject(caps, "vision", a->has_vision) &&
         cJSON_AddFalseToObject(caps, "audio") && cJSON_AddFalseToObject(caps, "embedding") &&
         art && cJSON_AddStringToObject(art, "aggregate_sha256", "") && cJSON_AddArrayToObject(art, "files") &&
         ct && cJSON_AddStringToObject(ct, "source", "embedded") && cJSON_AddNullToObject(ct, "path") &&
         cJSON_AddNullToObject(ct, "sha256") &&
         vl && cJSON_AddFalseToObject(vl, "locked") && cJSON_AddNullToObject(vl, "expected_aggregate_sha256") &&
         cJSON_AddNullToObject(vl, "last_verified") &&
         perf && cJSON_AddNumberToObject(perf, "rolling_samples", 0) && cJSON_AddNullToObject(perf, "ttft_ms_avg") &&
         cJSON_AddNullToObject(perf, "throughput_toks_per_s_avg") && cJSON_AddNullToObject(perf, "last_sample") &&
         probes && cJSON_AddNullToObject(probes, "vision");
    if (!ok) {
        cJSON_Delete(bc);
        cJSON_Delete(caps);
        cJSON_Delete(art);
        cJSON_Delete(ct);
        cJSON_Delete(vl);
        cJSON_Delete(perf);
        cJSON_Delete(probes);
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    }
    /* in the original's key order; take() takes each item, so after a
     * failure the rest are freed here */
    static const char *const KEYS[] = { "backend_config", "capabilities", "artifacts", "chat_template",
                                        "version_lock", "performance", "probes" };
    cJSON *items[] = { bc, caps, art, ct, vl, perf, probes };
    ok = take_str(e, "display_name", disp) && take_str(e, "backend", "ollama");
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (ok)
            ok = take(e, KEYS[i], items[i]);
        else
            cJSON_Delete(items[i]);
    }
    if (!ok)
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    int64_t size = c->o->size;
    ok = take(e, "profiles_placeholder", cJSON_CreateNull()) && take(e, "metadata", cJSON_CreateObject()) &&
         take_str(e, "served_model_id", c->fmt) && take(e, "model_aliases", cJSON_CreateArray()) &&
         take(e, "roles", cJSON_CreateArray()) && take(e, "license", cJSON_CreateNull()) &&
         take(e, "source", cJSON_CreateNull()) && take(e, "deprecated", cJSON_CreateFalse()) &&
         take_str(e, "family", fam) && take_str(e, "source_provider", "ollama") &&
         take_str(e, "quantization", q ? ql : NULL) && take(e, "backend_alternatives", cJSON_CreateArray()) &&
         take(e, "role_priority", cJSON_CreateObject()) && take_str(e, "download_format", "gguf") &&
         take_str(e, "download_location", c->o->location ? c->o->location : "linux_wsl") &&
         take_str(e, "download_path", c->path) &&
         take(e, "download_size_bytes", size >= 0 ? cJSON_CreateNumber((double)size) : cJSON_CreateNull()) &&
         take(e, "download_files", cJSON_CreateArray()) && take_str(e, "download_directory_checksum", "") &&
         take_str(e, "downloaded_at", c->downloaded_at[0] ? c->downloaded_at : NULL) &&
         take(e, "last_accessed", cJSON_CreateNull());
    if (!ok)
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    c->changed = true;
    return set_arch(e, c);
}

/* An entry that already names this model: architecture, size, and the
 * keys it lacks; everything else (name, curated choices, extra_args) stays. */
static int update_ollama_entry(cJSON *e, oreg *c)
{
    char qbuf[64];
    const char *q = iw_registry_quant_label(c->o->arch, qbuf, sizeof qbuf);
    struct { const char *key, *val; } fill[] = {
        { "backend", "ollama" }, { "served_model_id", c->fmt }, { "download_path", c->path },
        { "source_provider", "ollama" }, { "download_format", "gguf" }, { "quantization", NULL },
    };
    char ql[64] = "";
    if (q) {
        snprintf(ql, sizeof ql, "%s", q);
        for (char *p = ql; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        fill[5].val = ql;
    }
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++) {
        if (!fill[i].val || !lacks(e, fill[i].key))
            continue;
        if (!take_str(e, fill[i].key, fill[i].val))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        c->changed = true;
    }
    int64_t have, size = c->o->size;
    if (size >= 0 && !(iw_json_get_i64(e, "download_size_bytes", &have) && have == size)) {
        if (!take(e, "download_size_bytes", cJSON_CreateNumber((double)size)))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        c->changed = true;
    }
    return set_arch(e, c);
}

static int register_ollama_txn(cJSON *disc, cJSON *cur, void *p)
{
    oreg *c = p;
    int rc;
    c->changed = false;
    free(c->name);
    c->name = NULL;
    cJSON *e = find_model(disc, &c->ref);
    if (e) {
        if (!(c->name = strdup(iw_json_get_str(e, "name"))))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        if ((rc = update_ollama_entry(e, c)) < 0)
            return rc;
        return c->changed ? 1 << IW_REG_DISCOVERED : 0;
    }
    const cJSON *ce = find_model(cur, &c->ref);
    if (ce) {
        /* named by a curated entry: the discovered entry of that name (a
         * thin {name, metadata} one, created as migrate-architecture does)
         * carries the architecture; the curated keys win in the merge */
        const char *n = iw_json_get_str(ce, "name");
        if (!(c->name = strdup(n)))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        if ((e = find_name(disc, n))) {
            if ((rc = set_arch(e, c)) < 0)
                return rc;
            return c->changed ? 1 << IW_REG_DISCOVERED : 0;
        }
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", n)) {
            cJSON_Delete(e);
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        }
        if ((rc = set_arch(e, c)) < 0) {
            cJSON_Delete(e);
            return rc;
        }
        cJSON_AddItemToArray(disc, e);
        return 1 << IW_REG_DISCOVERED;
    }
    char base[2 * IW_OLLAMA_MAX_PART + 2], qbuf[64];
    ollama_base_name(&c->ref, base, sizeof base);
    char *slug = NULL;
    if ((rc = iw_registry_slug(base, iw_registry_quant_label(c->o->arch, qbuf, sizeof qbuf),
                               c->o->arch->parameters.total, &slug)) < 0)
        return rc;
    c->name = slug;
    for (int k = 2; find_name(disc, c->name) || find_name(cur, c->name); k++) {
        if (c->name != slug)
            free(c->name);
        if (k > 10000 || asprintf(&c->name, "%s-%d", slug, k) < 0) {
            c->name = slug;
            return iw_error_set(IW_EEXISTS, "scan: no free registry name for '%s'", slug);
        }
    }
    if (c->name != slug)
        free(slug);
    e = cJSON_CreateObject();
    if (!e || !cJSON_AddStringToObject(e, "name", c->name)) {
        cJSON_Delete(e);
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    }
    if ((rc = new_ollama_entry(e, c)) < 0) {
        cJSON_Delete(e);
        return rc;
    }
    cJSON_AddItemToArray(disc, e);
    return 1 << IW_REG_DISCOVERED;
}

int iw_registry_register_ollama(iw_registry *r, const iw_reg_ollama *o, char **name_out, bool *changed)
{
    oreg c;
    int rc;
    memset(&c, 0, sizeof c);
    *name_out = NULL;
    *changed = false;
    if (!r || !o || !o->ref || !o->arch)
        return iw_error_set(IW_EINVAL, "register Ollama model: reference and architecture are required");
    c.o = o;
    if ((rc = iw_ollama_parse_ref(o->ref, &c.ref)) < 0 ||
        (rc = iw_ollama_ref_format(&c.ref, c.fmt, sizeof c.fmt)) < 0)
        return rc;
    snprintf(c.path, sizeof c.path, "ollama:/%s", c.fmt);   /* the original importer's single slash */
    if (o->pulled_sec > 0)
        iw_registry_iso_time(o->pulled_sec, o->pulled_usec, c.downloaded_at);
    rc = iw_registry_update(r, register_ollama_txn, &c);
    if (rc < 0) {
        free(c.name);
        return rc;
    }
    *name_out = c.name;
    *changed = rc > 0;
    return 0;
}
