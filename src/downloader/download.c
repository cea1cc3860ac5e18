/* download.c - repo-level download flow: pin, list, filter, layouts,
 * manifest, offline mode (see include/iwdl/download.h, docs/download.md). */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/glob.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"

#define MANIFEST_MAX (256u << 20)

static const char CACHEDIR_TAG[] =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n";

void iw_dl_options_init(iw_dl_options *o)
{
    memset(o, 0, sizeof *o);
    o->version = IW_DL_OPTIONS_VERSION;
    o->jobs = IW_DL_DEFAULT_JOBS;
    o->connections = IW_DL_DEFAULT_CONNECTIONS;
    o->split_min = IW_DL_DEFAULT_SPLIT_MIN;
    o->chunk = IW_DL_DEFAULT_CHUNK;
    o->retry_base_ms = 1000;
}

void iw_dl_result_free(iw_dl_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_paths; i++)
        free(r->paths[i]);
    free(r->paths);
    free(r->dest);
    memset(r, 0, sizeof *r);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

int iw_dl_default_dest(const char *repo, char **out)
{
    *out = NULL;
    int rc = iw_hub_check_repo_id(repo);
    if (rc < 0)
        return rc;
    const char *root = getenv("IMAGEWORKS_MODEL_ROOT");
    char *def = NULL;
    if (!root || !*root) {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return iw_error_set(IW_EINVAL, "neither IMAGEWORKS_MODEL_ROOT nor HOME is set; use --dest");
        def = xasprintf("%s/ai-models/weights", home);
        root = def;
    }
    *out = root ? xasprintf("%s/%s", root, repo) : NULL;
    free(def);
    return *out ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
}

