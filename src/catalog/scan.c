/* scan.c - the installs under a folder, found and registered (catalog.h). */
#include "iwdl/catalog.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/hash.h"
#include "iwdl/ollama.h"
#include "iwdl/registry.h"

/* snprintf that reports truncation (a cut path could name another file). */
static bool pfmt(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool pfmt(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return k >= 0 && (size_t)k < n;
}

/* One scan: where results go and what they count. */
typedef struct scan_ctx {
    iw_registry *r;
    const iw_scan_opts *o;
    iw_scan_fn fn;
    void *ud;
    iw_scan_stats *st;
} scan_ctx;

static void report(scan_ctx *c, const iw_scan_result *res)
{
    if (c->fn)
        c->fn(res, c->ud);
}

static void report_msg(scan_ctx *c, iw_scan_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report_msg(scan_ctx *c, iw_scan_kind kind, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    report(c, &(iw_scan_result){ .kind = kind, .message = msg });
}

typedef struct flist { iw_reg_file *v; char **shas; size_t n, cap; } flist;

static void flist_free(flist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].path);
        free(l->shas[i]);
    }
    free(l->v);
    free(l->shas);
    memset(l, 0, sizeof *l);
}

static int flist_add(flist *l, const char *rel, uint64_t size)
{
    if (l->n >= IW_SCAN_MAX_FILES)
        return iw_error_set(IW_ELIMIT, "more than %d files in one install", IW_SCAN_MAX_FILES);
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        iw_reg_file *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        l->v = nv;
        char **ns = realloc(l->shas, nc * sizeof *ns);
        if (!ns)
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        l->shas = ns;
        l->cap = nc;
    }
    char *p = strdup(rel);
    if (!p)
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    l->v[l->n].path = p;
    l->v[l->n].sha256 = NULL;
    l->v[l->n].size = size;
    l->shas[l->n] = NULL;
    l->n++;
    return 0;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Recursive listing of regular files (symlinks followed, hidden skipped). */
static int list_files(const char *root, const char *rel, int depth, flist *l)
{
    char path[4096];
    if (!pfmt(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel))
        return iw_error_set(IW_ELIMIT, "path too long under '%s'", root);
    DIR *d = opendir(path);
    if (!d)
        return iw_error_set_os(IW_EIO, 0, "cannot open folder '%s'", path);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || ends_with(de->d_name, ".aria2") || ends_with(de->d_name, ".incomplete"))
            continue;
        char sub[4096], full[4096];
        if (!pfmt(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name))
            continue;
        if (!pfmt(full, sizeof full, "%s/%s", root, sub))
            continue;
        struct stat st;
        if (stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < IW_SCAN_MAX_DEPTH)
                rc = list_files(root, sub, depth + 1, l);
        } else if (S_ISREG(st.st_mode)) {
            rc = flist_add(l, sub, (uint64_t)st.st_size);
        }
    }
    closedir(d);
    return rc;
}

static void hash_all(const char *root, flist *l, bool lone_file)
{
    for (size_t i = 0; i < l->n; i++) {
        char full[4096], hex[65];
        bool fits = lone_file ? pfmt(full, sizeof full, "%s", root)
                              : pfmt(full, sizeof full, "%s/%s", root, l->v[i].path);
        if (!fits)
            continue;
        if (iw_hash_file_hex(full, IW_HASH_SHA256, hex, sizeof hex) == 0 && (l->shas[i] = strdup(hex)))
            l->v[i].sha256 = l->shas[i];
    }
}

