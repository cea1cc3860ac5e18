/* cmd_estimate.c - `estimate NAME|PATH|REPO [--engine E] [--context N]
 *   [--batch N] [--kv-dtype T] [--tp N] [--gpu-util F] [--vram SIZE|--gpu NAME]
 *   [--apply] [--json]`
 *
 * NAME is a registry entry (metadata.architecture), PATH a local folder or
 * file (extracted), REPO an org/name read remotely by HTTP Range.  With a
 * budget the inverse answers and the recommended launch arguments are
 * printed; --apply writes them into the registry entry (docs/estimate.md).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/extract.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "inspect_remote.h"

#define GIB_D 1073741824.0

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download estimate NAME|PATH|REPO [--engine vllm|llama.cpp|ollama]\n"
        "        [--context N] [--batch N] [--kv-dtype T] [--tp N] [--gpu-util F]\n"
        "        [--vram SIZE | --gpu NAME] [--apply] [--json]\n"
        "\n"
        "Estimate GPU memory for a registry entry (NAME), a local folder or file (PATH)\n"
        "or a remote repo (org/name, headers only).  With --vram/--gpu also print the\n"
        "largest context and concurrency that fit and the launch arguments.\n"
        "\n"
        "  --engine E        vllm (default; llama.cpp for GGUF; the entry's backend for NAME)\n"
        "  --context N       tokens per sequence (default: model maximum; Ollama 4096)\n"
        "  --batch N         concurrent sequences (default 1)\n"
        "  --kv-dtype T      auto, fp16, bf16, f32; fp8 (vLLM only); q8_0, q4_0 (llama.cpp/Ollama)\n"
        "  --tp N            vLLM tensor-parallel size (per-GPU figures)\n"
        "  --gpu-util F      vLLM gpu_memory_utilization (default 0.90)\n"
        "  --vram SIZE       memory of one GPU: 24GiB, 24G, 24000MB, bytes\n"
        "  --gpu NAME        a GPU from the table (--gpu list prints it)\n"
        "  --max-num-batched-tokens N, --enforce-eager   vLLM profile inputs\n"
        "  --ngl N, --ubatch N, --flash-attn on|off      llama.cpp profile inputs\n"
        "  --apply           write the recommendation into the registry entry NAME\n"
        "  --json            machine-readable output\n");
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A REPO id is "org/name" that does not exist locally. */
static int is_repo_id(const char *s)
{
    if (iw_path_exists(s) || s[0] == '/' || s[0] == '.')
        return 0;
    const char *slash = strchr(s, '/');
    return slash && slash != s && slash[1] && !strchr(slash + 1, '/');
}

/* Load the architecture for target; *entry_name set when it is a registry
 * entry; *backend gets the entry's backend (static or owned by the registry). */
static int load_arch(const char *target, iw_registry *reg, iw_arch *a, bool *is_entry,
                     const char **backend)
{
    *is_entry = false;
    const cJSON *ent = reg ? iw_registry_get(reg, target) : NULL;
    if (ent) {
        *is_entry = true;
        const char *be = iw_json_get_str(ent, "backend");
        *backend = be;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(ent, "metadata");
        const cJSON *arch = md ? cJSON_GetObjectItemCaseSensitive(md, "architecture") : NULL;
        if (cJSON_IsObject(arch) && arch->child)
            return iw_arch_from_json(arch, a);
        const char *dp = iw_json_get_str(ent, "download_path");
        if (dp && iw_path_exists(dp)) {
            iw_extract_opts eo = {0};
            return iw_extract_path(dp, &eo, a);
        }
        return iw_error_set(IW_ENOTFOUND, "registry entry '%s' has no metadata.architecture and no "
                            "download_path on disk; run migrate-architecture", target);
    }
    if (iw_path_exists(target)) {
        iw_extract_opts eo = {0};
        return iw_extract_path(target, &eo, a);
    }
    if (is_repo_id(target)) {
        int64_t t = 0;
        return inspect_remote(target, NULL, NULL, a, &t);
    }
    return iw_error_set(IW_ENOTFOUND, "'%s' is not a registry entry, a local path or an org/name repo", target);
}

