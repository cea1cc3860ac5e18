/* emit.c - ready-to-run launch configurations from an estimate.
 *
 * vllm      `vllm serve MODEL ...` (shell command, arguments quoted)
 * llama.cpp `llama-server -m FILE.gguf ...` (-c is the total over -np slots)
 * ollama    a Modelfile: FROM + PARAMETER num_ctx (+ num_gpu when offloading
 *           part); server-wide settings (OLLAMA_NUM_PARALLEL, flash attention,
 *           KV cache type) are environment variables of `ollama serve`, so
 *           they are written as comments, not as parameters that do not exist
 * compose   a docker compose service running the vllm/vllm-openai image
 * Only flags that exist in the engine are written (docs/estimate.md, "Emit").
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"

#define EMIT_MAX (64u << 10)

int iw_emit_kind_parse(const char *s, iw_emit_kind *out)
{
    if (s && !strcasecmp(s, "vllm"))
        *out = IW_EMIT_VLLM;
    else if (s && (!strcasecmp(s, "llama.cpp") || !strcasecmp(s, "llamacpp") || !strcasecmp(s, "llama-server")))
        *out = IW_EMIT_LLAMACPP;
    else if (s && !strcasecmp(s, "ollama"))
        *out = IW_EMIT_OLLAMA;
    else if (s && !strcasecmp(s, "compose"))
        *out = IW_EMIT_COMPOSE;
    else
        return iw_error_set(IW_EINVAL, "--emit '%s': expected vllm, llama.cpp, ollama or compose", s ? s : "");
    return 0;
}

const char *iw_emit_kind_name(iw_emit_kind k)
{
    switch (k) {
    case IW_EMIT_VLLM:     return "vllm";
    case IW_EMIT_LLAMACPP: return "llama.cpp";
    case IW_EMIT_OLLAMA:   return "ollama";
    case IW_EMIT_COMPOSE:  return "compose";
    }
    return "?";
}

/* ------------------------------------------------------------ quoting */

static bool shell_plain(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_./:@%+=,-", *s))
            return false;
    return true;
}

static int put_shell(iw_buf *b, const char *s)
{
    if (shell_plain(s))
        return iw_buf_puts(b, s);
    int rc = iw_buf_putc(b, '\'');
    for (; !rc && *s; s++)
        rc = *s == '\'' ? iw_buf_puts(b, "'\\''") : iw_buf_putc(b, *s);
    return rc ? rc : iw_buf_putc(b, '\'');
}

/* YAML double-quoted scalar: escape backslash, quote and control bytes. */
static int put_yaml(iw_buf *b, const char *s)
{
    int rc = iw_buf_putc(b, '"');
    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = iw_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = iw_buf_printf(b, "\\x%02x", c);
        else
            rc = iw_buf_putc(b, (char)c);
    }
    return rc ? rc : iw_buf_putc(b, '"');
}

/* ------------------------------------------------------------ shared facts */

/* A what-if quantization that needs another checkpoint (its reason), or NULL. */
static const char *what_if(const iw_ov_result *ov)
{
    for (size_t i = 0; ov && i < ov->n; i++) {
        const iw_ov_report *r = &ov->r[i];
        if (r->status == IW_OV_APPLIED && !strncmp(r->reason, "what-if:", 8))
            return r->reason;
    }
    return NULL;
}

