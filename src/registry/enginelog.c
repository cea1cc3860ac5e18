/* enginelog.c - engine start-up logs -> measured starts (enginelog.h;
 * docs/registry.md, "Measured starts").
 *
 * A line is recognised by a marker anywhere in it, so the prefixes engines
 * and their hosts add (vLLM's "(EngineCore pid=1) INFO 04-22 15:13:20
 * [gpu_worker.py:436]", journald's "Feb 27 11:23:59 host ollama[26115]:",
 * LLamaSharp's "[llama Info]:") do not matter.  The markers are the texts
 * the engines print, from their sources:
 *   vLLM V0  vllm/worker/model_runner.py "Loading model weights took %.4f GB";
 *            vllm/worker/worker.py determine_num_available_blocks (0.6.4:
 *            "Memory profiling results: total_gpu_memory=..GiB ..."; 0.6.5:
 *            one "name  value" line per figure; 0.7+: "the current vLLM
 *            instance can use total_gpu_memory (..GiB) x
 *            gpu_memory_utilization (..)" and "model weights take ..GiB;
 *            non_torch_memory takes ..GiB; PyTorch activation peak memory
 *            takes ..GiB; the rest of the memory reserved for KV Cache is
 *            ..GiB."); vllm/executor "# GPU blocks: N" / "# CUDA blocks: N"
 *   vLLM V1  vllm/v1/worker/gpu_model_runner.py "Model loading took %.4f GiB",
 *            "Graph capturing finished in %.0f secs, took %.2f GiB";
 *            vllm/v1/worker/gpu_worker.py "Available KV cache memory: %.2f
 *            GiB", the DEBUG lines "worker init memory snapshot: ...
 *            total_memory=..GiB", "Memory profiling takes ... Total non KV
 *            cache memory: ..GiB; torch peak memory increase: ..GiB;
 *            non-torch forward increase memory: ..GiB; weights memory:
 *            ..GiB." and "Free memory on device (free/total GiB) ... Actual
 *            usage is .. GiB for weight, .. GiB for peak activation, .. GiB
 *            for non-torch memory, and .. GiB for CUDAGraph memory";
 *            vllm/v1/core/kv_cache_utils.py "GPU KV cache size: N tokens"
 *   both     "Initializing a V1 LLM engine (vX) with config: model='..',
 *            ..., max_seq_len=N, ..., tensor_parallel_size=N, ...,
 *            quantization=.., enforce_eager=.., kv_cache_dtype=.., ...,
 *            served_model_name=.., ..." (engine/llm_engine.py, v1/engine/core.py),
 *            "non-default args: {...}" (entrypoints), "Chunked prefill is
 *            enabled with max_num_batched_tokens=N" (config)
 *   llama.cpp  llama-model-loader "loaded meta data with .. from PATH",
 *            "general.name str = ..", load_tensors / llm_load_tensors
 *            "offloaded N/M layers to GPU", "<dev> model buffer size = X MiB"
 *            (older "<dev> buffer size"), llama-context "n_ctx = N",
 *            "n_seq_max = N", "n_ctx_per_seq"/"n_ctx_seq", "n_batch",
 *            "n_ubatch", "flash_attn", llama-kv-cache "type_k = 'f16'",
 *            "<dev> KV buffer size = X MiB", "K (q8_0): ..",
 *            "<dev> compute buffer size", "<dev> output buffer size";
 *            Ollama's "starting llama server" cmd="... --model PATH
 *            --ctx-size N --batch-size N --n-gpu-layers N --parallel N" and
 *            its time=<ISO-8601> stamps.
 * vLLM's "GB" in "Loading model weights took" is GiB (it divides by 2^30);
 * old llama.cpp's "MB" is MiB likewise.
 */
#include "iwdl/enginelog.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/registry.h"

#define GIB 1073741824.0
#define MIB 1048576.0
#define MAX_BYTES_FIGURE 1125899906842624.0  /* 1 PiB: a larger per-GPU figure is not a GPU's */
#define MAX_COUNT 1099511627776.0            /* tokens, blocks, layers, contexts */

typedef struct fig { double v, res; bool set; } fig;

enum { ENG_NONE = 0, ENG_VLLM, ENG_LLAMA };

typedef struct start {
    int    engine;
    size_t line;
    bool   has_init, has_args, has_load;
    bool   v0, v1;           /* lines only that engine generation prints */
    char   version[32];
    char   model[IW_ENGINE_LOG_MAX_FIELD + 1];
    char   served[IW_ENGINE_LOG_MAX_FIELD + 1];
    char   gname[IW_ENGINE_LOG_MAX_FIELD + 1];
    char   observed[40];
    /* vLLM settings */
    fig    tp, max_len, util, seqs, mbt, gpu_total, block;
    char   dtype[24], quant[40], kvdt[24];
    int    eager;            /* -1 unknown */
    /* vLLM measured */
    fig    weights, act, nontorch, graphs, avail, tokens, blocks, torch_peak, non_kv, requested;
    /* llama.cpp settings */
    fig    n_ctx, n_seq, n_ctx_seq, n_batch, n_ubatch, ngl, nlayers;
    int    fa;               /* -1 unknown, 0, 1, 2 = auto */
    char   type_k[16], type_v[16];
    /* llama.cpp measured: GPU and host sums */
    double m_gpu, m_host, kv_gpu, kv_host, c_gpu, c_host, out;
    double m_gpu_res, m_host_res, kv_gpu_res, kv_host_res, c_gpu_res, c_host_res, out_res;
    bool   m_gpu_set, m_host_set, kv_gpu_set, kv_host_set, c_gpu_set, c_host_set, out_set, out_on_gpu;
    unsigned long long devices;  /* bit per GPU device index seen in a buffer line */
} start;

typedef struct parser {
    const char *name;
    size_t lineno;
    cJSON *out;
    start  cur;
    iw_engine_log_report *rep;
} parser;

static void start_reset(start *s, size_t line)
{
    memset(s, 0, sizeof *s);
    s->line = line;
    s->eager = -1;
    s->fa = -1;
}

static int perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return iw_error_set(IW_EFORMAT, "%s:%zu: %s", p->name, p->lineno, msg);
}

