/* emit.c - ready-to-run launch configurations from an estimate.
 *
 * vllm      `vllm serve MODEL ...` (shell command, arguments quoted)
 * llama.cpp `llama-server -m FILE.gguf ...` (-c is the total over -np slots)
 * ollama    a Modelfile: FROM + PARAMETER num_ctx (+ num_gpu when offloading
 *           part); server-wide settings (OLLAMA_NUM_PARALLEL, flash attention,
 *           KV cache type) are environment variables of `ollama serve`, so
 *           they are written as comments, not as parameters that do not exist;
 *           the `ollama create` command names a valid Ollama model
 * compose   a docker compose service running the vllm/vllm-openai image; a
 *           repo is fetched into the HF cache of HF_HOME / HF_HUB_CACHE from
 *           HF_ENDPOINT (those of `docker compose up`, else those given)
 * Every shell word is quoted when it needs it (`bash -n` and the engines'
 * argument rules are tested: tests/estimate/test_emit.c).
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

/* The inside of a YAML double-quoted scalar: backslash, quote and control
 * bytes escaped, and '$' doubled (docker compose interpolates "$NAME" and
 * "${...}" in every value; "$$" is a literal '$'). */
static int put_yaml_text(iw_buf *b, const char *s)
{
    int rc = 0;
    for (; !rc && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = iw_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = iw_buf_printf(b, "\\x%02x", c);
        else if (c == '$')
            rc = iw_buf_puts(b, "$$");
        else
            rc = iw_buf_putc(b, (char)c);
    }
    return rc;
}

static int put_yaml(iw_buf *b, const char *s)
{
    int rc = iw_buf_putc(b, '"');
    if (!rc)
        rc = put_yaml_text(b, s);
    return rc ? rc : iw_buf_putc(b, '"');
}

/* "${VAR:-default}" as a YAML scalar: the variable when `docker compose up`
 * has it, else the value it had when the launch was written (or fallback,
 * itself compose text).  A default holding '}' cannot be interpolated: the
 * value is then written as it is. */
