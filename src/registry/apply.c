/* apply.c - an estimate's launch written into a registry entry
 * (iw_registry_apply_launch, registry.h). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

typedef enum launch_engine { ENG_VLLM, ENG_LLAMACPP, ENG_OLLAMA } launch_engine;

typedef struct apply_ctx {
    launch_engine engine;
    const iw_strlist *args;
    int64_t context;
} apply_ctx;

static bool has_flag(const iw_strlist *l, const char *flag)
{
    size_t n = strlen(flag);
    for (size_t i = 0; l && i < l->n; i++)
        if (!strcmp(l->v[i], flag) || (!strncmp(l->v[i], flag, n) && l->v[i][n] == '='))
            return true;
    return false;
}

/* Flags to drop (with their value) before appending the new ones: those the
 * estimate always decides, and any other flag only when it is set again
 * (a user's --quantization or --dtype stays unless we choose one). */
static bool is_our_flag(launch_engine e, const char *s, const iw_strlist *new_args, bool *takes_value)
{
    static const char *vllm[] = {"--max-model-len", "--max-num-seqs", "--gpu-memory-utilization",
                                 "--kv-cache-dtype", "--tensor-parallel-size", "-tp", NULL};
    static const char *vllm_if_set[][2] = {{"--dtype", "--dtype"}, {"--quantization", "--quantization"},
                                           {"-q", "--quantization"}};
    for (size_t i = 0; e == ENG_VLLM && i < sizeof vllm_if_set / sizeof vllm_if_set[0]; i++) {
        size_t n = strlen(vllm_if_set[i][0]);
        if ((!strcmp(s, vllm_if_set[i][0]) || (!strncmp(s, vllm_if_set[i][0], n) && s[n] == '=')) &&
            has_flag(new_args, vllm_if_set[i][1])) {
            *takes_value = s[n] != '=';
            return true;
        }
    }
    static const char *llama[] = {"-c", "--ctx-size", "-ngl", "--n-gpu-layers", "--gpu-layers", "-np",
                                  "--parallel", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v",
                                  "-fa", "--flash-attn", NULL};
    static const char *oll[] = {"--num-ctx", NULL};
    const char **t = e == ENG_VLLM ? vllm : e == ENG_LLAMACPP ? llama : oll;
    for (; *t; t++) {
        size_t n = strlen(*t);
        if (!strcmp(s, *t)) {
            *takes_value = true;
            return true;
        }
        if (!strncmp(s, *t, n) && s[n] == '=') {
            *takes_value = false;
            return true;
        }
    }
    if (e == ENG_VLLM && !strcmp(s, "--enforce-eager")) {
        *takes_value = false;
        return true;
    }
    return false;
}

/* The applied values go to the discovered entry and, where the curated
 * entry holds them (backend_config.extra_args, generation_defaults.
 * context_window), to the curated entry, whose values the merged view
 * shows; a curated entry gets no key it did not have. */