/* ------------------------------------------------------------- numbers */

/* A decimal number at *s (after spaces): digits, optional thousands commas
 * ("126,256"), optional fraction.  *res = the value of the last digit. */
static bool parse_num(const char **s, double *v, double *res)
{
    const char *p = *s;
    while (*p == ' ' || *p == '\t')
        p++;
    double x = 0;
    int nd = 0, dec = -1;
    for (;;) {
        if (isdigit((unsigned char)*p)) {
            if (++nd > 24)
                return false;
            x = x * 10 + (*p - '0');
            if (dec >= 0)
                dec++;
            p++;
        } else if (*p == ',' && nd > 0 && dec < 0 && isdigit((unsigned char)p[1]) &&
                   isdigit((unsigned char)p[2]) && isdigit((unsigned char)p[3]) && !isdigit((unsigned char)p[4])) {
            p++;    /* thousands separator: exactly three digits follow */
        } else if (*p == '.' && dec < 0 && isdigit((unsigned char)p[1])) {
            dec = 0;
            p++;
        } else {
            break;
        }
    }
    if (nd == 0)
        return false;
    double r = 1;
    for (int i = 0; i < (dec > 0 ? dec : 0); i++) {
        x /= 10;
        r /= 10;
    }
    *v = x;
    *res = r;
    *s = p;
    return true;
}

/* Unit after a number: GiB/GB -> 2^30, MiB/MB -> 2^20, KiB/KB -> 2^10. */
static double parse_unit(const char **s)
{
    const char *p = *s;
    while (*p == ' ')
        p++;
    double u = 0;
    if (*p == 'G')
        u = GIB;
    else if (*p == 'M')
        u = MIB;
    else if (*p == 'K' || *p == 'k')
        u = 1024;
    else
        return 0;
    if (p[1] == 'i' && p[2] == 'B')
        p += 3;
    else if (p[1] == 'B')
        p += 2;
    else
        return 0;
    *s = p;
    return u;
}

static const char *after(const char *line, const char *marker)
{
    const char *m = strstr(line, marker);
    return m ? m + strlen(marker) : NULL;
}

/* A size at q ("12.56 GiB"): sets f (the first occurrence wins).  Returns
 * 1, or <0 when the figure is not a number with a unit in range. */
static int size_at(parser *p, const char *q, const char *what, fig *f)
{
    double v, r;
    if (!parse_num(&q, &v, &r))
        return perr(p, "'%s' is not followed by a number", what);
    double u = parse_unit(&q);
    if (u == 0)
        return perr(p, "'%s' figure has no unit (GiB, GB, MiB)", what);
    v *= u;
    if (!(v >= 0) || v >= MAX_BYTES_FIGURE)
        return perr(p, "'%s' figure out of range", what);
    if (!f->set) {
        f->v = v;
        f->res = r * u;
        f->set = true;
    }
    return 1;
}

/* A count at q ("126,256", "8192"). */
static int count_at(parser *p, const char *q, const char *what, fig *f)
{
    double v, r;
    if (!parse_num(&q, &v, &r))
        return perr(p, "'%s' is not followed by a number", what);
    if (!(v >= 0) || v >= MAX_COUNT)
        return perr(p, "'%s' value out of range", what);
    if (!f->set) {
        f->v = v;
        f->res = r;
        f->set = true;
    }
    return 1;
}

/* marker anywhere in line, then a size / a count.  0 when the marker is absent. */
static int size_fig(parser *p, const char *line, const char *marker, fig *f)
{
    const char *q = after(line, marker);
    return q ? size_at(p, q, marker, f) : 0;
}

static int count_fig(parser *p, const char *line, const char *marker, fig *f)
{
    const char *q = after(line, marker);
    return q ? count_at(p, q, marker, f) : 0;
}

static int frac_fig(parser *p, const char *q, const char *what, fig *f)
{
    double v, r;
    if (!parse_num(&q, &v, &r) || !(v > 0 && v <= 1))
        return perr(p, "%s is not a fraction in (0, 1]", what);
    if (!f->set) {
        f->v = v;
        f->res = r;
        f->set = true;
    }
    return 1;
}

/* A word value after `key` (up to a delimiter), into buf. */
static void word_after(const char *q, char *buf, size_t n, const char *stop)
{
    size_t i = 0;
    while (*q == ' ' || *q == '\'' || *q == '"')
        q++;
    while (*q && !strchr(stop, *q) && i + 1 < n)
        buf[i++] = *q++;
    buf[i] = 0;
}

/* "key=" preceded by a separator (so "dtype=" does not match "kv_cache_dtype="). */
static const char *key_eq(const char *line, const char *key)
{
    size_t kl = strlen(key);
    for (const char *m = strstr(line, key); m; m = strstr(m + 1, key))
        if ((m == line || m[-1] == ' ' || m[-1] == ',' || m[-1] == '(' || m[-1] == '{') && m[kl] == '=')
            return m + kl + 1;
    return NULL;
}

/* "'key': " in a Python dict repr. */
static const char *dict_key(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "'%s': ", key);
    return after(line, pat);
}

static void copy_field(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; src[i] && i < IW_ENGINE_LOG_MAX_FIELD && i < n; i++)
        dst[i] = src[i];
    dst[i] = 0;
}

/* A quoted or bare value: 'x' / "x" / x up to one of stop. */
static void value_after(const char *q, char *buf, size_t cap, const char *stop)
{
    size_t i = 0;
    while (*q == ' ')
        q++;
    if (*q == '\'' || *q == '"') {
        char qc = *q++;
        while (*q && *q != qc && i < cap)
            buf[i++] = *q++;
    } else {
        while (*q && !strchr(stop, *q) && i < cap)
            buf[i++] = *q++;
    }
    buf[i] = 0;
}

/* ------------------------------------------------------------- starts */

static bool fig_any(const start *s)
{
    return s->weights.set || s->act.set || s->nontorch.set || s->graphs.set || s->avail.set || s->tokens.set ||
           s->blocks.set || s->torch_peak.set || s->non_kv.set || s->m_gpu_set || s->m_host_set || s->kv_gpu_set ||
           s->kv_host_set || s->c_gpu_set || s->c_host_set || s->out_set;
}