static void bar(FILE *f, double v, double scale, int width)
{
    int n = scale > 0 ? (int)lround(v / scale * width) : 0;
    if (n > width)
        n = width;
    if (v > 0 && n == 0)
        n = 1;
    for (int i = 0; i < n; i++)
        fputc('#', f);
    for (int i = n; i < width; i++)
        fputc('.', f);
}

/* ---- --apply ---------------------------------------------------------- */

typedef struct apply_ctx {
    iw_engine engine;
    const iw_strlist *args;
    int64_t context;
} apply_ctx;

/* Flags of ours (with their value) to drop before appending the new ones. */
static bool is_our_flag(iw_engine e, const char *s, bool *takes_value)
{
    static const char *vllm[] = {"--max-model-len", "--max-num-seqs", "--gpu-memory-utilization",
                                 "--kv-cache-dtype", "--tensor-parallel-size", "-tp", NULL};
    static const char *llama[] = {"-c", "--ctx-size", "-ngl", "--n-gpu-layers", "--gpu-layers", "-np",
                                  "--parallel", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v",
                                  "-fa", "--flash-attn", NULL};
    static const char *oll[] = {"--num-ctx", NULL};
    const char **t = e == IW_ENGINE_VLLM ? vllm : e == IW_ENGINE_LLAMACPP ? llama : oll;
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
    if (e == IW_ENGINE_VLLM && !strcmp(s, "--enforce-eager")) {
        *takes_value = false;
        return true;
    }
    return false;
}