int iw_dl_hf_cache_root(char **out)
{
    const char *c = getenv("HF_HUB_CACHE");
    if (c && *c)
        *out = strdup(c);
    else if ((c = getenv("HF_HOME")) && *c)
        *out = xasprintf("%s/hub", c);
    else if ((c = getenv("XDG_CACHE_HOME")) && *c)
        *out = xasprintf("%s/huggingface/hub", c);
    else if ((c = getenv("HOME")) && *c)
        *out = xasprintf("%s/.cache/huggingface/hub", c);
    else
        return iw_error_set(IW_EINVAL, "cannot locate the Hugging Face cache: set HF_HUB_CACHE or HOME");
    return *out ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- layouts */

typedef struct layout {
    iw_dl_layout kind;
    char  *dest;        /* PLAIN: the directory */
    char  *repo_dir;    /* HF: <cache>/models--org--name */
    char  *cache_root;
    char   commit[41];
    cJSON *manifest;    /* PLAIN: {"files":{...}} as loaded + updated */
} layout;

static cJSON *manifest_files(layout *L)
{
    if (!L->manifest)
        L->manifest = cJSON_CreateObject();
    if (!L->manifest)
        return NULL;
    cJSON *f = cJSON_GetObjectItemCaseSensitive(L->manifest, "files");
    if (!cJSON_IsObject(f)) {
        cJSON_DeleteItemFromObjectCaseSensitive(L->manifest, "files");
        f = cJSON_AddObjectToObject(L->manifest, "files");
    }
    return f;
}

static void manifest_record(layout *L, iw_dl_file *f, const struct stat *st)
{
    cJSON *files = manifest_files(L);
    if (!files)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(files, f->path);
    cJSON *e = cJSON_AddObjectToObject(files, f->path);
    if (!e)
        return;
    cJSON_AddNumberToObject(e, "size", (double)f->size);
    cJSON_AddStringToObject(e, "hash", f->lfs ? f->sha256 : f->oid);
    cJSON_AddStringToObject(e, "hash_kind", f->lfs ? "sha256" : "git-sha1");
    cJSON_AddNumberToObject(e, "mtime", (double)st->st_mtim.tv_sec);
    cJSON_AddNumberToObject(e, "mtime_ns", (double)st->st_mtim.tv_nsec);
}

/* The plain layout's state (manifest, partial files, their locks) lives
 * beside the install as hidden files, <parent>/.<name>.iwdl-<leaf>: on the
 * same filesystem (a partial is renamed into place) and outside the folder
 * the original imageworks walks (pathlib rglob counts every file in it,
 * hidden ones included, into download_files, the directory checksum and
 * the artifacts), where its scan ignores files (it takes only folders as
 * <owner>/<repo>).  An install at "/" keeps it in <dest>/.imageworks/. */
int iw_dl_state_path(const char *dest, const char *leaf, char **out)
{
    *out = NULL;
    size_t n = strlen(dest);
    while (n > 1 && dest[n - 1] == '/')
        n--;
    const char *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (dest[i] == '/')
            slash = dest + i;
    const char *base = slash ? slash + 1 : dest;
    size_t bl = (size_t)(dest + n - base);
    if (bl == 0 || (bl == 1 && base[0] == '.') || (bl == 2 && !strncmp(base, "..", 2)))
        *out = xasprintf("%.*s/.imageworks/%s", (int)n, dest, leaf);
    else if (!slash)
        *out = xasprintf(".%.*s.iwdl-%s", (int)bl, base, leaf);
    else
        *out = xasprintf("%.*s/.%.*s.iwdl-%s", (int)(slash - dest), slash == dest ? "/" : dest, (int)bl, base, leaf);
    return *out ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
}

static char *state_path(const layout *L, const char *leaf)
{
    char *p = NULL;
    iw_dl_state_path(L->dest, leaf, &p);
    return p;
}

static char *manifest_path(const layout *L) { return state_path(L, "manifest.json"); }

static void manifest_load(layout *L)
{
    char *p = manifest_path(L);
    if (p && !iw_path_is_file(p)) {
        free(p);
        p = xasprintf("%s/.imageworks/manifest.json", L->dest);   /* an older version's */
    }
    if (p && iw_path_is_file(p)) {
        cJSON *j = NULL;
        if (iw_json_parse_file(p, MANIFEST_MAX, &j, NULL) == 0 && cJSON_IsObject(j))
            L->manifest = j;
        else
            cJSON_Delete(j); /* unreadable manifest: files get re-hashed */
    }
    free(p);
    iw_error_clear();
}

/* Merge our entries into the manifest on disk under its lock. */
static int manifest_save(layout *L, const char *repo, const char *rev)
{
    char *p = manifest_path(L), *lp = state_path(L, "manifest.lock");
    int rc = 0;
    iw_lock lk = { -1, NULL };
    cJSON *disk = NULL;
    if (!p || !lp) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto out; }
    if ((rc = iw_mkdir_parent(p, 0755)) < 0 || (rc = iw_lock_acquire(&lk, lp, 30000)) < 0)
        goto out;
    if (iw_path_is_file(p) && iw_json_parse_file(p, MANIFEST_MAX, &disk, NULL) == 0 && cJSON_IsObject(disk)) {
        cJSON *df = cJSON_GetObjectItemCaseSensitive(disk, "files");
        cJSON *mf = manifest_files(L), *it;
        if (cJSON_IsObject(df) && mf)
            cJSON_ArrayForEach(it, df)
                if (!cJSON_GetObjectItemCaseSensitive(mf, it->string))
                    cJSON_AddItemToObject(mf, it->string, cJSON_Duplicate(it, 1));
    }
    iw_error_clear();
    manifest_files(L);
    cJSON_DeleteItemFromObjectCaseSensitive(L->manifest, "version");
    cJSON_DeleteItemFromObjectCaseSensitive(L->manifest, "repo");
    cJSON_DeleteItemFromObjectCaseSensitive(L->manifest, "revision");
    cJSON_DeleteItemFromObjectCaseSensitive(L->manifest, "commit");
    cJSON_AddNumberToObject(L->manifest, "version", 1);
    cJSON_AddStringToObject(L->manifest, "repo", repo);
    cJSON_AddStringToObject(L->manifest, "revision", rev);
    cJSON_AddStringToObject(L->manifest, "commit", L->commit);
    char *txt = iw_json_print(L->manifest);
    if (!txt) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto out; }
    rc = iw_write_atomic(p, txt, strlen(txt));
    free(txt);
out:
    if (lk.fd >= 0)
        iw_lock_release(&lk);
    cJSON_Delete(disk);
    free(p);
    free(lp);
    return rc;
}

