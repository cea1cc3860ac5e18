/* ollama.c - Ollama's local store (manifests -> blobs).
 *
 * No network here: this file turns a parsed reference (ollama_ref.c) into
 * blob paths.
 * Every name component becomes a path component and every digest a file
 * name, so both are validated before use, and every resolved path is checked
 * with realpath() to stay inside the store (docs/formats/ollama.md). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"

/* ---- store root --------------------------------------------------------- */

int iw_ollama_store_root(char **out)
{
    *out = NULL;
    const char *env = getenv("OLLAMA_MODELS");
    const char *home = getenv("HOME");
    char homepath[PATH_MAX] = "";
    if (home && *home)
        snprintf(homepath, sizeof homepath, "%s/.ollama/models", home);
    const char *cands[] = { env && *env ? env : NULL, homepath[0] ? homepath : NULL,
                            "/usr/share/ollama/.ollama/models" };
    for (size_t i = 0; i < 3; i++) {
        if (cands[i] && iw_path_is_dir(cands[i])) {
            if (!(*out = strdup(cands[i])))
                return iw_error_set(IW_ENOMEM, "out of memory");
            return 0;
        }
    }
    return iw_error_set(IW_ENOTFOUND,
                        "no Ollama model store found (tried %s%s%s, /usr/share/ollama/.ollama/models); set OLLAMA_MODELS",
                        env && *env ? env : "$OLLAMA_MODELS (unset)", homepath[0] ? ", " : "", homepath);
}

/* ---- media types -------------------------------------------------------- */

static const struct { const char *suffix; iw_ollama_layer_kind kind; const char *name; } kinds[] = {
    { "model",     IW_OLLAMA_LAYER_MODEL,     "model" },
    { "projector", IW_OLLAMA_LAYER_PROJECTOR, "projector" },
    { "adapter",   IW_OLLAMA_LAYER_ADAPTER,   "adapter" },
    { "params",    IW_OLLAMA_LAYER_PARAMS,    "params" },
    { "template",  IW_OLLAMA_LAYER_TEMPLATE,  "template" },
    { "system",    IW_OLLAMA_LAYER_SYSTEM,    "system" },
    { "license",   IW_OLLAMA_LAYER_LICENSE,   "license" },
    { "messages",  IW_OLLAMA_LAYER_MESSAGES,  "messages" },
    { "embed",     IW_OLLAMA_LAYER_OTHER,     "other" },
    { "prompt",    IW_OLLAMA_LAYER_OTHER,     "other" },
};

iw_ollama_layer_kind iw_ollama_layer_kind_of(const char *mt)
{
    static const char pre[] = "application/vnd.ollama.image.";
    if (!mt || strncmp(mt, pre, sizeof pre - 1) != 0)
        return IW_OLLAMA_LAYER_UNKNOWN;
    mt += sizeof pre - 1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(mt, kinds[i].suffix) == 0)
            return kinds[i].kind;
    return IW_OLLAMA_LAYER_UNKNOWN;
}

const char *iw_ollama_layer_kind_name(iw_ollama_layer_kind k)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == k)
            return kinds[i].name;
    return "unknown";
}

/* ---- manifest ----------------------------------------------------------- */

void iw_ollama_manifest_free(iw_ollama_manifest *m)
{
    if (!m)
        return;
    free(m->root);
    free(m->manifest_path);
    for (size_t i = 0; i < m->n_layers; i++) {
        free(m->layers[i].media_type);
        free(m->layers[i].path);
    }
    free(m->layers);
    iw_strlist_free(&m->warnings);
    memset(m, 0, sizeof *m);
}

const iw_ollama_layer *iw_ollama_manifest_find(const iw_ollama_manifest *m, iw_ollama_layer_kind k)
{
    for (size_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == k)
            return &m->layers[i];
    return NULL;
}