static void put_fig(cJSON *o, cJSON *res, const char *k, const fig *f)
{
    if (!f->set)
        return;
    cJSON_AddNumberToObject(o, k, round(f->v));
    if (res)
        cJSON_AddNumberToObject(res, k, round(f->res) > 0 ? round(f->res) : 1);
}

static void put_sum(cJSON *o, cJSON *res, const char *k, double v, double r, bool set)
{
    if (!set)
        return;
    cJSON_AddNumberToObject(o, k, round(v));
    cJSON_AddNumberToObject(res, k, round(r) > 0 ? round(r) : 1);
}

static int popcount64(unsigned long long x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static int finish(parser *p)
{
    start *s = &p->cur;
    if (s->engine == ENG_NONE) {
        start_reset(s, p->lineno + 1);
        return 0;
    }
    if (!fig_any(s)) {
        if (p->rep)
            p->rep->empty_starts++;
        start_reset(s, p->lineno + 1);
        return 0;
    }
    if ((size_t)cJSON_GetArraySize(p->out) >= IW_ENGINE_LOG_MAX_STARTS)
        return iw_error_set(IW_ELIMIT, "%s:%zu: more than %u start-ups in one log", p->name, p->lineno,
                            IW_ENGINE_LOG_MAX_STARTS);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return iw_error_set(IW_ENOMEM, "engine log: out of memory");
    cJSON_AddItemToArray(p->out, o);
    cJSON_AddStringToObject(o, "engine", s->engine == ENG_VLLM ? "vllm" : "llama.cpp");
    if (s->version[0])
        cJSON_AddStringToObject(o, "engine_version", s->version);
    if (s->engine == ENG_VLLM && s->v0 != s->v1)
        cJSON_AddStringToObject(o, "engine_generation", s->v0 ? "V0" : "V1");
    if (s->model[0])
        cJSON_AddStringToObject(o, "model", s->model);
    if (s->served[0])
        cJSON_AddStringToObject(o, "served_name", s->served);
    if (s->gname[0])
        cJSON_AddStringToObject(o, "model_name", s->gname);
    if (s->observed[0])
        cJSON_AddStringToObject(o, "observed_at", s->observed);
    cJSON *st = cJSON_AddObjectToObject(o, "settings");
    cJSON *me = cJSON_AddObjectToObject(o, "measured");
    cJSON *rs = cJSON_AddObjectToObject(o, "resolution");
    cJSON *src = cJSON_AddObjectToObject(o, "source");
    if (!st || !me || !rs || !src)
        return iw_error_set(IW_ENOMEM, "engine log: out of memory");
    cJSON_AddStringToObject(src, "file", p->name);
    cJSON_AddNumberToObject(src, "line", (double)s->line);
    if (s->engine == ENG_VLLM) {
        put_fig(st, NULL, "tensor_parallel_size", &s->tp);
        put_fig(st, NULL, "max_model_len", &s->max_len);
        if (s->util.set)
            cJSON_AddNumberToObject(st, "gpu_memory_utilization", s->util.v);
        put_fig(st, NULL, "max_num_seqs", &s->seqs);
        put_fig(st, NULL, "max_num_batched_tokens", &s->mbt);
        if (s->dtype[0])
            cJSON_AddStringToObject(st, "dtype", s->dtype);
        if (s->quant[0])
            cJSON_AddStringToObject(st, "quantization", s->quant);
        if (s->kvdt[0])
            cJSON_AddStringToObject(st, "kv_cache_dtype", s->kvdt);
        if (s->eager >= 0)
            cJSON_AddBoolToObject(st, "enforce_eager", s->eager == 1);
        put_fig(st, NULL, "block_size", &s->block);
        if (s->gpu_total.set) {
            cJSON_AddNumberToObject(st, "gpu_total_bytes", round(s->gpu_total.v));
            cJSON_AddNumberToObject(rs, "gpu_total_bytes", round(s->gpu_total.res) > 0 ? round(s->gpu_total.res) : 1);
        }
        /* 0.6.4 prints the torch peak (weights included): activation = peak - weights */
        if (!s->act.set && s->torch_peak.set && s->weights.set && s->torch_peak.v >= s->weights.v) {
            s->act.v = s->torch_peak.v - s->weights.v;
            s->act.res = s->torch_peak.res + s->weights.res;
            s->act.set = true;
        }
        double bs = s->block.set ? s->block.v : 16;
        if (!s->tokens.set && s->blocks.set) {
            s->tokens.v = s->blocks.v * bs;
            s->tokens.res = bs;
            s->tokens.set = true;
        }
        put_fig(me, rs, "weights_bytes", &s->weights);
        put_fig(me, rs, "activation_bytes", &s->act);
        put_fig(me, rs, "non_torch_bytes", &s->nontorch);
        put_fig(me, rs, "cuda_graph_bytes", &s->graphs);
        put_fig(me, rs, "non_kv_bytes", &s->non_kv);
        put_fig(me, rs, "requested_bytes", &s->requested);
        put_fig(me, rs, "kv_available_bytes", &s->avail);
        put_fig(me, rs, "kv_tokens", &s->tokens);
        put_fig(me, NULL, "kv_blocks", &s->blocks);
    } else {
        put_fig(st, NULL, "n_ctx", &s->n_ctx);
        put_fig(st, NULL, "n_seq", &s->n_seq);
        put_fig(st, NULL, "n_ctx_seq", &s->n_ctx_seq);
        put_fig(st, NULL, "n_batch", &s->n_batch);
        put_fig(st, NULL, "n_ubatch", &s->n_ubatch);
        if (s->fa >= 0) {
            if (s->fa == 2)
                cJSON_AddStringToObject(st, "flash_attn", "auto");
            else
                cJSON_AddBoolToObject(st, "flash_attn", s->fa == 1);
        }
        if (s->type_k[0])
            cJSON_AddStringToObject(st, "type_k", s->type_k);
        if (s->type_v[0])
            cJSON_AddStringToObject(st, "type_v", s->type_v);
        put_fig(st, NULL, "n_gpu_layers", &s->ngl);
        put_fig(st, NULL, "n_layers_total", &s->nlayers);
        if (s->devices)
            cJSON_AddNumberToObject(st, "gpu_devices", popcount64(s->devices));
        put_sum(me, rs, "model_buffer_bytes", s->m_gpu, s->m_gpu_res, s->m_gpu_set);
        put_sum(me, rs, "host_model_buffer_bytes", s->m_host, s->m_host_res, s->m_host_set);
        put_sum(me, rs, "kv_buffer_bytes", s->kv_gpu, s->kv_gpu_res, s->kv_gpu_set);
        put_sum(me, rs, "host_kv_buffer_bytes", s->kv_host, s->kv_host_res, s->kv_host_set);
        put_sum(me, rs, "compute_buffer_bytes", s->c_gpu, s->c_gpu_res, s->c_gpu_set);
        put_sum(me, rs, "host_compute_buffer_bytes", s->c_host, s->c_host_res, s->c_host_set);
        put_sum(me, rs, "output_buffer_bytes", s->out, s->out_res, s->out_set);
        if (s->out_set)
            cJSON_AddBoolToObject(st, "output_buffer_on_gpu", s->out_on_gpu);
    }
    if (p->rep)
        p->rep->starts++;
    start_reset(s, p->lineno + 1);
    return 0;
}

/* Begin a start of `engine` at this line when the current one is of another
 * engine or `fresh` says it already holds what this line begins. */
static int begin(parser *p, int engine, bool fresh)
{
    start *s = &p->cur;
    if (s->engine != ENG_NONE && (s->engine != engine || fresh)) {
        int rc = finish(p);
        if (rc < 0)
            return rc;
    }
    if (s->engine == ENG_NONE) {
        start_reset(s, p->lineno);
        s->engine = engine;
    }
    return 0;
}

/* A line from a tensor-parallel worker other than rank 0: its figures
 * repeat rank 0's (V0 workers "(VllmWorkerProcess pid=..)", Ray workers,
 * V1 "(VllmWorker rank=N ..)" and "(Worker_TPN ..)"). */
static bool other_rank(const char *line)
{
    if (strstr(line, "(VllmWorkerProcess") || strstr(line, "(RayWorkerWrapper"))
        return true;
    const char *r = strstr(line, "rank=");
    if (r && r < line + 64 && isdigit((unsigned char)r[5]) && !(r[5] == '0' && !isdigit((unsigned char)r[6])))
        return true;
    const char *t = strstr(line, "_TP");
    if (t && t < line + 64 && isdigit((unsigned char)t[3]) && !(t[3] == '0' && !isdigit((unsigned char)t[4])))
        return true;
    return false;
}

/* ------------------------------------------------------------- vLLM */

static int vllm_settings_config(parser *p, const char *line)
{
    start *s = &p->cur;
    const char *q;
    char w[64];
    int rc;
    if ((q = key_eq(line, "max_seq_len")) && (rc = count_at(p, q, "max_seq_len", &s->max_len)) < 0)
        return rc;
    if ((q = key_eq(line, "tensor_parallel_size")) && (rc = count_at(p, q, "tensor_parallel_size", &s->tp)) < 0)
        return rc;
    if ((q = key_eq(line, "dtype")) && !s->dtype[0]) {
        word_after(q, w, sizeof w, ", )");
        copy_field(s->dtype, strncmp(w, "torch.", 6) == 0 ? w + 6 : w, sizeof s->dtype - 1);
    }
    if ((q = key_eq(line, "quantization")) && !s->quant[0]) {
        word_after(q, w, sizeof w, ", )");
        if (strcmp(w, "None") != 0)
            copy_field(s->quant, w, sizeof s->quant - 1);
    }
    if ((q = key_eq(line, "kv_cache_dtype")) && !s->kvdt[0]) {
        word_after(q, w, sizeof w, ", )");
        copy_field(s->kvdt, w, sizeof s->kvdt - 1);
    }
    if ((q = key_eq(line, "enforce_eager")) && s->eager < 0)
        s->eager = strncmp(q, "True", 4) == 0 ? 1 : strncmp(q, "False", 5) == 0 ? 0 : -1;
    if ((q = key_eq(line, "model")) && !s->model[0])
        value_after(q, s->model, IW_ENGINE_LOG_MAX_FIELD, ", ");
    if ((q = key_eq(line, "served_model_name")) && !s->served[0])
        value_after(q, s->served, IW_ENGINE_LOG_MAX_FIELD, ", ");
    return 0;
}

static int vllm_settings_args(parser *p, const char *line)
{
    start *s = &p->cur;
    const char *q;
    char w[64];
    struct { const char *k; fig *f; } ints[] = {
        {"max_model_len", &s->max_len}, {"max_num_seqs", &s->seqs}, {"max_num_batched_tokens", &s->mbt},
        {"tensor_parallel_size", &s->tp}, {"block_size", &s->block},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!(q = dict_key(line, ints[i].k)))
            continue;
        double v, r;
        if (!parse_num(&q, &v, &r) || !(v >= 1 && v < MAX_COUNT))
            return perr(p, "non-default args: '%s' is not a count", ints[i].k);
        if (!ints[i].f->set) {
            ints[i].f->v = v;
            ints[i].f->set = true;
        }
    }
    if ((q = dict_key(line, "gpu_memory_utilization")) && frac_fig(p, q, "gpu_memory_utilization", &s->util) < 0)
        return IW_EFORMAT;
    if ((q = dict_key(line, "quantization")) && !s->quant[0]) {
        value_after(q, w, sizeof w - 1, ",}");
        if (strcmp(w, "None") != 0)
            copy_field(s->quant, w, sizeof s->quant - 1);
    }
    if ((q = dict_key(line, "kv_cache_dtype")) && !s->kvdt[0]) {
        value_after(q, w, sizeof w - 1, ",}");
        copy_field(s->kvdt, w, sizeof s->kvdt - 1);
    }
    if ((q = dict_key(line, "dtype")) && !s->dtype[0]) {
        value_after(q, w, sizeof w - 1, ",}");
        copy_field(s->dtype, w, sizeof s->dtype - 1);
    }
    if ((q = dict_key(line, "enforce_eager")) && s->eager < 0)
        s->eager = strncmp(q, "True", 4) == 0 ? 1 : 0;
    if ((q = dict_key(line, "model")) && !s->model[0])
        value_after(q, s->model, IW_ENGINE_LOG_MAX_FIELD, ",}");
    if ((q = dict_key(line, "served_model_name")) && !s->served[0]) {
        if (*q == '[')
            q++;
        value_after(q, s->served, IW_ENGINE_LOG_MAX_FIELD, ",]}");
    }
    return 0;
}