static bool plain_is_present(iw_dl_file *f, void *ud)
{
    layout *L = ud;
    struct stat st;
    if (lstat(f->final_path, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size)
        return false;
    const char *want = f->lfs ? f->sha256 : f->oid;
    cJSON *files = L->manifest ? cJSON_GetObjectItemCaseSensitive(L->manifest, "files") : NULL;
    cJSON *e = files ? cJSON_GetObjectItemCaseSensitive(files, f->path) : NULL;
    int64_t sz, mt, mtn;
    const char *h = iw_json_get_str(e, "hash");
    if (e && h && !strcmp(h, want) && iw_json_get_i64(e, "size", &sz) && (uint64_t)sz == f->size &&
        iw_json_get_i64(e, "mtime", &mt) && mt == st.st_mtim.tv_sec &&
        iw_json_get_i64(e, "mtime_ns", &mtn) && mtn == st.st_mtim.tv_nsec)
        return true;
    /* not recorded (or changed): verify from disk, no request needed */
    char got[65];
    int rc = f->lfs ? iw_hash_file_hex(f->final_path, IW_HASH_SHA256, got, sizeof got)
                    : iw_git_blob_sha1_file(f->final_path, got);
    iw_error_clear();
    if (rc < 0 || strcmp(got, want))
        return false;
    manifest_record(L, f, &st);
    return true;
}

static int plain_place(iw_dl_file *f, void *ud)
{
    layout *L = ud;
    int rc = iw_mkdir_parent(f->final_path, 0755);
    if (rc < 0)
        return rc;
    if (iw_path_is_dir(f->final_path))
        return iw_error_set(IW_EEXISTS, "cannot place %s: a directory is in the way", f->final_path);
    if (rename(f->part_path, f->final_path) < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot move %s to %s", f->part_path, f->final_path);
    struct stat st;
    if (stat(f->final_path, &st) == 0)
        manifest_record(L, f, &st);
    return 0;
}

static char *hf_rel_target(const iw_dl_file *f)
{
    size_t depth = 0;
    for (const char *p = f->path; *p; p++)
        if (*p == '/')
            depth++;
    iw_buf b = IW_BUF_INIT(IW_BUF_UNCAPPED);
    for (size_t i = 0; i < depth + 2; i++)
        iw_buf_puts(&b, "../");
    iw_buf_printf(&b, "blobs/%s", f->lfs ? f->sha256 : f->oid);
    return iw_buf_detach(&b);
}

static int hf_link(iw_dl_file *f)
{
    char *target = hf_rel_target(f);
    if (!target)
        return iw_error_set(IW_ENOMEM, "out of memory");
    int rc = iw_mkdir_parent(f->link_path, 0755);
    if (rc == 0) {
        char cur[4096];
        ssize_t n = readlink(f->link_path, cur, sizeof cur - 1);
        if (n >= 0) {
            cur[n] = 0;
            if (!strcmp(cur, target)) { free(target); return 0; }
        }
        unlink(f->link_path);
        if (symlink(target, f->link_path) < 0)
            rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot create symlink %s", f->link_path);
    }
    free(target);
    return rc;
}

static bool hf_is_present(iw_dl_file *f, void *ud)
{
    (void)ud;
    struct stat st;
    if (stat(f->final_path, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size)
        return false;
    return hf_link(f) == 0;
}

static int hf_place(iw_dl_file *f, void *ud)
{
    (void)ud;
    if (rename(f->part_path, f->final_path) < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot move %s to %s", f->part_path, f->final_path);
    return hf_link(f);
}

static void hf_no_exist(iw_dl_file *f, void *ud)
{
    layout *L = ud;
    char *p = xasprintf("%s/.no_exist/%s/%s", L->repo_dir, L->commit, f->path);
    if (p && iw_mkdir_parent(p, 0755) == 0)
        iw_write_atomic(p, "", 0);
    free(p);
}

static void layout_free(layout *L)
{
    free(L->dest);
    free(L->repo_dir);
    free(L->cache_root);
    cJSON_Delete(L->manifest);
}

static void files_free(iw_dl_file *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].path); free(v[i].url); free(v[i].final_path); free(v[i].link_path);
        free(v[i].part_path); free(v[i].state_path); free(v[i].lock_path);
    }
    free(v);
}

static char *hf_folder_name(const char *repo)
{
    iw_buf b = IW_BUF_INIT(IW_BUF_UNCAPPED);
    iw_buf_puts(&b, "models--");
    for (const char *p = repo; *p; p++) {
        if (*p == '/') iw_buf_puts(&b, "--");
        else iw_buf_putc(&b, *p);
    }
    return iw_buf_detach(&b);
}

/* ------------------------------------------------------------ offline */

static int res_add_path(iw_dl_result *res, const char *path)
{
    char **np = realloc(res->paths, (res->n_paths + 1) * sizeof *np);
    if (!np)
        return iw_error_set(IW_ENOMEM, "out of memory");
    res->paths = np;
    if (!(np[res->n_paths] = strdup(path)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    res->n_paths++;
    return 0;
}

/* Every file of an HF snapshot folder (symlinks into blobs/) below dir/rel
 * that passes the filters; a dangling link is an error. */
static int snapshot_walk(const char *snap, const char *rel, const iw_dl_options *o, iw_dl_result *res, int depth)
{
    if (depth > 64)
        return iw_error_set(IW_ELIMIT, "%s: folders nested too deep", snap);
    char *dir = rel[0] ? xasprintf("%s/%s", snap, rel) : strdup(snap);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        int rc = dir ? iw_error_set_os(iw_error_from_errno(errno), errno, "cannot read %s", dir)
                     : iw_error_set(IW_ENOMEM, "out of memory");
        free(dir);
        return rc;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *r = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : strdup(de->d_name);
        char *full = r ? xasprintf("%s/%s", snap, r) : NULL;
        struct stat lst, st;
        if (!r || !full) {
            rc = iw_error_set(IW_ENOMEM, "out of memory");
        } else if (lstat(full, &lst) == 0 && S_ISDIR(lst.st_mode)) {
            rc = snapshot_walk(snap, r, o, res, depth + 1);
        } else if (iw_glob_filter(r, o->include, o->n_include, o->exclude, o->n_exclude)) {
            if (stat(full, &st) < 0 || !S_ISREG(st.st_mode))
                rc = iw_error_set(IW_EOFFLINE, "HF_HUB_OFFLINE is set and %s is missing or damaged in %s; unset HF_HUB_OFFLINE to download it",
                                  r, snap);
            else if ((rc = res_add_path(res, r)) == 0)
                res->bytes += (uint64_t)st.st_size;
        }
        free(r);
        free(full);
    }
    closedir(d);
    free(dir);
    return rc;
}

static int offline_serve(const char *repo, const char *rev, const iw_dl_options *o, layout *L, iw_dl_result *res)
{
    if (L->kind == IW_DL_LAYOUT_HF_CACHE) {
        char commit[41] = { 0 };
        if (iw_is_hex(rev, 40)) {
            memcpy(commit, rev, 41);
        } else {
            char *rp = xasprintf("%s/refs/%s", L->repo_dir, rev);
            iw_buf b = IW_BUF_INIT(64);
            if (rp && strchr(rev, '/') == NULL && iw_read_file(rp, 64, &b) == 0 && iw_is_hex(b.data, 40))
                memcpy(commit, b.data, 41);
            iw_buf_free(&b);
            free(rp);
        }
        char *snap = commit[0] ? xasprintf("%s/snapshots/%s", L->repo_dir, commit) : NULL;
        if (!snap || !iw_path_is_dir(snap)) {
            free(snap);
            return iw_error_set(IW_EOFFLINE, "HF_HUB_OFFLINE is set and %s@%s is not in the cache %s; unset HF_HUB_OFFLINE to download it",
                                repo, rev, L->cache_root);
        }
        memcpy(res->commit, commit, 41);
        res->dest = snap;
        int rc = snapshot_walk(snap, "", o, res, 0);
        if (rc == 0 && res->n_paths == 0)
            rc = iw_error_set(IW_EOFFLINE, "HF_HUB_OFFLINE is set and no cached file of %s@%s in %s matches the filters",
                              repo, rev, snap);
        res->files = res->files_skipped = res->n_paths;
        return rc;
    }
    manifest_load(L);
    const char *mc = L->manifest ? iw_json_get_str(L->manifest, "commit") : NULL;
    const char *mr = L->manifest ? iw_json_get_str(L->manifest, "revision") : NULL;
    cJSON *files = L->manifest ? cJSON_GetObjectItemCaseSensitive(L->manifest, "files") : NULL;
    if (!mc || !iw_is_hex(mc, 40) || !cJSON_IsObject(files) ||
        (strcmp(rev, mc) && (!mr || strcmp(rev, mr))))
        return iw_error_set(IW_EOFFLINE, "HF_HUB_OFFLINE is set and %s@%s was never downloaded to %s; unset HF_HUB_OFFLINE to download it",
                            repo, rev, L->dest);
    memcpy(L->commit, mc, 41);
    size_t n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, files) {
        if (!iw_glob_filter(it->string, o->include, o->n_include, o->exclude, o->n_exclude))
            continue;
        int64_t sz;
        const char *h = iw_json_get_str(it, "hash");
        const char *kind = iw_json_get_str(it, "hash_kind");
        if (!iw_json_get_i64(it, "size", &sz) || !h || iw_path_check_relative(it->string, strlen(it->string)) < 0)
            return iw_error_set(IW_EOFFLINE, "HF_HUB_OFFLINE is set and the manifest entry %s in %s is damaged",
                                it->string, L->dest);
        iw_dl_file f;
        memset(&f, 0, sizeof f);
        f.path = it->string;
        f.size = (uint64_t)sz;
        f.lfs = kind && !strcmp(kind, "sha256");
        snprintf(f.lfs ? f.sha256 : f.oid, f.lfs ? 65 : 41, "%s", h);
        f.final_path = xasprintf("%s/%s", L->dest, it->string);
        bool ok = f.final_path && plain_is_present(&f, L);
        free(f.final_path);
        if (!ok)
            return iw_error_set(IW_EOFFLINE, "HF_HUB_OFFLINE is set and %s is missing or damaged in %s; unset HF_HUB_OFFLINE to download it",
                                it->string, L->dest);
        int arc = res_add_path(res, it->string);
        if (arc < 0)
            return arc;
        n++;
        res->bytes += (uint64_t)sz;
    }
    if (n == 0)
        return iw_error_set(IW_EOFFLINE, "HF_HUB_OFFLINE is set and no downloaded file of %s in %s matches the filters",
                            repo, L->dest);
    memcpy(res->commit, mc, 41);
    res->dest = strdup(L->dest);
    res->files = res->files_skipped = n;
    return res->dest ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------ stale partials */

/* A partial is named by the content hash the listing promised.  When the
 * server's file changed (new ETag/hash), the old partial of the same path can
 * never be completed: discard it (only if no other process holds its lock). */
static void discard_stale_partials(layout *L, iw_dl_file *files, size_t nf)
{
    /* the state files are <prefix><hash>.state in the state folder */
    char *probe = state_path(L, "");
    char *cut = probe ? strrchr(probe, '/') : NULL;
    char *dir = probe ? (cut ? xasprintf("%.*s", (int)(cut - probe), probe) : strdup(".")) : NULL;
    const char *prefix = probe ? (cut ? cut + 1 : probe) : "";
    size_t pl = strlen(prefix);
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < pl + 7 || strncmp(de->d_name, prefix, pl) || strcmp(de->d_name + n - 6, ".state"))
            continue;
        char *sp = xasprintf("%s/%s", dir, de->d_name);
        cJSON *j = NULL;
        if (sp && iw_json_parse_file(sp, 1u << 20, &j, NULL) == 0) {
            const char *path = iw_json_get_str(j, "path");
            const char *hash = iw_json_get_str(j, "hash");
            for (size_t i = 0; path && hash && i < nf; i++) {
                const char *want = files[i].lfs ? files[i].sha256 : files[i].oid;
                if (strcmp(files[i].path, path) || !strcmp(hash, want) ||
                    !(iw_is_hex(hash, 40) || iw_is_hex(hash, 64)))
                    continue;
                char *lp = xasprintf("%s/%s%s.lock", dir, prefix, hash);
                char *pp = xasprintf("%s/%s%s.part", dir, prefix, hash);
                iw_lock lk = { -1, NULL };
                if (lp && pp && iw_lock_acquire(&lk, lp, 0) == 0) {
                    unlink(pp);
                    unlink(sp);
                    unlink(lp);
                    iw_lock_release(&lk);
                }
                free(lp);
                free(pp);
                break;
            }
        }
        cJSON_Delete(j);
        free(sp);
    }
    if (d)
        closedir(d);
    free(dir);
    free(probe);
    iw_error_clear();
}