/* The vLLM arguments after the model, as a NULL-free list of strings. */
static int vllm_args(const iw_estimate *e, const iw_emit_input *in, iw_strlist *l)
{
    const iw_est_opts *o = &e->in;
    int rc = 0;
    if (in->served_name && *in->served_name)
        rc = iw_strlist_push(l, "--served-model-name") || iw_strlist_push(l, in->served_name);
    if (!rc) rc = iw_strlist_push(l, "--max-model-len") || iw_strlist_pushf(l, "%lld", (long long)in->context);
    if (!rc) rc = iw_strlist_push(l, "--max-num-seqs") || iw_strlist_pushf(l, "%lld", (long long)in->batch);
    if (!rc) rc = iw_strlist_push(l, "--gpu-memory-utilization") || iw_strlist_pushf(l, "%.2f", o->gpu_util);
    if (!rc && o->tp > 1)
        rc = iw_strlist_push(l, "--tensor-parallel-size") || iw_strlist_pushf(l, "%d", o->tp);
    if (!rc && o->kv_dtype == IW_KV_FP8)
        rc = iw_strlist_push(l, "--kv-cache-dtype") || iw_strlist_push(l, "fp8");
    else if (!rc && (o->kv_dtype == IW_KV_F16 || o->kv_dtype == IW_KV_BF16 || o->kv_dtype == IW_KV_F32))
        rc = iw_strlist_push(l, "--kv-cache-dtype") ||
             iw_strlist_push(l, o->kv_dtype == IW_KV_F16 ? "float16" : o->kv_dtype == IW_KV_BF16 ? "bfloat16" : "auto");
    if (!rc)
        rc = iw_ov_vllm_args(in->ov, l) < 0;
    if (!rc && o->enforce_eager)
        rc = iw_strlist_push(l, "--enforce-eager");
    if (!rc && in->ov && in->ov->trust_remote_code)
        rc = iw_strlist_push(l, "--trust-remote-code");
    return rc ? iw_error_set(IW_ENOMEM, "emit: out of memory") : 0;
}

static bool is_repo_id(const char *s)
{
    const char *sl = strchr(s, '/');
    return s[0] != '/' && s[0] != '.' && sl && sl != s && sl[1] && !strchr(sl + 1, '/');
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : p;
}

/* A compose service name: lower-case [a-z0-9_-], from the served name. */
static void service_name(const char *from, char *out, size_t n)
{
    size_t j = 0;
    for (const char *s = from ? from : ""; *s && j + 1 < n; s++) {
        char c = (char)tolower((unsigned char)*s);
        out[j++] = isalnum((unsigned char)c) || c == '-' || c == '_' ? c : '-';
    }
    out[j] = 0;
    if (!j)
        snprintf(out, n, "vllm");
}

/* ------------------------------------------------------------ emitters */

static int emit_vllm(const iw_estimate *e, const iw_emit_input *in, iw_buf *b)
{
    iw_strlist l = {0};
    int rc = vllm_args(e, in, &l);
    const char *wi = what_if(in->ov);
    if (!rc && wi)
        rc = iw_buf_printf(b, "# %.*s: point MODEL at that checkpoint\n", (int)strcspn(wi, ";"), wi);
    if (!rc)
        rc = iw_buf_puts(b, "vllm serve ");
    if (!rc)
        rc = put_shell(b, in->model);
    for (size_t i = 0; !rc && i < l.n; i++) {
        bool flag = l.v[i][0] == '-' && l.v[i][1] == '-';
        rc = iw_buf_puts(b, flag ? " \\\n    " : " ");
        if (!rc)
            rc = put_shell(b, l.v[i]);
    }
    if (!rc && in->port > 0)
        rc = iw_buf_printf(b, " \\\n    --port %d", in->port);
    if (!rc)
        rc = iw_buf_putc(b, '\n');
    iw_strlist_free(&l);
    return rc;
}