static int vllm_line(parser *p, const char *line)
{
    start *s = &p->cur;
    const char *q;
    int rc;
    if ((q = strstr(line, "LLM engine (v")) && strstr(line, "Initializing")) {
        if ((rc = begin(p, ENG_VLLM, s->has_init || fig_any(s))) < 0)
            return rc;
        s->has_init = true;
        if (strstr(line, "a V1 LLM engine"))
            s->v1 = true;
        else
            s->v0 = true;
        q += strlen("LLM engine (v");
        size_t i = 0;
        while (q[i] && q[i] != ')' && i + 1 < sizeof s->version && (isalnum((unsigned char)q[i]) || q[i] == '.' || q[i] == '+'))
            i++;
        if (!s->version[0]) {
            memcpy(s->version, q, i);
            s->version[i] = 0;
        }
        return vllm_settings_config(p, line);
    }
    if (strstr(line, "non-default args: {")) {
        if ((rc = begin(p, ENG_VLLM, s->has_args || fig_any(s))) < 0)
            return rc;
        s->has_args = true;
        return vllm_settings_args(p, line);
    }
    if ((q = after(line, "Chunked prefill is enabled with max_num_batched_tokens="))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0)
            return rc;
        return count_at(p, q, "max_num_batched_tokens", &s->mbt) < 0 ? IW_EFORMAT : 0;
    }
    if ((q = after(line, "Maximum concurrency for ")) && s->engine == ENG_VLLM) {
        return count_at(p, q, "Maximum concurrency for", &s->max_len) < 0 ? IW_EFORMAT : 0;
    }
    /* a profiling block begins: a second one without an engine line in
     * between is another start-up (the #10511 log holds two) */
    if (strstr(line, "Memory profiling results") || (strstr(line, "Memory profiling takes") && !strstr(line, "non KV"))) {
        if ((rc = begin(p, ENG_VLLM, s->engine == ENG_VLLM && s->avail.set)) < 0)
            return rc;
        if (strstr(line, "Memory profiling results"))
            s->v0 = true;
        /* 0.6.4: everything on this one line */
        if ((rc = size_fig(p, line, "total_gpu_memory=", &s->gpu_total)) < 0 ||
            (rc = size_fig(p, line, "peak_torch_memory=", &s->torch_peak)) < 0 ||
            (rc = size_fig(p, line, "non_torch_memory=", &s->nontorch)) < 0 ||
            (rc = size_fig(p, line, "kv_cache_size=", &s->avail)) < 0)
            return rc;
        if ((q = after(line, "gpu_memory_utilization=")) && frac_fig(p, q, "gpu_memory_utilization", &s->util) < 0)
            return IW_EFORMAT;
        return 0;
    }
    struct { const char *m; fig *f; bool load; } sizes[] = {
        {"Loading model weights took", &s->weights, true},
        {"Model loading took", &s->weights, true},
        {"model weights take", &s->weights, false},
        {"non_torch_memory takes", &s->nontorch, false},
        {"PyTorch activation peak memory takes", &s->act, false},
        {"the rest of the memory reserved for KV Cache is", &s->avail, false},
        {"Available KV cache memory:", &s->avail, false},
        {"available_kv_cache_memory", &s->avail, false},
        {"Total non KV cache memory:", &s->non_kv, false},
        {"torch peak memory increase:", &s->act, false},
        {"non-torch forward increase memory:", &s->nontorch, false},
        {"weights memory:", &s->weights, false},
        {"Graph capturing finished in", NULL, false},
        {"CUDA graph pool memory:", &s->graphs, false},
        {"worker init memory snapshot:", NULL, false},
    };
    bool any = false;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *m = strstr(line, sizes[i].m);
        if (!m)
            continue;
        if (i == 12) {              /* "Graph capturing finished in 4 secs, took 0.89 GiB" */
            if ((rc = begin(p, ENG_VLLM, false)) < 0 || (rc = size_fig(p, m, "took", &s->graphs)) < 0)
                return rc;
            any = true;
            continue;
        }
        if (i == 14) {              /* V1 DEBUG: "... total_memory=79.19GiB, ..." */
            if ((rc = begin(p, ENG_VLLM, false)) < 0 || (rc = size_fig(p, m, "total_memory=", &s->gpu_total)) < 0)
                return rc;
            continue;
        }
        if (sizes[i].load && (rc = begin(p, ENG_VLLM, s->has_load && s->weights.set)) < 0)
            return rc;
        if (!sizes[i].load && (rc = begin(p, ENG_VLLM, false)) < 0)
            return rc;
        if (sizes[i].load)
            s->has_load = true;
        /* V0's worker.py and model_runner.py lines; V1's gpu_worker / gpu_model_runner */
        if (i == 0 || i == 2 || i == 3 || i == 4 || i == 5 || i == 7)
            s->v0 = true;
        else if (i == 1 || i == 6 || (i >= 8 && i <= 11))
            s->v1 = true;
        if ((rc = size_fig(p, m, sizes[i].m, sizes[i].f)) < 0)
            return rc;
        any = true;
    }
    /* 0.6.5 table: "total_gpu_memory     79.22GiB", "gpu_memory_utilization       0.90",
     * "non_torch_memory     1.79GiB", "PyTorch activation peak memory       1.26GiB" */
    if ((q = after(line, "] total_gpu_memory ")) || (q = after(line, "total_gpu_memory (")) ||
        (q = after(line, "] total_gpu_memory\t"))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0 || (rc = size_at(p, q, "total_gpu_memory", &s->gpu_total)) < 0)
            return rc;
    }
    if ((q = after(line, "the current vLLM instance can use"))) {
        const char *eq = strstr(q, "= ");
        if ((rc = begin(p, ENG_VLLM, false)) < 0 ||
            (rc = size_at(p, eq ? eq + 2 : q, "the current vLLM instance can use", &s->requested)) < 0)
            return rc;
    }
    if ((q = after(line, "] gpu_memory_utilization ")) || (q = after(line, "x gpu_memory_utilization (")) ||
        (q = after(line, "] gpu_memory_utilization\t"))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0 || frac_fig(p, q, "gpu_memory_utilization", &s->util) < 0)
            return rc < 0 ? rc : IW_EFORMAT;
    }
    if ((q = after(line, "] non_torch_memory ")) || (q = after(line, "] non_torch_memory\t"))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0 || (rc = size_at(p, q, "non_torch_memory", &s->nontorch)) < 0)
            return rc;
        any = true;
    }
    if ((q = after(line, "] PyTorch activation peak memory ")) || (q = after(line, "] PyTorch activation peak memory\t"))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0 || (rc = size_at(p, q, "PyTorch activation peak memory", &s->act)) < 0)
            return rc;
        any = true;
    }
    /* V1 DEBUG: "Free memory on device (78.68/79.19 GiB) on startup. ... Actual
     * usage is 12.56 GiB for weight, 0.77 GiB for peak activation, 0.25 GiB for
     * non-torch memory, and 0.89 GiB for CUDAGraph memory." */
    if ((q = after(line, "Free memory on device ("))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0)
            return rc;
        const char *sl = strchr(q, '/');
        if (sl && sl - q < 32 && (rc = size_at(p, sl + 1, "Free memory on device", &s->gpu_total)) < 0)
            return rc;
        const char *a = after(line, "Actual usage is ");
        if (a) {
            fig *fs[] = {&s->weights, &s->act, &s->nontorch, &s->graphs};
            for (int k = 0; k < 4 && a; k++) {
                double v, r;
                const char *t = a;
                if (!parse_num(&t, &v, &r))
                    return perr(p, "'Actual usage is' figures are not numbers");
                double u = parse_unit(&t);
                if (u == 0 || !(v * u < MAX_BYTES_FIGURE))
                    return perr(p, "'Actual usage is' figure has no unit or is out of range");
                if (!fs[k]->set) {
                    fs[k]->v = v * u;
                    fs[k]->res = r * u;
                    fs[k]->set = true;
                }
                a = strstr(t, ", ");
                if (a) {
                    a += 2;
                    if (!strncmp(a, "and ", 4))
                        a += 4;
                }
            }
            any = true;
        }
    }
    if ((q = after(line, "Requested memory: ")) && strstr(line, "(util)")) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0 || frac_fig(p, q, "requested utilization", &s->util) < 0)
            return rc < 0 ? rc : IW_EFORMAT;
        const char *c = strstr(q, "(util), ");
        if (c && (rc = size_at(p, c + 8, "Requested memory", &s->requested)) < 0)
            return rc;
    }
    if ((q = after(line, "GPU KV cache size:"))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0 || (rc = count_at(p, q, "GPU KV cache size", &s->tokens)) < 0)
            return rc;
        any = true;
    }
    if ((q = after(line, "# GPU blocks:")) || (q = after(line, "# cuda blocks:")) || (q = after(line, "# CUDA blocks:"))) {
        if ((rc = begin(p, ENG_VLLM, false)) < 0 || (rc = count_at(p, q, "# GPU blocks", &s->blocks)) < 0)
            return rc;
        s->v0 = true;
        any = true;
    }
    (void)any;
    return 0;
}