/* "sha256:<64 lowercase hex>" -> hex; anything else is refused. */
static int parse_digest(const char *d, const char *where, char hex[65])
{
    if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        goto bad;
    for (size_t i = 0; i < 64; i++) {
        char c = d[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            goto bad;
    }
    memcpy(hex, d + 7, 64);
    hex[64] = 0;
    return 0;
bad:
    return iw_error_set(IW_EFORMAT, "%s: digest '%.80s%s' is not sha256:<64 lowercase hex>",
                        where, d ? d : "(missing)", d && strlen(d) > 80 ? "..." : "");
}

/* realpath(path) must lie inside realpath(base) ("base/..."); *out = the real path.
 * IW_ENOTFOUND when path does not exist. */
static int contained_realpath(const char *path, const char *base_real, const char *what, char **out)
{
    *out = NULL;
    char *rp = realpath(path, NULL);
    if (!rp) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return iw_error_set(IW_ENOTFOUND, "%s not found: %s", what, path);
        return iw_error_set_os(iw_error_from_errno(e), e, "%s: cannot resolve %s", what, path);
    }
    size_t bl = strlen(base_real);
    if (strncmp(rp, base_real, bl) != 0 || rp[bl] != '/') {
        iw_error_set(IW_EUNSAFE, "%s %s resolves to %s, outside the Ollama store %s; refused",
                     what, path, rp, base_real);
        free(rp);
        return IW_EUNSAFE;
    }
    *out = rp;
    return 0;
}

/* a/b[/c] (iw_path_join: b and c are checked relative), NULL on failure. */
static char *join3(const char *a, const char *b, const char *c)
{
    char *ab = NULL, *abc = NULL;
    if (iw_path_join(&ab, a, b) < 0 || !c)
        return ab;
    iw_path_join(&abc, ab, c);
    free(ab);
    return abc;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int find_manifest(iw_ollama_manifest *m, const char *man_real)
{
    const iw_ollama_ref *r = &m->ref;
    char rel[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];
    snprintf(rel, sizeof rel, "%s/%s/%s/%s", r->registry, r->ns, r->name, r->tag);
    int rc = IW_ENOTFOUND;
    for (int attempt = 0; attempt < 2 && rc == IW_ENOTFOUND; attempt++) {
        if (attempt == 1) {
            /* Ollama names are case-insensitive; newer versions store them lowercased */
            char low[sizeof rel];
            memcpy(low, rel, sizeof rel);
            lower(low);
            if (strcmp(low, rel) == 0)
                break;
            memcpy(rel, low, sizeof rel);
        }
        char *path = join3(m->root, "manifests", rel);
        if (!path)
            return iw_error_set(IW_ENOMEM, "out of memory");
        rc = contained_realpath(path, man_real, "Ollama manifest", &m->manifest_path);
        free(path);
    }
    if (rc == IW_ENOTFOUND) {
        char fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];
        iw_ollama_ref_format(r, fmt, sizeof fmt);
        iw_error_set(IW_ENOTFOUND, "Ollama model %s is not in the store %s: no manifest manifests/%s/%s/%s/%s (run 'ollama pull %s' or set OLLAMA_MODELS)",
                     fmt, m->root, r->registry, r->ns, r->name, r->tag, fmt);
    } else if (rc == 0 && !iw_path_is_file(m->manifest_path)) {
        rc = iw_error_set(IW_EFORMAT, "Ollama manifest %s is not a regular file", m->manifest_path);
    }
    return rc;
}