static void register_one(scan_ctx *c, const char *path, const char *repo, const char *commit,
                         flist *files, bool lone)
{
    const iw_scan_opts *o = c->o;
    c->st->found++;
    if (o->dry_run) {
        report(c, &(iw_scan_result){ .kind = IW_SCAN_WOULD_REGISTER, .path = path, .repo = repo,
                                     .n_files = files->n });
        return;
    }
    if (o->hash)
        hash_all(path, files, lone);
    iw_arch a;
    iw_arch_init(&a);
    if (iw_extract_path(path, NULL, &a) < 0) {
        iw_arch_warn(&a, "scan: %s", iw_error_last());
        iw_error_clear();
    }
    /* one GGUF file of a folder: name it after the file ("model.Q4_K_M.gguf") */
    char stem[1024] = "";
    if (lone && files->n == 1) {
        (void)pfmt(stem, sizeof stem, "%s", files->v[0].path);
        size_t sl = strlen(stem);
        if (sl > 5 && ends_with(stem, ".gguf"))
            stem[sl - 5] = 0;
    }
    iw_reg_download d = { .repo_id = repo, .commit = commit, .dest_path = path, .files = files->v,
                          .n_files = files->n, .arch = &a, .backend = o->backend, .location = o->location,
                          .slug_from = stem[0] ? stem : NULL };
    char *name = NULL;
    if (iw_registry_register_download(c->r, &d, &name) < 0) {
        report_msg(c, IW_SCAN_FAILED, "cannot register '%s': %s", path, iw_error_last());
        c->st->failed++;
    } else {
        report(c, &(iw_scan_result){ .kind = IW_SCAN_REGISTERED, .path = path, .name = name });
        c->st->registered++;
    }
    free(name);
    iw_arch_free(&a);
}

/* A folder: one install (config.json / safetensors) or one per GGUF file. */
static bool scan_folder(scan_ctx *c, const char *path, const char *repo, const char *commit)
{
    flist l = { 0 };
    if (list_files(path, "", 0, &l) < 0) {
        iw_error_clear();
        flist_free(&l);
        return false;
    }
    bool cfg = false, stf = false, gguf = false;
    for (size_t i = 0; i < l.n; i++) {
        const char *p = l.v[i].path;
        if (!strcmp(p, "config.json"))
            cfg = true;
        if (ends_with(p, ".safetensors"))
            stf = true;
        if (ends_with(p, ".gguf"))
            gguf = true;
    }
    if (cfg || stf) {
        register_one(c, path, repo, commit, &l, false);
    } else if (gguf) {
        for (size_t i = 0; i < l.n; i++) {
            if (!ends_with(l.v[i].path, ".gguf"))
                continue;
            flist one = { 0 };
            const char *base = strrchr(l.v[i].path, '/');
            base = base ? base + 1 : l.v[i].path;
            char full[4096];
            if (!pfmt(full, sizeof full, "%s/%s", path, l.v[i].path))
                continue;
            if (flist_add(&one, base, l.v[i].size) == 0) {
                /* repo id: the folder's, with the file's quant in the file name */
                char rid[1024];
                (void)pfmt(rid, sizeof rid, "%s", repo);
                register_one(c, full, rid, commit, &one, true);
            }
            flist_free(&one);
        }
    }
    flist_free(&l);
    return cfg || stf || gguf;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void scan_hf_cache(scan_ctx *c, const char *hub)
{
    DIR *d = opendir(hub);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "models--", 8) != 0)
            continue;
        char repo[1024];
        if (!pfmt(repo, sizeof repo, "%s", de->d_name + 8))
            continue;
        char *sep = strstr(repo, "--");
        if (sep) {
            *sep = '/';
            memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
        }
        char snaps[4096];
        if (!pfmt(snaps, sizeof snaps, "%s/%s/snapshots", hub, de->d_name))
            continue;
        DIR *sd = opendir(snaps);
        struct dirent *se;
        if (!sd)
            continue;
        while ((se = readdir(sd))) {
            if (se->d_name[0] == '.')
                continue;
            char snap[4096];
            if (!pfmt(snap, sizeof snap, "%s/%s", snaps, se->d_name))
                continue;
            if (is_dir(snap))
                scan_folder(c, snap, repo, se->d_name);
        }
        closedir(sd);
    }
    closedir(d);
}