/* ------------------------------------------------------------- llama.cpp */

/* The device of a buffer line: "CUDA0", "ROCm1", "Vulkan0", "Metal", ...
 * -> 1 GPU (index in *dev), 0 host ("CPU", "CPU_Mapped", "CUDA_Host"), -1 none. */
static int buffer_device(const char *line, const char *marker_pos, int *dev)
{
    /* the word just before the marker */
    const char *e = marker_pos;
    while (e > line && e[-1] == ' ')
        e--;
    const char *b = e;
    while (b > line && (isalnum((unsigned char)b[-1]) || b[-1] == '_'))
        b--;
    size_t n = (size_t)(e - b);
    if (n == 0 || n > 32)
        return -1;
    char w[40];
    memcpy(w, b, n);
    w[n] = 0;
    if (strstr(w, "Host") || strstr(w, "CPU") || strstr(w, "Mapped"))
        return 0;
    static const char *const gpus[] = {"CUDA", "ROCm", "Vulkan", "SYCL", "MUSA", "CANN", "Metal", "MTL", NULL};
    for (const char *const *g = gpus; *g; g++) {
        size_t gl = strlen(*g);
        if (!strncmp(w, *g, gl)) {
            int d = 0;
            for (const char *c = w + gl; isdigit((unsigned char)*c) && d < 1000; c++)
                d = d * 10 + (*c - '0');
            *dev = d;
            return 1;
        }
    }
    return -1;
}