/* ------------------------------------------------------------ finishing */

/* After a complete download: the per-file lock files of the plain layout
 * are empty leftovers; remove them (each only when no other process holds
 * it: a concurrent downloader that still waits for one finds the file in
 * place once it gets the lock), then, for an install at "/" whose state is
 * in <dest>/.imageworks/partial/, that folder when it is empty.
 * The HF cache's .locks/ are huggingface_hub's and stay. */
static void remove_done_locks(const layout *L, const iw_dl_file *files, size_t nf)
{
    if (L->kind != IW_DL_LAYOUT_PLAIN)
        return;
    const char *dir_of = NULL;
    for (size_t i = 0; i < nf; i++) {
        const char *lp = files[i].lock_path;
        if (!files[i].done || !lp || !iw_path_exists(lp))
            continue;
        iw_lock lk = { -1, NULL };
        if (iw_lock_acquire(&lk, lp, 0) == 0) {
            unlink(lp);
            iw_lock_release(&lk);
            dir_of = lp;
        }
    }
    size_t dl = dir_of ? strlen(dir_of) : 0;
    if (dir_of && dl > 20 && strstr(dir_of, "/.imageworks/partial/")) {
        char *dir = strdup(dir_of), *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
            *slash = 0;
            rmdir(dir);          /* only when empty: a partial of another run stays */
        }
        free(dir);
    }
    iw_error_clear();
}