static int emit_llama(const iw_estimate *e, const iw_emit_input *in, iw_buf *b)
{
    const iw_est_opts *o = &e->in;
    int rc = iw_buf_puts(b, "llama-server ");
    bool gguf_file = strlen(in->model) > 5 && !strcasecmp(in->model + strlen(in->model) - 5, ".gguf");
    if (!rc)
        rc = iw_buf_puts(b, !gguf_file && is_repo_id(in->model) ? "-hf " : "-m ");
    if (!rc)
        rc = put_shell(b, in->model);
    /* n_ctx is the total over the -np slots */
    if (!rc)
        rc = iw_buf_printf(b, " \\\n    -c %lld -np %lld", (long long)(in->context * in->batch), (long long)in->batch);
    if (!rc)
        rc = iw_buf_printf(b, " \\\n    -ngl %lld", (long long)o->n_gpu_layers);
    if (!rc)
        rc = iw_buf_printf(b, " \\\n    -fa %s", o->flash_attn == 1 ? "on" : "off");
    if (!rc && o->kv_dtype != IW_KV_AUTO && o->kv_dtype != IW_KV_F16) {
        const char *t = iw_kv_dtype_name(o->kv_dtype);
        if (o->kv_dtype == IW_KV_F32)
            t = "f32";
        rc = iw_buf_printf(b, " \\\n    -ctk %s -ctv %s", t, t);
    }
    if (!rc && o->n_ubatch != IW_EST_LLAMA_UBATCH && o->n_ubatch > 0)
        rc = iw_buf_printf(b, " \\\n    -ub %lld", (long long)o->n_ubatch);
    if (!rc && in->served_name && *in->served_name) {
        rc = iw_buf_puts(b, " \\\n    --alias ");
        if (!rc)
            rc = put_shell(b, in->served_name);
    }
    if (!rc && in->port > 0)
        rc = iw_buf_printf(b, " \\\n    --port %d", in->port);
    if (!rc)
        rc = iw_buf_putc(b, '\n');
    return rc;
}

static int emit_ollama(const iw_estimate *e, const iw_emit_input *in, iw_buf *b, int64_t layers)
{
    const iw_est_opts *o = &e->in;
    char name[256];
    snprintf(name, sizeof name, "%s", in->served_name && *in->served_name ? in->served_name : base_name(in->model));
    size_t nl = strlen(name);
    if (nl > 5 && !strcasecmp(name + nl - 5, ".gguf"))
        name[nl - 5] = 0;
    int rc = iw_buf_printf(b, "# Modelfile for %s: ollama create %s -f Modelfile\n", name, name);
    if (!rc)
        rc = iw_buf_printf(b, "FROM %s\n", in->model);
    if (!rc)
        rc = iw_buf_printf(b, "PARAMETER num_ctx %lld\n", (long long)in->context);
    if (!rc && layers > 0 && o->n_gpu_layers >= 0 && o->n_gpu_layers <= layers)   /* not all (all = layers + 1, the output layer too) */
        rc = iw_buf_printf(b, "PARAMETER num_gpu %lld\n", (long long)o->n_gpu_layers);
    bool env = in->batch > 1 || o->flash_attn == 1 || (o->kv_dtype != IW_KV_AUTO && o->kv_dtype != IW_KV_F16);
    if (!rc && env)
        rc = iw_buf_puts(b, "# server settings (environment of `ollama serve`, not Modelfile parameters):\n");
    if (!rc && in->batch > 1)
        rc = iw_buf_printf(b, "#   OLLAMA_NUM_PARALLEL=%lld\n", (long long)in->batch);
    if (!rc && o->flash_attn == 1)
        rc = iw_buf_puts(b, "#   OLLAMA_FLASH_ATTENTION=1\n");
    if (!rc && (o->kv_dtype == IW_KV_Q8_0 || o->kv_dtype == IW_KV_Q4_0))
        rc = iw_buf_printf(b, "#   OLLAMA_KV_CACHE_TYPE=%s\n", iw_kv_dtype_name(o->kv_dtype));
    return rc;
}

