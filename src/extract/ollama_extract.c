/* ollama_extract.c - a model of Ollama's local store as a file provider.
 *
 * ref -> manifest (ollama.c) -> the layers' blobs, each named by what the
 * manifest says it is (GGUF weights, vision projector, LoRA adapter, params
 * blob), so iw_inspect reads them with the same GGUF step as a folder's
 * files (iw_ollama_extract, in inspect.c, is that); the params blob gives
 * num_ctx.  No network. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/inspect.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "inspect_internal.h"

typedef struct store_provider {
    iw_provider base;
    char *ref, *root;               /* as given (root may be NULL) */
    char  fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];
    iw_ollama_manifest m;
    bool  resolved;
} store_provider;

static iw_file_role role_of(iw_ollama_layer_kind k)
{
    switch (k) {
    case IW_OLLAMA_LAYER_MODEL: return IW_FILE_GGUF_MODEL;
    case IW_OLLAMA_LAYER_PROJECTOR: return IW_FILE_GGUF_PROJECTOR;
    case IW_OLLAMA_LAYER_ADAPTER: return IW_FILE_GGUF_ADAPTER;
    case IW_OLLAMA_LAYER_PARAMS: return IW_FILE_OLLAMA_PARAMS;
    default: return IW_FILE_OTHER;
    }
}

/* The layer whose blob is named path ("sha256-<hex>") and present. */
static const iw_ollama_layer *layer(const store_provider *S, const char *path)
{
    if (!S->resolved || strncmp(path, "sha256-", 7) != 0)
        return NULL;
    for (size_t i = 0; i < S->m.n_layers; i++)
        if (S->m.layers[i].path && strcmp(S->m.layers[i].hex, path + 7) == 0)
            return &S->m.layers[i];
    return NULL;
}

static int store_list(iw_provider *p, iw_file_list *out)
{
    store_provider *S = (store_provider *)p;
    iw_ollama_ref ref;
    int rc;
    if (S->resolved) {
        iw_ollama_manifest_free(&S->m);
        S->resolved = false;
    }
    if ((rc = iw_ollama_parse_ref(S->ref, &ref)) < 0 || (rc = iw_ollama_resolve(&ref, S->root, &S->m)) < 0)
        return rc;
    S->resolved = true;
    if ((rc = iw_strlist_pushf(&out->sources, "ollama:%s", S->fmt)) < 0)
        return rc;
    for (size_t i = 0; i < S->m.warnings.n; i++)
        if ((rc = iw_strlist_pushf(&out->warnings, "ollama: %s", S->m.warnings.v[i])) < 0)
            return rc;
    for (size_t i = 0; i < S->m.n_layers; i++) {
        const iw_ollama_layer *L = &S->m.layers[i];
        char path[8 + 64], label[8 + 12];
        snprintf(path, sizeof path, "sha256-%s", L->hex);
        snprintf(label, sizeof label, "sha256-%.12s", L->hex);
        /* resolve() guarantees model and projector blobs; others may be missing */
        iw_file_role role = L->path || L->kind == IW_OLLAMA_LAYER_ADAPTER ? role_of(L->kind) : IW_FILE_OTHER;
        if ((rc = iw_file_list_add(out, path, label, L->size >= 0 ? (uint64_t)L->size : IW_SIZE_UNKNOWN, role)) < 0)
            return rc;
    }
    return 0;
}

static int store_stat(iw_provider *p, const char *path, uint64_t *size)
{
    const iw_ollama_layer *L = layer((store_provider *)p, path);
    if (!L)
        return IW_ENOTFOUND;
    *size = L->size >= 0 ? (uint64_t)L->size : IW_SIZE_UNKNOWN;
    return 0;
}

static int store_cite(iw_provider *p, const char *path, char **out)
{
    const iw_ollama_layer *L = layer((store_provider *)p, path);
    *out = strdup(L ? L->path : path);
    return *out ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
}