/* A partial left in <dest>/.imageworks/partial/ by an older version moves
 * to the new place, so it resumes. */
static void legacy_partial(const layout *L, const char *h, const iw_dl_file *f)
{
    if (!f->part_path || !f->state_path || iw_path_exists(f->part_path))
        return;
    char *op = xasprintf("%s/.imageworks/partial/%s.part", L->dest, h);
    char *os = xasprintf("%s/.imageworks/partial/%s.state", L->dest, h);
    if (op && os && iw_path_exists(op) && iw_path_exists(os) && rename(op, f->part_path) == 0 &&
        rename(os, f->state_path) != 0)
        rename(f->part_path, op);   /* keep the pair together */
    free(op);
    free(os);
}

/* After a complete download nothing of ours stays in the folder: an older
 * version's .imageworks/{manifest.*,partial/} (its manifest was read
 * first) goes; the partial locks of this run go in remove_done_locks. */
static void tidy_state(layout *L)
{
    const char *old[] = { "manifest.json", "manifest.lock", "partial", NULL };
    for (size_t i = 0; old[i]; i++) {
        char *p = xasprintf("%s/.imageworks/%s", L->dest, old[i]);
        if (p && (i == 2 ? rmdir(p) : unlink(p)) != 0 && i == 2 && errno == ENOTEMPTY) {
            /* a partial/ holding only lock files */
            DIR *d = opendir(p);
            struct dirent *de;
            while (d && (de = readdir(d)) != NULL) {
                size_t n = strlen(de->d_name);
                if (n > 5 && !strcmp(de->d_name + n - 5, ".lock")) {
                    char *lp = xasprintf("%s/%s", p, de->d_name);
                    if (lp)
                        unlink(lp);
                    free(lp);
                }
            }
            if (d)
                closedir(d);
            rmdir(p);
        }
        free(p);
    }
    char *top = xasprintf("%s/.imageworks", L->dest);
    if (top)
        rmdir(top);   /* only when empty: support repos stay */
    free(top);
}