static void scan_dir(scan_ctx *c, const char *dir)
{
    char hub[4096];
    if (pfmt(hub, sizeof hub, "%s/hub", dir) && is_dir(hub))
        scan_hf_cache(c, hub);
    scan_hf_cache(c, dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, "models--", 8) == 0 || !strcmp(de->d_name, "hub"))
            continue;
        char a[4096];
        if (!pfmt(a, sizeof a, "%s/%s", dir, de->d_name))
            continue;
        struct stat sa;
        if (stat(a, &sa) != 0)
            continue;
        if (S_ISREG(sa.st_mode) && ends_with(de->d_name, ".gguf")) {
            flist one = { 0 };
            char repo[1024];
            (void)pfmt(repo, sizeof repo, "%.*s", (int)(strlen(de->d_name) - 5), de->d_name);
            if (flist_add(&one, de->d_name, (uint64_t)sa.st_size) == 0)
                register_one(c, a, repo, NULL, &one, true);
            flist_free(&one);
            continue;
        }
        if (!S_ISDIR(sa.st_mode))
            continue;
        /* DIR/<repo> itself an install? (config.json or safetensors at its top) */
        char probe[4200];
        if (!pfmt(probe, sizeof probe, "%s/config.json", a))
            continue;
        struct stat sp;
        bool top_install = stat(probe, &sp) == 0;
        if (!top_install) {
            DIR *ad = opendir(a);
            struct dirent *ae;
            bool has_sub = false, has_weights = false;
            while (ad && (ae = readdir(ad))) {
                if (ae->d_name[0] == '.')
                    continue;
                char b[4200];
                if (!pfmt(b, sizeof b, "%s/%s", a, ae->d_name))
                    continue;
                if (is_dir(b))
                    has_sub = true;
                else if (ends_with(ae->d_name, ".safetensors") || ends_with(ae->d_name, ".gguf"))
                    has_weights = true;
            }
            if (ad)
                closedir(ad);
            top_install = has_weights && !has_sub;
            if (!top_install) {
                /* DIR/<owner>/<repo> */
                ad = opendir(a);
                while (ad && (ae = readdir(ad))) {
                    if (ae->d_name[0] == '.')
                        continue;
                    char b[4200], repo[1024];
                    if (!pfmt(b, sizeof b, "%s/%s", a, ae->d_name))
                        continue;
                    if (!pfmt(repo, sizeof repo, "%s/%s", de->d_name, ae->d_name))
                        continue;
                    if (is_dir(b))
                        scan_folder(c, b, repo, NULL);
                }
                if (ad)
                    closedir(ad);
                if (has_weights) {
                    /* loose GGUF files next to repo folders: one entry each */
                    ad = opendir(a);
                    while (ad && (ae = readdir(ad))) {
                        char b[4200];
                        struct stat sb;
                        if (!pfmt(b, sizeof b, "%s/%s", a, ae->d_name))
                            continue;
                        if (ae->d_name[0] == '.' || !ends_with(ae->d_name, ".gguf") ||
                            stat(b, &sb) != 0 || !S_ISREG(sb.st_mode))
                            continue;
                        flist one = { 0 };
                        if (flist_add(&one, ae->d_name, (uint64_t)sb.st_size) == 0)
                            register_one(c, b, de->d_name, NULL, &one, true);
                        flist_free(&one);
                    }
                    if (ad)
                        closedir(ad);
                }
                continue;
            }
        }
        scan_folder(c, a, de->d_name, NULL);
    }
    closedir(d);
}

/* An Ollama store: every model it lists, read from the store only (no
 * server), registered in the original importer's shape. */