static int store_open(iw_provider *p, const char *path, iw_source *out)
{
    const iw_ollama_layer *L = layer((store_provider *)p, path);
    if (!L)
        return iw_error_set(IW_ENOTFOUND, "%s: no blob %s in the store", p->name, path);
    return iw_source_open_file(out, L->path);
}

static int store_read(iw_provider *p, const char *path, size_t max, iw_buf *out)
{
    const iw_ollama_layer *L = layer((store_provider *)p, path);
    if (!L)
        return iw_error_set(IW_ENOTFOUND, "%s: no blob %s in the store", p->name, path);
    return iw_read_file(L->path, max, out);
}

static void store_free(iw_provider *p)
{
    store_provider *S = (store_provider *)p;
    if (S->resolved)
        iw_ollama_manifest_free(&S->m);
    free(S->ref);
    free(S->root);
    free(S);
}

int iw_provider_ollama_store(iw_provider **out, const char *ref, const char *root)
{
    iw_ollama_ref r;
    *out = NULL;
    if (!ref)
        return iw_error_set(IW_EINVAL, "iw_ollama_extract: invalid argument");
    store_provider *S = calloc(1, sizeof *S);
    if (!S)
        return iw_error_set(IW_ENOMEM, "out of memory");
    S->ref = strdup(ref);
    S->root = root ? strdup(root) : NULL;
    if (!S->ref || (root && !S->root)) {
        store_free(&S->base);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    /* a bad reference fails now, with the reference named */
    int rc = iw_ollama_parse_ref(ref, &r);
    if (rc == 0)
        rc = iw_ollama_ref_format(&r, S->fmt, sizeof S->fmt);
    if (rc < 0) {
        store_free(&S->base);
        return rc;
    }
    S->base = (iw_provider){
        .version = IW_PROVIDER_VERSION,
        .name = S->fmt,
        .engine = "ollama",
        .source = "ollama-store",
        .transferred = IW_UNKNOWN,
        .list = store_list,
        .stat = store_stat,
        .open = store_open,
        .cite = store_cite,
        .read = store_read,
        .free = store_free,
    };
    *out = &S->base;
    return 0;
}

/* num_ctx (and every other option, verbatim) from the params blob; malformed
 * params are a warning, never fatal: the architecture does not depend on them. */
int iw__read_ollama_params(iw_provider *p, const char *path, iw_arch *a)
{
    iw_buf text = IW_BUF_INIT(IW_OLLAMA_MAX_PARAMS);
    cJSON *doc = NULL;
    char *c = iw_provider_cite(p, path);
    int rc = c ? iw_provider_read(p, path, IW_OLLAMA_MAX_PARAMS, &text) : IW_ENOMEM;
    if (rc == IW_ENOMEM)
        goto cleanup;
    if (rc == 0)
        rc = iw_json_parse(text.data, text.len, c, &doc, NULL);
    if (rc == 0 && !cJSON_IsObject(doc))
        rc = iw_error_set(IW_EFORMAT, "%s: params blob is not a JSON object", c);
    if (rc < 0) {
        rc = iw_arch_warn(a, "ollama: params ignored: %s", iw_error_last());
        iw_error_clear();
        goto cleanup;
    }
    if ((rc = iw_strlist_pushf(&a->sources, "ollama-params:%s", c)) < 0)
        goto cleanup;
    char *verbatim = cJSON_PrintUnformatted(doc);
    if (!verbatim) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    free(a->ollama_params_json);
    a->ollama_params_json = verbatim;
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(doc, "num_ctx");
    if (nc) {
        int64_t v;
        if (!iw_json_item_i64(nc, &v) || v <= 0) {
            rc = iw_arch_warn(a, "ollama: params %s: num_ctx is not a positive integer; ignored", c);
            goto cleanup;
        }
        a->ollama_num_ctx = v;
        char src[64 + 4096];
        snprintf(src, sizeof src, "ollama-params:%s", c);
        if ((rc = iw_arch_set_source(a, "ollama.num_ctx", src)) < 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    cJSON_Delete(doc);
    iw_buf_free(&text);
    free(c);
    return rc;
}