/* ------------------------------------------------------------ main flow */

static int build_file(iw_hub *hub, const char *repo, layout *L, const iw_hub_file *hf, iw_dl_file *f)
{
    memset(f, 0, sizeof *f);
    f->size = hf->size;
    f->lfs = hf->lfs;
    memcpy(f->oid, hf->oid, 41);
    memcpy(f->sha256, hf->sha256, 65);
    const char *h = f->lfs ? f->sha256 : f->oid;
    f->path = strdup(hf->path);
    if (!f->path)
        return iw_error_set(IW_ENOMEM, "out of memory");
    int rc = iw_hub_file_url(hub, repo, L->commit, hf->path, &f->url);
    if (rc < 0)
        return rc;
    if (L->kind == IW_DL_LAYOUT_PLAIN) {
        if ((rc = iw_path_join(&f->final_path, L->dest, hf->path)) < 0)
            return rc;
        char leaf[80];
        snprintf(leaf, sizeof leaf, "%s.part", h);
        f->part_path = state_path(L, leaf);
        snprintf(leaf, sizeof leaf, "%s.state", h);
        f->state_path = state_path(L, leaf);
        snprintf(leaf, sizeof leaf, "%s.lock", h);
        f->lock_path = state_path(L, leaf);
        legacy_partial(L, h, f);
    } else {
        char *folder = hf_folder_name(repo);
        f->final_path = xasprintf("%s/blobs/%s", L->repo_dir, h);
        f->link_path = xasprintf("%s/snapshots/%s/%s", L->repo_dir, L->commit, hf->path);
        f->part_path = xasprintf("%s/blobs/%s.incomplete", L->repo_dir, h);
        f->state_path = xasprintf("%s/blobs/%s.incomplete.iwstate", L->repo_dir, h);
        f->lock_path = folder ? xasprintf("%s/.locks/%s/%s.lock", L->cache_root, folder, h) : NULL;
        free(folder);
    }
    if (!f->final_path || !f->part_path || !f->state_path || !f->lock_path ||
        (L->kind == IW_DL_LAYOUT_HF_CACHE && !f->link_path))
        return iw_error_set(IW_ENOMEM, "out of memory");
    return 0;
}