static int buffer_line(parser *p, const char *line, const char *marker, double *gpu, double *gres, bool *gset,
                       double *host, double *hres, bool *hset, bool *on_gpu)
{
    const char *m = strstr(line, marker);
    if (!m)
        return 0;
    int dev = 0;
    int kind = buffer_device(line, m, &dev);
    const char *q = after(m, "size =");
    if (!q)
        q = after(m, "size=");
    if (kind < 0 || !q)
        return 0;
    double v, r;
    if (!parse_num(&q, &v, &r))
        return perr(p, "'%s' is not followed by a number", marker);
    double u = parse_unit(&q);
    if (u == 0 || !(v * u < MAX_BYTES_FIGURE))
        return perr(p, "'%s' size has no unit or is out of range", marker);
    if (kind == 1) {
        *gpu += v * u;
        *gres += r * u;
        *gset = true;
        if (dev < 64)
            p->cur.devices |= 1ULL << dev;
        if (on_gpu)
            *on_gpu = true;
    } else {
        *host += v * u;
        *hres += r * u;
        *hset = true;
    }
    return 1;
}

static int llama_setting(parser *p, const char *line, const char *key, fig *f)
{
    const char *q = strstr(line, key);
    if (!q)
        return 0;
    q += strlen(key);
    while (*q == ' ')
        q++;
    if (*q != '=')
        return 0;
    return count_at(p, q + 1, key, f);
}