static int emit_compose(const iw_estimate *e, const iw_emit_input *in, iw_buf *b)
{
    iw_strlist l = {0};
    int rc = vllm_args(e, in, &l);
    bool repo = is_repo_id(in->model);
    char svc[64];
    service_name(in->served_name ? in->served_name : base_name(in->model), svc, sizeof svc);
    const char *mount = "/models/model";
    int port = in->port > 0 ? in->port : 8000;
    const char *wi = what_if(in->ov);
    if (!rc)
        rc = iw_buf_puts(b, "# docker compose service for vLLM: docker compose -f this.yaml up -d\n");
    if (!rc && wi)
        rc = iw_buf_printf(b, "# %.*s: point --model at that checkpoint\n", (int)strcspn(wi, ";"), wi);
    if (!rc)
        rc = iw_buf_printf(b, "services:\n  %s:\n    image: vllm/vllm-openai:latest\n    ipc: host\n"
                              "    ports:\n      - \"%d:%d\"\n    volumes:\n      - ", svc, port, port);
    if (!rc) {
        if (repo) {
            rc = iw_buf_puts(b, "\"${HOME}/.cache/huggingface:/root/.cache/huggingface\"\n"
                                "    environment:\n      HF_TOKEN: \"${HF_TOKEN:-}\"\n");
        } else {
            /* the long syntax: any host path, ':' included */
            rc = iw_buf_puts(b, "type: bind\n        source: ");
            if (!rc)
                rc = put_yaml(b, in->model);
            if (!rc)
                rc = iw_buf_printf(b, "\n        target: %s\n        read_only: true\n", mount);
        }
    }
    if (!rc)
        rc = iw_buf_puts(b, "    command:\n      - \"--model\"\n      - ");
    if (!rc)
        rc = put_yaml(b, repo ? in->model : mount);
    for (size_t i = 0; !rc && i < l.n; i++) {
        rc = iw_buf_puts(b, "\n      - ");
        if (!rc)
            rc = put_yaml(b, l.v[i]);
    }
    if (!rc && port != 8000)
        rc = iw_buf_printf(b, "\n      - \"--port\"\n      - \"%d\"", port);
    if (!rc)
        rc = iw_buf_printf(b, "\n    deploy:\n      resources:\n        reservations:\n          devices:\n"
                              "            - driver: nvidia\n              count: %d\n"
                              "              capabilities: [gpu]\n", e->in.tp > 0 ? e->in.tp : 1);
    iw_strlist_free(&l);
    return rc;
}

int iw_estimate_emit(iw_emit_kind kind, const iw_estimate *e, const iw_emit_input *in, char **out)
{
    *out = NULL;
    if (!in || !in->model || !*in->model)
        return iw_error_set(IW_EINVAL, "emit: no model path or repo to launch");
    if (strlen(in->model) > 4000 || strchr(in->model, '\n') ||
        (in->served_name && (strlen(in->served_name) > 256 || strchr(in->served_name, '\n'))))
        return iw_error_set(IW_EINVAL, "emit: model path or name too long or contains a newline");
    if (in->context < 1 || in->batch < 1)
        return iw_error_set(IW_EINVAL, "emit: nothing to launch: context %lld x batch %lld does not fit",
                            (long long)in->context, (long long)in->batch);
    iw_engine want = kind == IW_EMIT_LLAMACPP ? IW_ENGINE_LLAMACPP : kind == IW_EMIT_OLLAMA ? IW_ENGINE_OLLAMA
                                                                                          : IW_ENGINE_VLLM;
    if (e->in.engine != want)
        return iw_error_set(IW_EINVAL, "emit: a %s launch needs an estimate for %s (this one is for %s)",
                            iw_emit_kind_name(kind), iw_engine_name(want), iw_engine_name(e->in.engine));
    iw_buf b;
    iw_buf_init(&b, EMIT_MAX);
    int rc;
    switch (kind) {
    case IW_EMIT_VLLM:     rc = emit_vllm(e, in, &b); break;
    case IW_EMIT_LLAMACPP: rc = emit_llama(e, in, &b); break;
    case IW_EMIT_OLLAMA:   rc = emit_ollama(e, in, &b, in->num_layers); break;
    case IW_EMIT_COMPOSE:  rc = emit_compose(e, in, &b); break;
    default:               rc = iw_error_set(IW_EINVAL, "emit: unknown kind"); break;
    }
    if (rc) {
        iw_buf_free(&b);
        return rc < 0 ? rc : iw_error_set(IW_ENOMEM, "emit: out of memory");
    }
    *out = iw_buf_detach(&b);
    return *out ? 0 : iw_error_set(IW_ENOMEM, "emit: out of memory");
}