int iw_download_repo(iw_hub *hub, const char *repo, const iw_dl_options *o, iw_dl_result *res)
{
    memset(res, 0, sizeof *res);
    uint64_t t0 = iw_now_ms();
    int rc = iw_opts_version_check(o->version, IW_DL_OPTIONS_VERSION, "iw_download_repo");
    if (rc == 0)
        rc = iw_hub_check_repo_id(repo);
    if (rc < 0)
        return rc;
    const char *rev = o->revision ? o->revision : "main";
    if ((rc = iw_hub_check_revision(rev)) < 0)
        return rc;
    layout L;
    memset(&L, 0, sizeof L);
    L.kind = o->layout;
    iw_hub_listing lst = { 0 };
    iw_dl_file *files = NULL;
    size_t nf = 0;

    if (L.kind == IW_DL_LAYOUT_PLAIN) {
        if (o->dest) L.dest = strdup(o->dest);
        else if ((rc = iw_dl_default_dest(repo, &L.dest)) < 0) goto out;
        if (!L.dest) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto out; }
    } else {
        if (o->dest) L.cache_root = strdup(o->dest);
        else if ((rc = iw_dl_hf_cache_root(&L.cache_root)) < 0) goto out;
        char *folder = L.cache_root ? hf_folder_name(repo) : NULL;
        L.repo_dir = folder ? xasprintf("%s/%s", L.cache_root, folder) : NULL;
        free(folder);
        if (!L.repo_dir) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto out; }
    }

    if (iw_hub_is_offline(hub)) {
        rc = offline_serve(repo, rev, o, &L, res);
        goto out;
    }
    if ((rc = iw_hub_resolve_revision(hub, repo, rev, L.commit)) < 0)
        goto out;
    memcpy(res->commit, L.commit, 41);
    if ((rc = iw_hub_list_files(hub, repo, L.commit, &lst)) < 0)
        goto out;

    files = calloc(lst.n ? lst.n : 1, sizeof *files);
    if (!files) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < lst.n; i++) {
        if (!iw_glob_filter(lst.files[i].path, o->include, o->n_include, o->exclude, o->n_exclude))
            continue;
        if ((rc = build_file(hub, repo, &L, &lst.files[i], &files[nf])) < 0) {
            nf++;
            goto out;
        }
        res->bytes += files[nf].size;
        nf++;
    }
    if (nf == 0) {
        rc = iw_error_set(IW_ENOTFOUND, "%s@%s: no file matches the include/exclude patterns", repo, rev);
        goto out;
    }

    /* create the destination (clear error for a read-only place) */
    const char *top = L.kind == IW_DL_LAYOUT_PLAIN ? L.dest : L.repo_dir;
    if ((rc = iw_mkdir_p(top, 0755)) < 0) {
        iw_error_prefix("destination %s", top);
        goto out;
    }
    if (access(top, W_OK) < 0) {
        rc = iw_error_set_os(iw_error_from_errno(errno), errno, "destination %s is not writable", top);
        goto out;
    }
    if (L.kind == IW_DL_LAYOUT_PLAIN) {
        manifest_load(&L);
        discard_stale_partials(&L, files, nf);
    } else {
        char *tag = xasprintf("%s/CACHEDIR.TAG", L.cache_root);
        if (tag && !iw_path_exists(tag))
            iw_write_atomic(tag, CACHEDIR_TAG, sizeof CACHEDIR_TAG - 1);
        free(tag);
        char *snap = xasprintf("%s/snapshots/%s", L.repo_dir, L.commit);
        if (!snap || (rc = iw_mkdir_p(snap, 0755)) < 0) {
            free(snap);
            if (!rc) rc = iw_error_set(IW_ENOMEM, "out of memory");
            goto out;
        }
        free(snap);
        if (strcmp(rev, L.commit)) {
            if (strstr(rev, "..") || rev[0] == '/') {
                rc = iw_error_set(IW_EUNSAFE, "revision name '%s' cannot be stored under refs/", rev);
                goto out;
            }
            char *ref = xasprintf("%s/refs/%s", L.repo_dir, rev);
            if (!ref || (rc = iw_mkdir_parent(ref, 0755)) < 0 || (rc = iw_write_atomic(ref, L.commit, 40)) < 0) {
                free(ref);
                if (!rc) rc = iw_error_set(IW_ENOMEM, "out of memory");
                goto out;
            }
            free(ref);
        }
    }

    /* skip what is present and verified: no request for those */
    iw_engine_opts eo = {
        .jobs = o->jobs > 0 ? o->jobs : IW_DL_DEFAULT_JOBS,
        .connections = o->connections > 0 ? o->connections : IW_DL_DEFAULT_CONNECTIONS,
        .split_min = o->split_min ? o->split_min : IW_DL_DEFAULT_SPLIT_MIN,
        .chunk = o->chunk ? o->chunk : IW_DL_DEFAULT_CHUNK,
        .retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 1000,
        .is_present = L.kind == IW_DL_LAYOUT_PLAIN ? plain_is_present : hf_is_present,
        .place = L.kind == IW_DL_LAYOUT_PLAIN ? plain_place : hf_place,
        .no_exist = L.kind == IW_DL_LAYOUT_PLAIN ? NULL : hf_no_exist,
        .ud_layout = &L,
        .on_event = o->on_event,
        .ud = o->ud,
        .cancel = o->cancel,
    };
    iw_dl_file *todo = calloc(nf, sizeof *todo);
    size_t *map = calloc(nf, sizeof *map);
    size_t nt = 0;
    if (!todo || !map) { free(todo); free(map); rc = iw_error_set(IW_ENOMEM, "out of memory"); goto out; }
    for (size_t i = 0; i < nf; i++) {
        if (eo.is_present(&files[i], &L)) {
            files[i].skipped = files[i].done = true;
            res->files_skipped++;
            if (o->on_event) {
                iw_dl_event ev = { .kind = IW_DL_EV_FILE_DONE, .path = files[i].path, .size = files[i].size, .skipped = true };
                o->on_event(&ev, o->ud);
            }
            continue;
        }
        todo[nt] = files[i];
        map[nt++] = i;
    }
    uint64_t fetched = 0;
    rc = iw_engine_run(hub, todo, nt, &eo, &fetched);
    for (size_t k = 0; k < nt; k++) {
        files[map[k]].done = todo[k].done;
        if (todo[k].skipped) { files[map[k]].skipped = true; res->files_skipped++; }
        else if (todo[k].done) res->files_fetched++;
    }
    free(todo);
    free(map);
    res->bytes_fetched = fetched;
    res->files = nf;
    if (L.kind == IW_DL_LAYOUT_PLAIN) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", iw_error_last());
        int mrc = manifest_save(&L, repo, rev);
        if (rc == 0)
            rc = mrc;
        else
            iw_error_set(rc, "%s", saved);
        if (rc == 0)
            tidy_state(&L);
    }
    if (rc == 0)
        remove_done_locks(&L, files, nf);
    if (rc == 0 && (res->paths = calloc(nf, sizeof *res->paths)) != NULL)
        for (size_t i = 0; i < nf; i++)
            if ((res->paths[res->n_paths] = strdup(files[i].path)) != NULL)
                res->n_paths++;
    if (rc == 0) {
        res->dest = L.kind == IW_DL_LAYOUT_PLAIN ? strdup(L.dest)
                                                 : xasprintf("%s/snapshots/%s", L.repo_dir, L.commit);
        if (!res->dest)
            rc = iw_error_set(IW_ENOMEM, "out of memory");
    }
out:
    res->seconds = (double)(iw_now_ms() - t0) / 1000.0;
    files_free(files, nf);
    iw_hub_listing_free(&lst);
    layout_free(&L);
    return rc;
}