static int parse_layer(iw_ollama_manifest *m, const cJSON *item, size_t idx, const char *blobs_real,
                       iw_ollama_layer *L)
{
    char where[64 + PATH_MAX];
    snprintf(where, sizeof where, "%s: layers[%zu]", m->manifest_path, idx);
    if (!cJSON_IsObject(item))
        return iw_error_set(IW_EFORMAT, "%s is not an object", where);
    const char *mt = iw_json_get_str(item, "mediaType");
    if (!mt)
        return iw_error_set(IW_EFORMAT, "%s has no mediaType string", where);
    if (strlen(mt) > 255 || memchr(mt, '\n', strlen(mt)))
        return iw_error_set(IW_EFORMAT, "%s: mediaType is not a media type", where);
    int rc = parse_digest(iw_json_get_str(item, "digest"), where, L->hex);
    if (rc < 0)
        return rc;
    if (!(L->media_type = strdup(mt)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    L->kind = iw_ollama_layer_kind_of(mt);
    if (!iw_json_get_i64(item, "size", &L->size) || L->size < 0)
        L->size = IW_UNKNOWN;
    if (L->kind == IW_OLLAMA_LAYER_UNKNOWN)
        iw_strlist_pushf(&m->warnings, "%s: unknown media type '%s' (layer sha256-%.12s ignored)",
                         where, mt, L->hex);

    char name[80];
    snprintf(name, sizeof name, "sha256-%s", L->hex);
    char *p = join3(m->root, "blobs", name);
    if (!p)
        return iw_error_set(IW_ENOMEM, "out of memory");
    char what[96];
    snprintf(what, sizeof what, "Ollama %s blob", iw_ollama_layer_kind_name(L->kind));
    rc = contained_realpath(p, blobs_real, what, &L->path);
    if (rc == 0 && !iw_path_is_file(L->path))
        rc = iw_error_set(IW_EFORMAT, "%s %s is not a regular file", what, p);
    if (rc == IW_ENOTFOUND && L->kind != IW_OLLAMA_LAYER_MODEL && L->kind != IW_OLLAMA_LAYER_PROJECTOR) {
        /* optional layers: note and go on */
        iw_strlist_pushf(&m->warnings, "%s", iw_error_last());
        iw_error_clear();
        rc = 0;
    } else if (rc == IW_ENOTFOUND) {
        iw_error_prefix("manifest %s names a missing blob", m->manifest_path);
    }
    free(p);
    if (rc < 0) {
        free(L->path);
        L->path = NULL;
    }
    return rc;
}

int iw_ollama_resolve(const iw_ollama_ref *ref, const char *root, iw_ollama_manifest *m)
{
    memset(m, 0, sizeof *m);
    int rc = 0;
    char *man_real = NULL, *blobs_real = NULL, *dir = NULL;
    iw_buf text = IW_BUF_INIT(IW_OLLAMA_MAX_MANIFEST);
    cJSON *doc = NULL;
    m->ref = *ref;

    if (root) {
        if (!iw_path_is_dir(root)) {
            rc = iw_error_set(IW_ENOTFOUND, "Ollama model store %s is not a directory", root);
            goto cleanup;
        }
        if (!(m->root = strdup(root))) {
            rc = iw_error_set(IW_ENOMEM, "out of memory");
            goto cleanup;
        }
    } else if ((rc = iw_ollama_store_root(&m->root)) < 0) {
        goto cleanup;
    }

    if (!(dir = join3(m->root, "manifests", NULL))) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!(man_real = realpath(dir, NULL))) {
        rc = iw_error_set(IW_ENOTFOUND, "%s has no manifests/ directory: not an Ollama model store (set OLLAMA_MODELS)",
                          m->root);
        goto cleanup;
    }
    if ((rc = find_manifest(m, man_real)) < 0)
        goto cleanup;

    if ((rc = iw_read_file(m->manifest_path, IW_OLLAMA_MAX_MANIFEST, &text)) < 0) {
        if (rc == IW_ELIMIT)
            rc = iw_error_set(IW_ELIMIT, "Ollama manifest %s is larger than %u bytes; refused",
                              m->manifest_path, IW_OLLAMA_MAX_MANIFEST);
        goto cleanup;
    }
    if ((rc = iw_json_parse(text.data, text.len, m->manifest_path, &doc, NULL)) < 0)
        goto cleanup;
    if (!cJSON_IsObject(doc)) {
        rc = iw_error_set(IW_EFORMAT, "Ollama manifest %s is not a JSON object", m->manifest_path);
        goto cleanup;
    }
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(doc, "config");
    if (cJSON_IsObject(config)) {
        char where[64 + PATH_MAX];
        snprintf(where, sizeof where, "%s: config", m->manifest_path);
        if ((rc = parse_digest(iw_json_get_str(config, "digest"), where, m->config_hex)) < 0)
            goto cleanup;
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(doc, "layers");
    if (!cJSON_IsArray(layers)) {
        rc = iw_error_set(IW_EFORMAT, "Ollama manifest %s has no \"layers\" array", m->manifest_path);
        goto cleanup;
    }
    int nl = cJSON_GetArraySize(layers);
    if (nl < 0 || (size_t)nl > IW_OLLAMA_MAX_LAYERS) {
        rc = iw_error_set(IW_ELIMIT, "Ollama manifest %s has %d layers (cap %d)", m->manifest_path, nl,
                          IW_OLLAMA_MAX_LAYERS);
        goto cleanup;
    }
    if (nl > 0 && !(m->layers = calloc((size_t)nl, sizeof *m->layers))) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    free(dir);
    if (!(dir = join3(m->root, "blobs", NULL))) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!(blobs_real = realpath(dir, NULL))) {
        rc = iw_error_set(IW_ENOTFOUND, "Ollama store %s has no blobs/ directory", m->root);
        goto cleanup;
    }
    const cJSON *it;
    size_t idx = 0;
    cJSON_ArrayForEach(it, layers) {
        m->n_layers = idx + 1;
        if ((rc = parse_layer(m, it, idx, blobs_real, &m->layers[idx])) < 0)
            goto cleanup;
        idx++;
    }
    if (!iw_ollama_manifest_find(m, IW_OLLAMA_LAYER_MODEL)) {
        rc = iw_error_set(IW_EFORMAT, "Ollama manifest %s has no application/vnd.ollama.image.model layer",
                          m->manifest_path);
        goto cleanup;
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        struct stat st;
        if (m->layers[i].size >= 0)
            m->size += m->layers[i].size;
        else if (m->layers[i].path && stat(m->layers[i].path, &st) == 0)
            m->size += st.st_size;
    }
    struct stat ms;
    if (stat(m->manifest_path, &ms) == 0) {
        m->pulled_sec = ms.st_mtim.tv_sec;
        m->pulled_usec = ms.st_mtim.tv_nsec / 1000;
    }

cleanup:
    cJSON_Delete(doc);
    iw_buf_free(&text);
    free(man_real);
    free(blobs_real);
    free(dir);
    if (rc < 0)
        iw_ollama_manifest_free(m);
    return rc;
}

int iw_ollama_verify_blob(const char *path, const char *hex)
{
    char got[65];
    if (!path || !hex || strlen(hex) != 64)
        return iw_error_set(IW_EINVAL, "verify Ollama blob: need a path and 64 hex digits");
    int rc = iw_hash_file_hex(path, IW_HASH_SHA256, got, sizeof got);
    if (rc < 0)
        return rc;
    if (strcmp(got, hex) != 0)
        return iw_error_set(IW_EVERIFY, "Ollama blob %s is corrupt: sha256 %s, expected %s from its name",
                            path, got, hex);
    return 0;
}

typedef struct verdicts {
    iw_ollama_check_fn fn;
    void *ctx;
    int   first;            /* the first problem's code and message */
    char  msg[1024];
} verdicts;

/* One blob's verdict to the caller. */
static void note(verdicts *v, int rc)
{
    iw_ollama_check st = rc == 0 ? IW_OLLAMA_BLOB_OK
                       : rc == IW_EVERIFY ? IW_OLLAMA_BLOB_CHANGED
                       : rc == IW_EUNSAFE ? IW_OLLAMA_BLOB_UNSAFE : IW_OLLAMA_BLOB_MISSING;
    if (v->fn)
        v->fn(st, rc == 0 ? NULL : iw_error_last(), v->ctx);
    if (rc < 0 && v->first == 0) {
        v->first = rc;
        snprintf(v->msg, sizeof v->msg, "%s", iw_error_last());
    }
    iw_error_clear();
}

int iw_ollama_verify_model_each(const char *refstr, const char *root, iw_ollama_check_fn fn, void *ctx)
{
    iw_ollama_ref ref;
    iw_ollama_manifest m;
    char fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];
    verdicts v = { fn, ctx, 0, "" };
    int rc = iw_ollama_parse_ref(refstr, &ref);
    if (rc < 0 || (rc = iw_ollama_resolve(&ref, root, &m)) < 0)
        return rc;
    iw_ollama_ref_format(&ref, fmt, sizeof fmt);
    for (size_t i = 0; i < m.n_layers; i++) {
        const iw_ollama_layer *L = &m.layers[i];
        if (!L->path)
            rc = iw_error_set(IW_ENOTFOUND, "%s/blobs/sha256-%s (%s layer of %s)", m.root, L->hex,
                              iw_ollama_layer_kind_name(L->kind), fmt);
        else
            rc = iw_ollama_verify_blob(L->path, L->hex);
        note(&v, rc);
    }
    if (m.config_hex[0]) {
        /* the config blob (model format, family, file type) is named by the manifest too */
        char name[80], *dir = join3(m.root, "blobs", NULL), *blobs_real = dir ? realpath(dir, NULL) : NULL;
        char *p = NULL, *real = NULL;
        snprintf(name, sizeof name, "sha256-%s", m.config_hex);
        if (!blobs_real || !(p = join3(m.root, "blobs", name)))
            rc = iw_error_set(IW_ENOMEM, "out of memory");
        else if ((rc = contained_realpath(p, blobs_real, "Ollama config blob", &real)) == 0)
            rc = iw_ollama_verify_blob(real, m.config_hex);
        note(&v, rc);
        free(real);
        free(p);
        free(blobs_real);
        free(dir);
    }
    iw_ollama_manifest_free(&m);
    if (v.first)
        iw_error_set(v.first, "%s", v.msg);
    return v.first;
}