static void scan_ollama(scan_ctx *c, const char *root)
{
    const iw_scan_opts *o = c->o;
    iw_strlist refs = { 0 };
    size_t skipped = 0;
    if (iw_ollama_store_list(root, &refs, &skipped) < 0) {
        report_msg(c, IW_SCAN_FAILED, "%s", iw_error_last());
        iw_error_clear();
        c->st->failed++;
        return;
    }
    if (skipped)
        report_msg(c, IW_SCAN_NOTE, "%zu path%s under %s/manifests %s not a model name; skipped",
                   skipped, skipped == 1 ? "" : "s", root, skipped == 1 ? "is" : "are");
    if (o->backend && strcmp(o->backend, "ollama") != 0)
        report_msg(c, IW_SCAN_NOTE, "--backend %s ignored: models of an Ollama store run on ollama", o->backend);
    char *def = NULL, *defreal = NULL;
    if (iw_ollama_store_root(&def) == 0)
        defreal = realpath(def, NULL);
    iw_error_clear();
    if (refs.n && (!defreal || strcmp(defreal, root) != 0))
        report_msg(c, IW_SCAN_NOTE, "note: %s is not the Ollama store found by default (%s); set "
                   "OLLAMA_MODELS=%s so inspect, verify and migrate-architecture find these models",
                   root, def ? def : "none", root);
    free(def);
    free(defreal);
    /* library models ("qwen3:8b", no '/') first, so they get the plain
     * names and a clash suffix goes to hf.co/... or namespaced copies */
    for (size_t k = 0; k < 2 * refs.n; k++) {
        const char *ref = refs.v[k % refs.n];
        if ((strchr(ref, '/') == NULL) != (k < refs.n))
            continue;
        c->st->found++;
        char path[4200];
        (void)pfmt(path, sizeof path, "ollama:/%s", ref);
        if (o->dry_run) {
            report(c, &(iw_scan_result){ .kind = IW_SCAN_WOULD_REGISTER, .path = path, .store = root });
            continue;
        }
        iw_arch a;
        iw_arch_init(&a);
        char *name = NULL;
        bool changed = false;
        iw_ollama_ref parsed;
        iw_ollama_manifest m;
        memset(&m, 0, sizeof m);
        if (iw_ollama_extract(ref, root, &a) < 0) {
            report_msg(c, IW_SCAN_FAILED, "%s: %s", path, iw_error_last());
            c->st->failed++;
        } else if (iw_ollama_parse_ref(ref, &parsed) < 0 || iw_ollama_resolve(&parsed, root, &m) < 0 ||
                   iw_registry_register_ollama(c->r, &(iw_reg_ollama){ .ref = ref, .arch = &a, .size = m.size,
                                                                       .pulled_sec = m.pulled_sec,
                                                                       .pulled_usec = m.pulled_usec,
                                                                       .location = o->location },
                                               &name, &changed) < 0) {
            report_msg(c, IW_SCAN_FAILED, "cannot register '%s': %s", path, iw_error_last());
            c->st->failed++;
        } else {
            report(c, &(iw_scan_result){ .kind = IW_SCAN_REGISTERED, .path = path, .store = root, .name = name,
                                         .unchanged = !changed });
            c->st->registered++;
        }
        iw_error_clear();
        iw_ollama_manifest_free(&m);
        free(name);
        iw_arch_free(&a);
    }
    iw_strlist_free(&refs);
}

int iw_catalog_scan(const char *registry_dir, const char *dir, const iw_scan_opts *opts,
                    iw_scan_fn fn, void *ud, iw_scan_stats *st)
{
    static const iw_scan_opts defaults = IW_SCAN_OPTS_INIT;
    iw_scan_stats local = { 0, 0, 0 };
    if (!st)
        st = &local;
    *st = local;
    if (!dir)
        return iw_error_set(IW_EINVAL, "scan: no folder");
    if (!opts)
        opts = &defaults;
    int rc = iw_opts_version_check(opts->version, IW_SCAN_OPTS_VERSION, "iw_scan_opts");
    if (rc < 0)
        return rc;
    char *real = realpath(dir, NULL);
    if (!real || !is_dir(real)) {
        free(real);
        return iw_error_set(IW_EINVAL, "'%s' is not a folder", dir);
    }
    iw_registry *r;
    if ((rc = iw_registry_open(&r, registry_dir)) < 0) {
        free(real);
        return rc;
    }
    scan_ctx c = { r, opts, fn, ud, st };
    char sub[4096];
    if (iw_ollama_is_store(real))
        scan_ollama(&c, real);
    else if (pfmt(sub, sizeof sub, "%s/models", real) && iw_ollama_is_store(sub)) {
        char *rs = realpath(sub, NULL);   /* ~/.ollama */
        scan_ollama(&c, rs ? rs : sub);
        free(rs);
    } else
        scan_dir(&c, real);
    iw_registry_close(r);
    free(real);
    return 0;
}