static int apply_fn(cJSON *entry, bool is_new, bool curated, void *vctx)
{
    apply_ctx *c = vctx;
    (void)is_new;   /* a curated-only entry gets its discovered counterpart */
    if (curated) {
        const cJSON *cbc = cJSON_GetObjectItemCaseSensitive(entry, "backend_config");
        const cJSON *cgd = cJSON_GetObjectItemCaseSensitive(entry, "generation_defaults");
        bool has_args = cJSON_IsObject(cbc) && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(cbc, "extra_args"));
        bool has_cw = c->engine == ENG_OLLAMA && cJSON_IsObject(cgd) &&
                      cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cgd, "context_window"));
        if (!has_args && !has_cw)
            return 0;
        if (!has_args) {
            cJSON *cw = cJSON_CreateNumber((double)c->context);
            return cw && cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)cgd, "context_window", cw) ? 1 : IW_ENOMEM;
        }
    }
    cJSON *bc = cJSON_GetObjectItemCaseSensitive(entry, "backend_config");
    if (!bc) {
        if (!(bc = cJSON_AddObjectToObject(entry, "backend_config")))
            return IW_ENOMEM;
    } else if (!cJSON_IsObject(bc)) {
        return iw_error_set(IW_EFORMAT, "backend_config of the entry is not an object; not changed");
    }
    cJSON *old = cJSON_GetObjectItemCaseSensitive(bc, "extra_args");
    if (old && !cJSON_IsArray(old))
        return iw_error_set(IW_EFORMAT, "backend_config.extra_args is not an array; not changed");
    cJSON *na = cJSON_CreateArray();
    if (!na)
        return IW_ENOMEM;
    const cJSON *it;
    int n = old ? cJSON_GetArraySize(old) : 0;
    for (int i = 0; i < n; i++) {
        it = cJSON_GetArrayItem(old, i);
        bool tv = false;
        if (cJSON_IsString(it) && is_our_flag(c->engine, it->valuestring, c->args, &tv)) {
            if (tv && i + 1 < n) {
                const cJSON *nx = cJSON_GetArrayItem(old, i + 1);
                if (cJSON_IsString(nx) && nx->valuestring[0] != '-')
                    i++;
                else if (cJSON_IsString(nx) && c->engine != ENG_VLLM && nx->valuestring[0] == '-' &&
                         nx->valuestring[1] >= '0' && nx->valuestring[1] <= '9')
                    i++;    /* "-ngl -1" */
            }
            continue;
        }
        cJSON_AddItemToArray(na, cJSON_Duplicate(it, 1));
    }
    for (size_t i = 0; i < c->args->n; i++) {
        const char *a = c->args->v[i];
        bool dup = false;   /* a boolean flag already kept (--trust-remote-code) */
        if (!strcmp(a, "--trust-remote-code"))
            for (const cJSON *k = na->child; k; k = k->next)
                if (cJSON_IsString(k) && !strcmp(k->valuestring, a))
                    dup = true;
        if (!dup)
            cJSON_AddItemToArray(na, cJSON_CreateString(a));
    }
    if (old)
        cJSON_ReplaceItemInObjectCaseSensitive(bc, "extra_args", na);
    else
        cJSON_AddItemToObject(bc, "extra_args", na);
    if (c->engine == ENG_OLLAMA &&
        !(curated && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
                         cJSON_GetObjectItemCaseSensitive(entry, "generation_defaults"), "context_window")))) {
        cJSON *gd = cJSON_GetObjectItemCaseSensitive(entry, "generation_defaults");
        if (!gd || cJSON_IsNull(gd)) {
            if (gd)
                cJSON_DeleteItemFromObjectCaseSensitive(entry, "generation_defaults");
            if (!(gd = cJSON_AddObjectToObject(entry, "generation_defaults")))
                return IW_ENOMEM;
        }
        if (!cJSON_IsObject(gd))
            return iw_error_set(IW_EFORMAT, "generation_defaults of the entry is not an object; not changed");
        cJSON *cw = cJSON_CreateNumber((double)c->context);
        if (cJSON_GetObjectItemCaseSensitive(gd, "context_window"))
            cJSON_ReplaceItemInObjectCaseSensitive(gd, "context_window", cw);
        else
            cJSON_AddItemToObject(gd, "context_window", cw);
    }
    return 1;
}

int iw_registry_apply_launch(iw_registry *r, const char *name, const char *backend, const iw_strlist *args,
                             int64_t context, bool *curated_changed)
{
    apply_ctx c = { ENG_VLLM, args, context };
    if (!backend || !args)
        return iw_error_set(IW_EINVAL, "registry: a launch to apply needs a backend and its arguments");
    if (!strcmp(backend, "vllm"))
        c.engine = ENG_VLLM;
    else if (!strcmp(backend, "llama.cpp"))
        c.engine = ENG_LLAMACPP;
    else if (!strcmp(backend, "ollama"))
        c.engine = ENG_OLLAMA;
    else
        return iw_error_set(IW_EINVAL, "registry: no launch flags known for backend '%s'", backend);
    return iw_registry_upsert_both(r, name, apply_fn, &c, curated_changed);
}