static int llama_line(parser *p, const char *line)
{
    start *s = &p->cur;
    const char *q;
    int rc;
    if ((q = after(line, "llama_model_loader: loaded meta data with "))) {
        if ((rc = begin(p, ENG_LLAMA, s->model[0] || fig_any(s))) < 0)
            return rc;
        const char *f = strstr(q, " from ");
        if (f && !s->model[0]) {
            f += 6;
            const char *e = strstr(f, " (version");
            size_t n = e ? (size_t)(e - f) : strlen(f);
            if (n > IW_ENGINE_LOG_MAX_FIELD)
                n = IW_ENGINE_LOG_MAX_FIELD;
            memcpy(s->model, f, n);
            s->model[n] = 0;
        }
        return 0;
    }
    /* Ollama: msg="starting llama server" cmd="... --model PATH --ctx-size N ..." */
    if (strstr(line, "starting llama server") && (q = strstr(line, "cmd="))) {
        if ((rc = begin(p, ENG_LLAMA, s->model[0] || fig_any(s))) < 0)
            return rc;
        const char *m = strstr(q, "--model ");
        if (m && !s->model[0])
            value_after(m + 8, s->model, IW_ENGINE_LOG_MAX_FIELD, " \"");
        if ((m = strstr(q, "--ctx-size ")) && (rc = count_fig(p, m, "--ctx-size", &s->n_ctx)) < 0)
            return rc;
        if ((m = strstr(q, "--batch-size ")) && (rc = count_fig(p, m, "--batch-size", &s->n_batch)) < 0)
            return rc;
        if ((m = strstr(q, "--n-gpu-layers ")) && (rc = count_fig(p, m, "--n-gpu-layers", &s->ngl)) < 0)
            return rc;
        if ((m = strstr(q, "--parallel ")) && (rc = count_fig(p, m, "--parallel", &s->n_seq)) < 0)
            return rc;
        if (strstr(q, "--flash-attn") && s->fa < 0)
            s->fa = 1;
        return 0;
    }
    if (s->engine != ENG_LLAMA && !strstr(line, "llama") && !strstr(line, "load_tensors") &&
        !strstr(line, "buffer size") && !strstr(line, "print_info") && !strstr(line, "llm_load"))
        return 0;
    if ((q = strstr(line, "general.name")) && !s->gname[0]) {
        const char *eq = strchr(q, '=');
        if (eq) {
            if ((rc = begin(p, ENG_LLAMA, false)) < 0)
                return rc;
            eq++;
            while (*eq == ' ')
                eq++;
            copy_field(s->gname, eq, IW_ENGINE_LOG_MAX_FIELD);
            size_t n = strlen(s->gname);
            while (n && (s->gname[n - 1] == ' ' || s->gname[n - 1] == '\r'))
                s->gname[--n] = 0;
        }
        return 0;
    }
    if ((q = strstr(line, "offloaded ")) && strstr(q, "layers to GPU")) {
        if ((rc = begin(p, ENG_LLAMA, false)) < 0 || (rc = count_fig(p, q, "offloaded", &s->ngl)) < 0)
            return rc;
        const char *sl = strchr(q, '/');
        if (sl && (rc = count_at(p, sl + 1, "offloaded layers", &s->nlayers)) < 0)
            return rc;
        return 0;
    }
    /* a context line: a second context on the same model is another start */
    static const char *const ctx_prefixes[] = {"llama_new_context_with_model:", "llama_init_from_model:",
                                               "llama_context:", NULL};
    for (const char *const *cp = ctx_prefixes; *cp; cp++) {
        if (!(q = strstr(line, *cp)))
            continue;
        const char *k = q + strlen(*cp);
        while (*k == ' ')
            k++;
        if (!strncmp(k, "n_ctx ", 6) || !strncmp(k, "n_ctx=", 6)) {
            if ((rc = begin(p, ENG_LLAMA, s->kv_gpu_set || s->kv_host_set || s->c_gpu_set)) < 0)
                return rc;
            return llama_setting(p, k, "n_ctx", &s->n_ctx) < 0 ? IW_EFORMAT : 0;
        }
        if (s->engine != ENG_LLAMA && (rc = begin(p, ENG_LLAMA, false)) < 0)
            return rc;
        if (!strncmp(k, "n_seq_max", 9))
            return llama_setting(p, k, "n_seq_max", &s->n_seq) < 0 ? IW_EFORMAT : 0;
        if (!strncmp(k, "n_ctx_per_seq", 13) && !strstr(k, "<"))
            return llama_setting(p, k, "n_ctx_per_seq", &s->n_ctx_seq) < 0 ? IW_EFORMAT : 0;
        if (!strncmp(k, "n_ctx_seq", 9) && !strstr(k, "<"))
            return llama_setting(p, k, "n_ctx_seq", &s->n_ctx_seq) < 0 ? IW_EFORMAT : 0;
        if (!strncmp(k, "n_batch", 7))
            return llama_setting(p, k, "n_batch", &s->n_batch) < 0 ? IW_EFORMAT : 0;
        if (!strncmp(k, "n_ubatch", 8))
            return llama_setting(p, k, "n_ubatch", &s->n_ubatch) < 0 ? IW_EFORMAT : 0;
        if (!strncmp(k, "flash_attn", 10) && s->fa < 0) {
            const char *v = strchr(k, '=');
            if (v) {
                v++;
                while (*v == ' ')
                    v++;
                s->fa = (*v == '1' || !strncmp(v, "enabled", 7) || !strncmp(v, "true", 4)) ? 1
                      : !strncmp(v, "auto", 4) ? 2 : 0;
            }
            return 0;
        }
    }
    if ((q = strstr(line, "type_k = '"))) {
        if ((rc = begin(p, ENG_LLAMA, false)) < 0)
            return rc;
        if (!s->type_k[0])
            word_after(q + 9, s->type_k, sizeof s->type_k, "'");
        if ((q = strstr(line, "type_v = '")) && !s->type_v[0])
            word_after(q + 9, s->type_v, sizeof s->type_v, "'");
    }
    if ((q = strstr(line, " K (")) && strstr(line, "size") && !s->type_k[0]) {
        word_after(q + 4, s->type_k, sizeof s->type_k, ")");
        if ((q = strstr(line, " V (")) && !s->type_v[0])
            word_after(q + 4, s->type_v, sizeof s->type_v, ")");
    }
    if (strstr(line, "buffer size") && (rc = begin(p, ENG_LLAMA, false)) < 0)
        return rc;
    if ((rc = buffer_line(p, line, "model buffer size", &s->m_gpu, &s->m_gpu_res, &s->m_gpu_set, &s->m_host,
                          &s->m_host_res, &s->m_host_set, NULL)) != 0)
        return rc < 0 ? rc : 0;
    if (strstr(line, "llm_load_tensors:") &&
        (rc = buffer_line(p, line, "buffer size", &s->m_gpu, &s->m_gpu_res, &s->m_gpu_set, &s->m_host, &s->m_host_res,
                          &s->m_host_set, NULL)) != 0)
        return rc < 0 ? rc : 0;
    if ((rc = buffer_line(p, line, "KV buffer size", &s->kv_gpu, &s->kv_gpu_res, &s->kv_gpu_set, &s->kv_host,
                          &s->kv_host_res, &s->kv_host_set, NULL)) != 0)
        return rc < 0 ? rc : 0;
    if ((rc = buffer_line(p, line, "compute buffer size", &s->c_gpu, &s->c_gpu_res, &s->c_gpu_set, &s->c_host,
                          &s->c_host_res, &s->c_host_set, NULL)) != 0)
        return rc < 0 ? rc : 0;
    {
        double g = 0, gr = 0, h = 0, hr = 0;
        bool gs = false, hs = false;
        if ((rc = buffer_line(p, line, "output buffer size", &g, &gr, &gs, &h, &hr, &hs, NULL)) < 0)
            return rc;
        if (rc > 0 && !s->out_set) {
            s->out = gs ? g : h;
            s->out_res = gs ? gr : hr;
            s->out_set = true;
            s->out_on_gpu = gs;
        }
    }
    return 0;
}