static int put_yaml_env(iw_buf *b, const char *var, const char *value, const char *fallback)
{
    if (value && strchr(value, '}'))
        return put_yaml(b, value);
    int rc = iw_buf_printf(b, "\"${%s:-", var);
    if (!rc)
        rc = value ? put_yaml_text(b, value) : iw_buf_puts(b, fallback);
    return rc ? rc : iw_buf_puts(b, "}\"");
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
    /* vLLM's CacheDType choices differ by version; "float16" is gone from
     * recent ones.  fp16 (and f32, which vLLM does not keep) is "auto": a
     * 16-bit cache of the same size, so nothing is written. */
    if (!rc && o->kv_dtype == IW_KV_FP8)
        rc = iw_strlist_push(l, "--kv-cache-dtype") || iw_strlist_push(l, "fp8");
    else if (!rc && o->kv_dtype == IW_KV_BF16)
        rc = iw_strlist_push(l, "--kv-cache-dtype") || iw_strlist_push(l, "bfloat16");
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

/* A model name `ollama create` takes (ollama types/model/name.go: 1-80
 * characters, the first a letter, digit or '_', then also '-' and '.'),
 * from a registry name: lower case, every other character a '-' unless it
 * follows a separator ("qwen3-30b-a3b_(BF16)" -> "qwen3-30b-a3b_bf16"). */
static void ollama_model_name(const char *from, char *out, size_t n)
{
    size_t j = 0;
    for (const char *s = from ? from : ""; *s && j + 1 < n && j < 80; s++) {
        char c = (char)tolower((unsigned char)*s);
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        bool after_sep = j > 0 && strchr("_-.", out[j - 1]);
        if (!ok)
            c = '-';
        if (j == 0 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            continue;                /* the first character: a letter, digit or '_' */
        if (strchr("_-.", c) && after_sep && (!ok || c == out[j - 1]))
            continue;                /* no "_-" or "--" from replaced characters */
        out[j++] = c;
    }
    while (j > 0 && strchr("-.", out[j - 1]))
        j--;
    out[j] = 0;
    if (!j)
        snprintf(out, n, "model");
}

/* A Modelfile value as ollama's parser reads it (parser/parser.go, quote and
 * unquote): as it is, or in "..." when it begins or ends with a space or
 * begins with a quote, in """...""" when it also holds a '"'. */
static int put_modelfile_value(iw_buf *b, const char *v)
{
    size_t n = strlen(v);
    bool quote = n == 0 || v[0] == ' ' || v[n - 1] == ' ' || v[0] == '"' || v[0] == '\t' || v[n - 1] == '\t';
    if (!quote)
        return iw_buf_puts(b, v);
    if (strstr(v, "\"\"\"") || (strchr(v, '"') && v[n - 1] == '"'))
        return iw_error_set(IW_EINVAL, "emit: '%s' cannot be written as a Modelfile value", v);
    const char *q = strchr(v, '"') ? "\"\"\"" : "\"";
    return iw_buf_printf(b, "%s%s%s", q, v, q);
}

static int emit_ollama(const iw_estimate *e, const iw_emit_input *in, iw_buf *b, int64_t layers)
{
    const iw_est_opts *o = &e->in;
    char from[256], name[96];
    snprintf(from, sizeof from, "%s", in->served_name && *in->served_name ? in->served_name : base_name(in->model));
    size_t fl = strlen(from);
    if (fl > 5 && !strcasecmp(from + fl - 5, ".gguf"))
        from[fl - 5] = 0;
    ollama_model_name(from, name, sizeof name);
    /* never the name of the model FROM names: create would replace it */
    char own[256], base[96];
    snprintf(own, sizeof own, "%s", base_name(in->model));
    own[strcspn(own, ":")] = 0;              /* the tag */
    ollama_model_name(own, base, sizeof base);
    if (!strcmp(name, base))
        snprintf(name + strlen(name), sizeof name - strlen(name), "-ctx%lld", (long long)in->context);
    int rc = iw_buf_printf(b, "# Modelfile for %s; create the model with:\n#   ollama create ", from);
    if (!rc)
        rc = put_shell(b, name);
    if (!rc)
        rc = iw_buf_puts(b, " -f Modelfile\nFROM ");
    if (!rc)
        rc = put_modelfile_value(b, in->model);
    if (!rc)
        rc = iw_buf_printf(b, "\nPARAMETER num_ctx %lld\n", (long long)in->context);
    if (!rc && layers > 0 && o->n_gpu_layers >= 0 && o->n_gpu_layers <= layers)   /* not all (all = layers + 1, the output layer too) */
        rc = iw_buf_printf(b, "PARAMETER num_gpu %lld\n", (long long)o->n_gpu_layers);
    /* Ollama's flash attention is "auto" (on where the GPU has it, llm/llama_server.go):
     * only turning it off needs the environment */
    bool env = in->batch > 1 || o->flash_attn == 0 || (o->kv_dtype != IW_KV_AUTO && o->kv_dtype != IW_KV_F16);
    if (!rc && env)
        rc = iw_buf_puts(b, "# server settings (environment of `ollama serve`, not Modelfile parameters):\n");
    if (!rc && in->batch > 1)
        rc = iw_buf_printf(b, "#   OLLAMA_NUM_PARALLEL=%lld\n", (long long)in->batch);
    if (!rc && o->flash_attn == 0)
        rc = iw_buf_puts(b, "#   OLLAMA_FLASH_ATTENTION=0\n");
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
            /* the Hub cache and endpoint of whoever runs `docker compose
             * up`, else those in effect when this was written */
            rc = iw_buf_puts(b, "type: bind\n        source: ");
            if (!rc)
                rc = put_yaml_env(b, "HF_HOME", in->hf_home, "${HOME}/.cache/huggingface");
            if (!rc)
                rc = iw_buf_puts(b, "\n        target: /root/.cache/huggingface\n"
                                    "        bind:\n          create_host_path: true\n");
            if (!rc && in->hf_hub_cache) {
                rc = iw_buf_puts(b, "      - type: bind\n        source: ");
                if (!rc)
                    rc = put_yaml_env(b, "HF_HUB_CACHE", in->hf_hub_cache, NULL);
                if (!rc)
                    rc = iw_buf_puts(b, "\n        target: /root/.cache/huggingface/hub\n"
                                        "        bind:\n          create_host_path: true\n");
            }
            if (!rc)
                rc = iw_buf_puts(b, "    environment:\n      HF_TOKEN: \"${HF_TOKEN:-}\"\n      HF_ENDPOINT: ");
            if (!rc)
                rc = put_yaml_env(b, "HF_ENDPOINT", in->hf_endpoint, "https://huggingface.co");
            if (!rc)
                rc = iw_buf_putc(b, '\n');
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
    const char *hf[] = {in->hf_home, in->hf_hub_cache, in->hf_endpoint};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++)
        if (hf[i] && (strlen(hf[i]) > 4000 || strpbrk(hf[i], "\r\n")))
            return iw_error_set(IW_EINVAL, "emit: HF_HOME, HF_HUB_CACHE or HF_ENDPOINT too long or holds a newline");
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