int iw_ollama_verify_model(const char *ref, const char *root)
{
    return iw_ollama_verify_model_each(ref, root, NULL, NULL);
}

/* ---- listing a store ---------------------------------------------------- */

bool iw_ollama_is_store(const char *dir)
{
    if (!dir)
        return false;
    char *a = join3(dir, "manifests", NULL), *b = join3(dir, "blobs", NULL);
    bool ok = a && b && iw_path_is_dir(a) && iw_path_is_dir(b);
    free(a);
    free(b);
    return ok;
}

typedef struct lister {
    iw_strlist *out;
    size_t skipped;
    char *parts[4];
} lister;

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Walk one level: depth 0..2 are directories (registry, namespace, name),
 * depth 3 files (tag). */
static int list_level(lister *L, const char *dir, int depth)
{
    static const char *what[] = { "registry", "namespace", "name", "tag" };
    DIR *d = opendir(dir);
    if (!d) {
        L->skipped++;
        return 0;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        if (e->d_name[0] == '.')
            continue;
        char comp[IW_OLLAMA_MAX_REGISTRY + 1];
        int vr = iw_ollama_ref_part(e->d_name, what[depth], e->d_name, strlen(e->d_name), depth == 0, comp);
        iw_error_clear();
        char *path = join3(dir, e->d_name, NULL);
        if (!path) {
            rc = iw_error_set(IW_ENOMEM, "out of memory");
            break;
        }
        if (vr < 0) {
            L->skipped++;
        } else if (depth < 3) {
            if (iw_path_is_dir(path)) {
                L->parts[depth] = comp;
                rc = list_level(L, path, depth + 1);
            } else {
                L->skipped++;
            }
        } else if (!iw_path_is_file(path)) {
            L->skipped++;
        } else if (L->out->n >= IW_OLLAMA_MAX_MODELS) {
            rc = iw_error_set(IW_ELIMIT, "Ollama store lists more than %d models", IW_OLLAMA_MAX_MODELS);
        } else {
            iw_ollama_ref r;
            memset(&r, 0, sizeof r);
            snprintf(r.registry, sizeof r.registry, "%s", L->parts[0]);
            snprintf(r.ns, sizeof r.ns, "%s", L->parts[1]);
            snprintf(r.name, sizeof r.name, "%s", L->parts[2]);
            snprintf(r.tag, sizeof r.tag, "%s", comp);
            char fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];
            if ((rc = iw_ollama_ref_format(&r, fmt, sizeof fmt)) == 0)
                rc = iw_strlist_push(L->out, fmt);
        }
        free(path);
    }
    closedir(d);
    return rc;
}

int iw_ollama_store_list(const char *root, iw_strlist *out, size_t *skipped)
{
    char *own = NULL, *man = NULL;
    int rc = 0;
    if (skipped)
        *skipped = 0;
    if (!out)
        return iw_error_set(IW_EINVAL, "iw_ollama_store_list: invalid argument");
    if (!root) {
        if ((rc = iw_ollama_store_root(&own)) < 0)
            return rc;
        root = own;
    }
    if (!(man = join3(root, "manifests", NULL))) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!iw_path_is_dir(man)) {
        rc = iw_error_set(IW_ENOTFOUND, "%s has no manifests/ directory: not an Ollama model store", root);
        goto cleanup;
    }
    lister L;
    memset(&L, 0, sizeof L);
    L.out = out;
    size_t before = out->n;
    rc = list_level(&L, man, 0);
    if (rc == 0 && out->n > before)
        qsort(out->v + before, out->n - before, sizeof *out->v, cmp_str);
    if (skipped)
        *skipped = L.skipped;
cleanup:
    free(man);
    free(own);
    return rc;
}