/* Ollama's time=2025-01-10T12:34:56.789-06:00: the start's observed_at. */
static void ollama_time(parser *p, const char *line)
{
    const char *q = strstr(line, "time=");
    if (!q || p->cur.observed[0])
        return;
    q += 5;
    char ts[40];
    size_t i = 0;
    while (q[i] && q[i] != ' ' && i + 1 < sizeof ts)
        ts[i] = q[i], i++;
    ts[i] = 0;
    int64_t sec;
    int32_t us;
    if (iw_parse_iso8601(ts, &sec, &us) == 0)
        memcpy(p->cur.observed, ts, i + 1);
    else
        iw_error_clear();
}

static int take_line(parser *p, const char *line)
{
    int rc;
    if (other_rank(line))
        return 0;
    if ((rc = vllm_line(p, line)) < 0)
        return rc;
    if ((rc = llama_line(p, line)) < 0)
        return rc;
    if (p->cur.engine == ENG_LLAMA)
        ollama_time(p, line);
    return 0;
}

int iw_engine_log_parse(const char *text, size_t len, const char *name, cJSON **starts, iw_engine_log_report *rep)
{
    *starts = NULL;
    if (!name)
        name = "engine log";
    if (rep)
        memset(rep, 0, sizeof *rep);
    if (len > IW_ENGINE_LOG_MAX_BYTES)
        return iw_error_set(IW_ELIMIT, "%s: %zu bytes; an engine log is read up to %u MiB", name, len,
                            IW_ENGINE_LOG_MAX_BYTES >> 20);
    parser p = {0};
    p.name = name;
    p.rep = rep;
    p.out = cJSON_CreateArray();
    if (!p.out)
        return iw_error_set(IW_ENOMEM, "engine log: out of memory");
    start_reset(&p.cur, 1);
    char *buf = malloc(IW_ENGINE_LOG_MAX_LINE + 1);
    if (!buf) {
        cJSON_Delete(p.out);
        return iw_error_set(IW_ENOMEM, "engine log: out of memory");
    }
    int rc = 0;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
        p.lineno++;
        if (rep)
            rep->lines++;
        if (memchr(text + i, 0, n)) {
            rc = iw_error_set(IW_EFORMAT, "%s:%zu: NUL byte: not a text log", name, p.lineno);
            break;
        }
        if (n > IW_ENGINE_LOG_MAX_LINE) {
            if (rep)
                rep->long_lines++;
        } else {
            memcpy(buf, text + i, n);
            while (n && (buf[n - 1] == '\r'))
                n--;
            buf[n] = 0;
            if ((rc = take_line(&p, buf)) < 0)
                break;
        }
        i = nl ? (size_t)(nl - text) + 1 : len;
    }
    if (rc == 0)
        rc = finish(&p);
    free(buf);
    if (rc < 0) {
        cJSON_Delete(p.out);
        return rc;
    }
    *starts = p.out;
    return 0;
}

int iw_engine_log_read(const char *path, cJSON **starts, iw_engine_log_report *rep)
{
    *starts = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open engine log '%s'", path);
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > IW_ENGINE_LOG_MAX_BYTES) {
        fclose(f);
        return iw_error_set(IW_ELIMIT, "%s: %lld bytes; an engine log is read up to %u MiB", path,
                            (long long)st.st_size, IW_ENGINE_LOG_MAX_BYTES >> 20);
    }
    iw_buf b = IW_BUF_INIT(IW_ENGINE_LOG_MAX_BYTES + 1);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (iw_buf_append(&b, chunk, n) < 0) {
            iw_error_clear();
            rc = iw_error_set(IW_ELIMIT, "%s: more than %u MiB; an engine log is read up to that", path,
                              IW_ENGINE_LOG_MAX_BYTES >> 20);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = iw_error_set(IW_EIO, "cannot read engine log '%s'", path);
    fclose(f);
    if (rc == 0)
        rc = iw_engine_log_parse(b.data ? b.data : "", b.len, path, starts, rep);
    iw_buf_free(&b);
    return rc;
}
