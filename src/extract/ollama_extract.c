/* ollama_extract.c - architecture of a model in Ollama's local store.
 *
 * ref -> manifest (ollama.c) -> model GGUF blob(s) + projector GGUF blob(s)
 * through the GGUF reader (iw_gguf_to_arch), plus the params blob's num_ctx.
 * No network. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/fs.h"
#include "iwdl/gguf.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "ollama_internal.h"

/* The GGUF reader treats a file as a projector when general.architecture is
 * "clip" or it has clip.vision.* keys; anything else would be taken for a
 * second model shard. */
static bool looks_like_projector(const iw_gguf *g)
{
    const char *arch;
    if (iw_gguf_get_str(g, "general.architecture", &arch, NULL) == 0 && strcmp(arch, "clip") == 0)
        return true;
    for (size_t i = 0; i < iw_gguf_kv_count(g); i++)
        if (strncmp(iw_gguf_kv_key(g, i), "clip.vision.", 12) == 0)
            return true;
    return false;
}

int iw_ollama_finish_kv(iw_arch *a)
{
    int rc;
    if (!a->kv_precision &&
        ((rc = iw_arch_set_str(&a->kv_precision, "fp16")) < 0 ||
         (rc = iw_arch_set_source(a, "kv_precision", "default:Ollama f16 KV cache (OLLAMA_KV_CACHE_TYPE)")) < 0))
        return rc;
    if (a->kv_bytes_per_token <= 0 && iw_kv_per_token(a) < 0) {
        /* too little is known (no heads, no layers): a warning, never fatal */
        rc = iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* num_ctx (and a note of what else is set) from the params blob; malformed
 * params are a warning, never fatal: the architecture does not depend on them. */
static int read_params(const iw_ollama_layer *L, iw_arch *a)
{
    iw_buf text = IW_BUF_INIT(IW_OLLAMA_MAX_PARAMS);
    cJSON *doc = NULL;
    int rc = iw_read_file(L->path, IW_OLLAMA_MAX_PARAMS, &text);
    if (rc == 0)
        rc = iw_json_parse(text.data, text.len, L->path, &doc, NULL);
    if (rc == 0 && !cJSON_IsObject(doc))
        rc = iw_error_set(IW_EFORMAT, "%s: params blob is not a JSON object", L->path);
    if (rc < 0) {
        rc = iw_arch_warn(a, "ollama: params ignored: %s", iw_error_last());
        iw_error_clear();
        goto cleanup;
    }
    if ((rc = iw_strlist_pushf(&a->sources, "ollama-params:%s", L->path)) < 0)
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
            rc = iw_arch_warn(a, "ollama: params %s: num_ctx is not a positive integer; ignored", L->path);
            goto cleanup;
        }
        a->ollama_num_ctx = v;
        char src[64 + 4096];
        snprintf(src, sizeof src, "ollama-params:%s", L->path);
        if ((rc = iw_arch_set_source(a, "ollama.num_ctx", src)) < 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    cJSON_Delete(doc);
    iw_buf_free(&text);
    return rc;
}

int iw_ollama_extract(const char *refstr, const char *root, iw_arch *a)
{
    iw_ollama_ref ref;
    iw_ollama_manifest m;
    iw_gguf **gs = NULL;
    size_t ng = 0;
    int rc;
    char fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];

    if (!refstr || !a)
        return iw_error_set(IW_EINVAL, "iw_ollama_extract: invalid argument");
    if ((rc = iw_ollama_parse_ref(refstr, &ref)) < 0)
        return rc;
    if ((rc = iw_ollama_resolve(&ref, root, &m)) < 0)
        return rc;
    iw_ollama_ref_format(&ref, fmt, sizeof fmt);

    if ((rc = iw_strlist_pushf(&a->sources, "ollama:%s", fmt)) < 0)
        goto cleanup;
    for (size_t i = 0; i < m.warnings.n; i++)
        if ((rc = iw_arch_warn(a, "ollama: %s", m.warnings.v[i])) < 0)
            goto cleanup;

    if (!(gs = calloc(m.n_layers, sizeof *gs))) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    const iw_ollama_layer *params = NULL;
    for (size_t i = 0; i < m.n_layers; i++) {
        const iw_ollama_layer *L = &m.layers[i];
        if (L->kind == IW_OLLAMA_LAYER_PARAMS && !params && L->path)
            params = L;
        if (L->kind == IW_OLLAMA_LAYER_ADAPTER &&
            (rc = iw_arch_warn(a, "ollama: %s carries a LoRA adapter (sha256-%.12s); the architecture is the base model's",
                               fmt, L->hex)) < 0)
            goto cleanup;
        if (L->kind != IW_OLLAMA_LAYER_MODEL && L->kind != IW_OLLAMA_LAYER_PROJECTOR)
            continue;
        /* resolve() guarantees model and projector blobs exist inside the store */
        if ((rc = iw_gguf_parse_file(&gs[ng], L->path, NULL)) < 0) {
            iw_error_prefix("Ollama %s %s %s layer", fmt, iw_ollama_layer_kind_name(L->kind),
                            L->kind == IW_OLLAMA_LAYER_MODEL ? "(GGUF weights)" : "(vision projector)");
            goto cleanup;
        }
        if (L->kind == IW_OLLAMA_LAYER_PROJECTOR && !looks_like_projector(gs[ng])) {
            iw_gguf_free(gs[ng]);
            gs[ng] = NULL;
            if ((rc = iw_arch_warn(a, "ollama: projector sha256-%.12s has neither general.architecture=clip"
                                   " nor clip.vision.* keys; vision details unknown", L->hex)) < 0)
                goto cleanup;
            continue;
        }
        ng++;
        for (size_t w = 0; w < iw_gguf_warning_count(gs[ng - 1]); w++)
            if ((rc = iw_arch_warn(a, "gguf: sha256-%.12s: %s", L->hex, iw_gguf_warning(gs[ng - 1], w))) < 0)
                goto cleanup;
        if ((rc = iw_strlist_pushf(&a->sources, "gguf:%s", L->path)) < 0)
            goto cleanup;
    }
    if ((rc = iw_gguf_to_arch((const iw_gguf *const *)gs, ng, a)) < 0)
        goto cleanup;
    if (iw_ollama_manifest_find(&m, IW_OLLAMA_LAYER_PROJECTOR) && !a->has_vision) {
        /* the projector layer itself says the model takes images */
        a->has_vision = true;
        if ((rc = iw_arch_set_source(a, "has_vision", "ollama:projector")) < 0)
            goto cleanup;
    }
    if (params && (rc = read_params(params, a)) < 0)
        goto cleanup;
    if (a->ollama_num_ctx > 0 && a->context_length > 0 && a->ollama_num_ctx > a->context_length &&
        (rc = iw_arch_warn(a, "ollama: num_ctx %" PRId64 " exceeds the model's trained context %" PRId64,
                           a->ollama_num_ctx, a->context_length)) < 0)
        goto cleanup;
    if ((rc = iw_ollama_finish_kv(a)) < 0)
        goto cleanup;
    if ((rc = iw_arch_set_str(&a->source, "ollama-store")) < 0)
        goto cleanup;
    iw_arch_stamp_now(a);
    rc = 0;

cleanup:
    for (size_t i = 0; i < ng; i++)
        iw_gguf_free(gs[i]);
    free(gs);
    iw_ollama_manifest_free(&m);
    return rc;
}