static int apply_fn(cJSON *entry, bool is_new, void *vctx)
{
    apply_ctx *c = vctx;
    (void)is_new;   /* a curated-only entry gets its discovered counterpart */
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
        if (cJSON_IsString(it) && is_our_flag(c->engine, it->valuestring, &tv)) {
            if (tv && i + 1 < n) {
                const cJSON *nx = cJSON_GetArrayItem(old, i + 1);
                if (cJSON_IsString(nx) && nx->valuestring[0] != '-')
                    i++;
                else if (cJSON_IsString(nx) && c->engine != IW_ENGINE_VLLM && nx->valuestring[0] == '-' &&
                         nx->valuestring[1] >= '0' && nx->valuestring[1] <= '9')
                    i++;    /* "-ngl -1" */
            }
            continue;
        }
        cJSON_AddItemToArray(na, cJSON_Duplicate(it, 1));
    }
    for (size_t i = 0; i < c->args->n; i++)
        cJSON_AddItemToArray(na, cJSON_CreateString(c->args->v[i]));
    if (old)
        cJSON_ReplaceItemInObjectCaseSensitive(bc, "extra_args", na);
    else
        cJSON_AddItemToObject(bc, "extra_args", na);
    if (c->engine == IW_ENGINE_OLLAMA) {
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

/* ---- output ------------------------------------------------------------ */

static void print_table(FILE *f, const char *target, const iw_estimate *e)
{
    const iw_est_opts *in = &e->in;
    fprintf(f, "model:   %s\n", target);
    fprintf(f, "engine:  %s, context %" PRId64 ", batch %" PRId64 ", kv %s", iw_engine_name(in->engine),
            in->context, in->batch, iw_kv_dtype_name(in->kv_dtype));
    if (in->engine == IW_ENGINE_VLLM)
        fprintf(f, ", tp %d, max_num_batched_tokens %" PRId64 "%s\n", in->tp, in->max_num_batched_tokens,
                in->enforce_eager ? ", enforce_eager" : "");
    else
        fprintf(f, ", n_ubatch %" PRId64 ", -ngl %" PRId64 ", flash-attn %s\n", in->n_ubatch, in->n_gpu_layers,
                in->flash_attn == 1 ? "on" : "off");
    double scale = (double)e->total;
    if (e->budget > 0 && (double)e->budget > scale)
        scale = (double)e->budget;
    fprintf(f, "\n%-12s %10s  %-30s  %s\n", "term", "GiB", "", "source");
    for (size_t i = 0; i < e->n_terms; i++) {
        const iw_est_term *t = &e->terms[i];
        fprintf(f, "%-12s %10.2f  ", t->name, (double)t->bytes / GIB_D);
        bar(f, (double)t->bytes, scale, 30);
        fprintf(f, "  %s\n", t->source);
    }
    fprintf(f, "%-12s %10.2f  ", "total", (double)e->total / GIB_D);
    bar(f, (double)e->total, scale, 30);
    fputc('\n', f);
    if (e->budget > 0) {
        fprintf(f, "%-12s %10.2f  ", "budget", (double)e->budget / GIB_D);
        bar(f, (double)e->budget, scale, 30);
        if (in->engine == IW_ENGINE_VLLM)
            fprintf(f, "  %.2f GiB x gpu_util %.2f -> %s\n", (double)in->vram_bytes / GIB_D, in->gpu_util,
                    e->fits ? "fits" : "DOES NOT FIT");
        else
            fprintf(f, "  -> %s\n", e->fits ? "fits" : "DOES NOT FIT");
    }
    if (in->engine != IW_ENGINE_VLLM && e->host_bytes > 0)
        fprintf(f, "host RAM:    %10.2f GiB (token embeddings and layers not offloaded)\n", (double)e->host_bytes / GIB_D);
    fprintf(f, "\nKV per token: %" PRId64 " B (all attention layers, uncapped)", e->kv_bytes_per_token);
    if (e->state_bytes_per_seq > 0)
        fprintf(f, "; recurrent state %" PRId64 " B per sequence", e->state_bytes_per_seq);
    fputc('\n', f);
    fprintf(f, "\nwhy:\n");
    for (size_t i = 0; i < e->n_terms; i++)
        fprintf(f, "  %-12s %s\n", e->terms[i].name, e->terms[i].formula);
    for (size_t i = 0; i < e->warnings.n; i++)
        fprintf(f, "warning: %s\n", e->warnings.v[i]);
}

int cmd_estimate(int argc, char **argv)
{
    enum { O_MBT = 1000, O_EAGER, O_NGL, O_UBATCH, O_FA };
    static const struct option opts[] = {
        {"engine", required_argument, NULL, 'e'}, {"context", required_argument, NULL, 'c'},
        {"batch", required_argument, NULL, 'b'}, {"kv-dtype", required_argument, NULL, 'k'},
        {"tp", required_argument, NULL, 't'}, {"gpu-util", required_argument, NULL, 'u'},
        {"vram", required_argument, NULL, 'v'}, {"gpu", required_argument, NULL, 'g'},
        {"apply", no_argument, NULL, 'a'}, {"json", no_argument, NULL, 'j'},
        {"max-num-batched-tokens", required_argument, NULL, O_MBT},
        {"enforce-eager", no_argument, NULL, O_EAGER}, {"ngl", required_argument, NULL, O_NGL},
        {"ubatch", required_argument, NULL, O_UBATCH}, {"flash-attn", required_argument, NULL, O_FA},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    iw_est_opts o;
    iw_est_opts_init(&o);
    bool engine_set = false, apply = false, json = false, ctx_set = false, batch_set = false;
    int c;
    int64_t v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (iw_engine_parse(optarg, &o.engine) < 0)
                return cli_usage("estimate", "estimate: %s", iw_error_last());
            engine_set = true;
            break;
        case 'c':
            if (parse_i64(optarg, 1, (int64_t)1 << 31, &o.context))
                return cli_usage("estimate", "estimate: --context '%s': expected tokens 1..2147483648", optarg);
            ctx_set = true;
            break;
        case 'b':
            if (parse_i64(optarg, 1, 1 << 20, &o.batch))
                return cli_usage("estimate", "estimate: --batch '%s': expected 1..1048576", optarg);
            batch_set = true;
            break;
        case 'k':
            if (iw_kv_dtype_parse(optarg, &o.kv_dtype) < 0)
                return cli_usage("estimate", "estimate: %s", iw_error_last());
            break;
        case 't':
            if (parse_i64(optarg, 1, 1024, &v))
                return cli_usage("estimate", "estimate: --tp '%s': expected 1..1024", optarg);
            o.tp = (int)v;
            break;
        case 'u': {
            char *end = NULL;
            o.gpu_util = strtod(optarg, &end);
            if (end == optarg || *end || !(o.gpu_util > 0 && o.gpu_util <= 1))
                return cli_usage("estimate", "estimate: --gpu-util '%s': expected a fraction in (0, 1]", optarg);
            break;
        }
        case 'v':
            if (iw_parse_mem_size(optarg, &o.vram_bytes) < 0)
                return cli_usage("estimate", "estimate: --vram: %s", iw_error_last());
            break;
        case 'g':
            if (!strcmp(optarg, "list")) {
                for (const iw_gpu *g = iw_gpu_table(); g->name; g++)
                    printf("%-10s %6.0f GiB\n", g->name, (double)g->bytes / GIB_D);
                return IW_EXIT_OK;
            }
            if (!iw_gpu_lookup(optarg, &o.vram_bytes))
                return cli_usage("estimate", "estimate: unknown GPU '%s' (see --gpu list, or give --vram SIZE)", optarg);
            break;
        case 'a': apply = true; break;
        case 'j': json = true; break;
        case O_MBT:
            if (parse_i64(optarg, 1, (int64_t)1 << 31, &o.max_num_batched_tokens))
                return cli_usage("estimate", "estimate: --max-num-batched-tokens '%s' invalid", optarg);
            break;
        case O_EAGER: o.enforce_eager = true; break;
        case O_NGL:
            if (parse_i64(optarg, -1, 100000, &o.n_gpu_layers))
                return cli_usage("estimate", "estimate: --ngl '%s' invalid", optarg);
            if (o.n_gpu_layers < 0)
                o.n_gpu_layers = IW_UNKNOWN;
            break;
        case O_UBATCH:
            if (parse_i64(optarg, 1, 1 << 20, &o.n_ubatch))
                return cli_usage("estimate", "estimate: --ubatch '%s' invalid", optarg);
            break;
        case O_FA:
            if (!strcmp(optarg, "on") || !strcmp(optarg, "1")) o.flash_attn = 1;
            else if (!strcmp(optarg, "off") || !strcmp(optarg, "0")) o.flash_attn = 0;
            else return cli_usage("estimate", "estimate: --flash-attn '%s': expected on or off", optarg);
            break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("estimate", "estimate: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("estimate", "estimate: expected one NAME, PATH or REPO");
    const char *target = argv[optind];
    if (apply && o.vram_bytes == IW_UNKNOWN)
        return cli_usage("estimate", "estimate: --apply needs a budget (--vram SIZE or --gpu NAME)");

    int ret = IW_EXIT_FAIL;
    iw_registry *reg = NULL;
    iw_arch a;
    iw_arch_init(&a);
    iw_estimate e;
    iw_estimate_init(&e);
    iw_strlist args = {0};
    cJSON *out = NULL;
    bool is_entry = false;
    const char *backend = NULL;

    if (iw_registry_open(&reg, NULL) < 0) {
        if (apply) {
            ret = cli_fail("registry");
            goto done;
        }
        reg = NULL;     /* a broken registry does not stop PATH/REPO estimates */
        iw_error_clear();
    }
    if (load_arch(target, reg, &a, &is_entry, &backend) < 0) {
        ret = cli_fail(target);
        goto done;
    }
    if (apply && !is_entry) {
        ret = cli_usage("estimate", "estimate: --apply needs a registry entry NAME ('%s' is not one)", target);
        goto done;
    }
    if (!engine_set) {
        if (backend && iw_engine_parse(backend, &o.engine) == 0)
            ;
        else if ((a.source && !strcmp(a.source, "gguf")) ||
                 (a.quantization.method && !strcmp(a.quantization.method, "gguf")))
            o.engine = IW_ENGINE_LLAMACPP;
        else
            o.engine = IW_ENGINE_VLLM;
        iw_error_clear();
    }
    if (o.engine == IW_ENGINE_VLLM && (o.kv_dtype == IW_KV_Q8_0 || o.kv_dtype == IW_KV_Q4_0)) {
        ret = cli_usage("estimate", "estimate: --kv-dtype %s is for llama.cpp/Ollama; vLLM takes auto, fp16, bf16 or fp8",
                        iw_kv_dtype_name(o.kv_dtype));
        goto done;
    }
    if (o.engine != IW_ENGINE_VLLM && o.kv_dtype == IW_KV_FP8) {
        ret = cli_usage("estimate", "estimate: llama.cpp has no fp8 KV cache; use --kv-dtype q8_0");
        goto done;
    }
    if (o.engine != IW_ENGINE_VLLM && o.tp != 1) {
        ret = cli_usage("estimate", "estimate: --tp applies to vLLM only");
        goto done;
    }
    if (iw_estimate_compute(&a, &o, &e) < 0) {
        ret = cli_fail(target);
        goto done;
    }

    int64_t max_ctx = IW_UNKNOWN, max_batch = IW_UNKNOWN, rec_ctx = 0, rec_batch = 0;
    bool have_budget = o.vram_bytes != IW_UNKNOWN;
    double w_gpu = 0;
    for (size_t i = 0; i < e.n_terms; i++)
        if (!strcmp(e.terms[i].name, "weights"))
            w_gpu = (double)e.terms[i].bytes;
    bool weights_too_big = have_budget && w_gpu > (double)e.budget;
    if (have_budget && !weights_too_big) {
        if (iw_estimate_max_context(&a, &o, e.in.batch, &max_ctx) < 0 ||
            iw_estimate_max_batch(&a, &o, e.in.context, &max_batch) < 0) {
            ret = cli_fail(target);
            goto done;
        }
        if (ctx_set) {
            rec_ctx = e.in.context;
            rec_batch = batch_set ? (e.fits ? e.in.batch : 0) : max_batch;
        } else {
            rec_ctx = max_ctx;
            rec_batch = e.in.batch;
            /* the model maximum fits: offer the concurrency at that context */
            if (!batch_set && max_ctx > 0 && max_ctx == e.max_context &&
                iw_estimate_max_batch(&a, &o, max_ctx, &rec_batch) < 0) {
                ret = cli_fail(target);
                goto done;
            }
        }
        if (rec_ctx > 0 && rec_batch > 0 && iw_estimate_recommend(&e, rec_ctx, rec_batch, &args) < 0) {
            ret = cli_fail(target);
            goto done;
        }
    }

    if (json) {
        if (!(out = iw_estimate_to_json(&e))) {
            ret = cli_fail("estimate");
            goto done;
        }
        cJSON_AddStringToObject(out, "model", target);
        cJSON *inv = cJSON_AddObjectToObject(out, "inverse");
        if (inv && max_ctx != IW_UNKNOWN) {
            cJSON_AddNumberToObject(inv, "max_context", (double)max_ctx);
            cJSON_AddNumberToObject(inv, "max_context_at_batch", (double)e.in.batch);
            cJSON_AddNumberToObject(inv, "max_batch", (double)max_batch);
            cJSON_AddNumberToObject(inv, "max_batch_at_context", (double)e.in.context);
        } else if (inv) {
            cJSON_AddNullToObject(inv, "max_context");
            cJSON_AddNullToObject(inv, "max_batch");
        }
        cJSON *rec = cJSON_AddObjectToObject(out, "recommended");
        cJSON *ra = rec ? cJSON_AddArrayToObject(rec, "args") : NULL;
        for (size_t i = 0; ra && i < args.n; i++)
            cJSON_AddItemToArray(ra, cJSON_CreateString(args.v[i]));
        if (rec && rec_ctx > 0 && rec_batch > 0) {
            cJSON_AddNumberToObject(rec, "context", (double)rec_ctx);
            cJSON_AddNumberToObject(rec, "batch", (double)rec_batch);
        }
        char *s = iw_json_print(out);
        if (!s) {
            ret = cli_fail("estimate");
            goto done;
        }
        fputs(s, stdout);
        free(s);
    } else {
        print_table(stdout, target, &e);
        if (have_budget && !weights_too_big) {
            printf("\ninverse (budget %.2f GiB):\n", (double)e.budget / GIB_D);
            if (max_ctx > 0)
                printf("  max context at batch %" PRId64 ": %" PRId64 " tokens%s\n", e.in.batch, max_ctx,
                       max_ctx == e.max_context ? " (the model's maximum)" : "");
            else
                printf("  max context at batch %" PRId64 ": none fits\n", e.in.batch);
            printf("  max concurrency at context %" PRId64 ": %" PRId64 " sequences\n", e.in.context, max_batch);
            if (e.kv_capacity_tokens != IW_UNKNOWN)
                printf("  KV cache pool: %" PRId64 " tokens\n", e.kv_capacity_tokens);
            if (args.n) {
                printf("recommended:");
                for (size_t i = 0; i < args.n; i++)
                    printf(" %s", args.v[i]);
                printf("\n");
            }
        }
    }

    if (weights_too_big) {
        fprintf(stderr, "imageworks-download: %s: does not fit: weights alone need %.2f GiB on a %.2f GiB budget\n",
                target, w_gpu / GIB_D, (double)e.budget / GIB_D);
        ret = IW_EXIT_FAIL;
        goto done;
    }
    if (have_budget && (rec_ctx <= 0 || rec_batch <= 0)) {
        fprintf(stderr, "imageworks-download: %s: does not fit: %.2f GiB needed at context %" PRId64
                " x batch %" PRId64 " on a %.2f GiB budget (max context at this batch: %" PRId64 ")\n",
                target, (double)e.total / GIB_D, e.in.context, e.in.batch, (double)e.budget / GIB_D,
                max_ctx > 0 ? max_ctx : 0);
        ret = IW_EXIT_FAIL;
        goto done;
    }
    if (apply) {
        apply_ctx ac = {e.in.engine, &args, rec_ctx};
        int rc = iw_registry_upsert(reg, target, apply_fn, &ac);
        if (rc < 0) {
            ret = cli_fail("estimate --apply");
            goto done;
        }
        const cJSON *cur = iw_registry_get_layer(reg, IW_REG_CURATED, target);
        const cJSON *cbc = cur ? cJSON_GetObjectItemCaseSensitive(cur, "backend_config") : NULL;
        if (cbc && cJSON_GetObjectItemCaseSensitive(cbc, "extra_args"))
            fprintf(stderr, "imageworks-download: warning: the curated entry '%s' sets backend_config.extra_args, "
                    "which overrides the applied values in the merged registry\n", target);
        if (!json)
            printf("applied to registry entry '%s' (%s)\n", target, iw_registry_path(reg, IW_REG_DISCOVERED));
    }
    ret = IW_EXIT_OK;
done:
    cJSON_Delete(out);
    iw_strlist_free(&args);
    iw_estimate_free(&e);
    iw_arch_free(&a);
    if (reg)
        iw_registry_close(reg);
    return ret;
}
