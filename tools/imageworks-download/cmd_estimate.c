/* cmd_estimate.c - `estimate NAME|PATH|REPO [--engine E] [--context N]
 *   [--batch N] [--kv-dtype T] [--tp N] [--gpu-util F] [--vram SIZE|--gpu NAME]
 *   [--profile NAME] [--profiles FILE] [--params-b N] [--dtype D]
 *   [--quantization Q] [--max-model-len N] [--trust-remote-code]
 *   [--emit vllm|llama.cpp|ollama|compose] [--port N] [--apply] [--json]`
 *
 * Flags only: the pipeline is estimate_run.c, which `serve` shares.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/catalog.h"

#define GIB_D 1073741824.0

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download estimate NAME|PATH|REPO [--engine vllm[@VERSION]|llama.cpp|ollama]\n"
        "        [--context N] [--batch N] [--kv-dtype T] [--tp N] [--gpu-util F]\n"
        "        [--vram SIZE | --gpu NAME] [--profile NAME] [--profiles FILE]\n"
        "        [--params-b N] [--dtype D] [--quantization Q] [--max-model-len N]\n"
        "        [--trust-remote-code] [--emit vllm|llama.cpp|ollama|compose] [--port N]\n"
        "        [--calibrate] [--apply] [--json]\n"
        "\n"
        "Estimate GPU memory for a registry entry (NAME), a local folder or file (PATH),\n"
        "an Ollama model (ollama:NAME:TAG) or a remote repo (org/name, headers only).\n"
        "With --vram/--gpu also print the largest context and concurrency that fit, a\n"
        "verdict (fits / tight / does not fit) with the cheapest change that would fit,\n"
        "and the launch arguments.\n"
        "\n"
        "  --engine E        vllm (default; llama.cpp for GGUF; the entry's backend for NAME);\n"
        "                    vllm@0.8, vllm@0.10.1, ...: that vLLM version's rules (vllm = the newest)\n"
        "  --context N       tokens per sequence (default: model maximum; Ollama: its num_ctx,\n"
        "                    else 4096 / 32768 / 262144 by VRAM, at most the model maximum)\n"
        "  --batch N         concurrent sequences (default 1)\n"
        "  --kv-dtype T      auto, fp16, bf16, f32; fp8 (vLLM only); q8_0, q4_0 (llama.cpp/Ollama)\n"
        "  --tp N            vLLM tensor-parallel size (per-GPU figures)\n"
        "  --gpu-util F      vLLM gpu_memory_utilization (default: the profile's, 0.90)\n"
        "  --vram SIZE       memory of one GPU: 24GiB, 24G, 24000MB, bytes\n"
        "  --gpu NAME        a GPU from the profiles file (--gpu list prints them)\n"
        "  --profile NAME    overheads and margins (--profile list prints them; default:\n"
        "                    the GPU's profile, else 'default', which adds no margin)\n"
        "  --profiles FILE   profiles/GPUs merged over the shipped ones (also\n"
        "                    $IMAGEWORKS_ESTIMATE_PROFILES, $XDG_CONFIG_HOME/imageworks/estimate_profiles.json)\n"
        "  --params-b N      parameters in billions when the files cannot count them\n"
        "                    (ignored, and said so, when tensor headers give the exact count)\n"
        "  --dtype D         auto, fp32, fp16, bf16, fp8, int8 (auto: the checkpoint's torch_dtype,\n"
        "                    else bf16; vLLM loads float32 checkpoints in 16-bit)\n"
        "  --quantization Q  none, awq, gptq, int8, fp8, bnb4, bnb8, mxfp4: fp8 and bnb4 are\n"
        "                    quantized by vLLM at load; the others size a 4/8-bit variant\n"
        "  --max-model-len N cap the model's context (never above its real maximum)\n"
        "  --trust-remote-code  recorded and passed to vLLM launches\n"
        "  --emit K          print a ready-to-run launch instead of the table: vllm (vllm serve),\n"
        "                    llama.cpp (llama-server), ollama (Modelfile), compose (docker compose)\n"
        "  --port N          port for --emit (default: the entry's backend_config.port)\n"
        "  --max-num-batched-tokens N, --enforce-eager   vLLM profile inputs\n"
        "  --max-num-seqs N  vLLM max_num_seqs: sizes the sampler of vLLM's profiling run\n"
        "                    (default: the version's serve default for the GPU, 1024 or 256)\n"
        "  --mxfp4-backend B marlin, triton, flashinfer, cutlass: the MoE kernel that pads MXFP4\n"
        "                    experts (default: from --gpu: Hopper triton, Blackwell flashinfer, else marlin)\n"
        "  --ngl N, --ubatch N, --flash-attn on|off      llama.cpp profile inputs\n"
        "  --n-batch N       llama.cpp -b (default 2048; Ollama: its batch)\n"
        "  --llama-app A     server (llama-server, Ollama: one output row per slot; default)\n"
        "                    or cli (llama-cli, llama-bench, the library: logits for the ubatch)\n"
        "  --calibrate       correct the heuristic terms (activations, non-torch, CUDA graphs,\n"
        "                    compute) with the entry's newest measured start of this engine\n"
        "                    (reconcile-architecture --engine-log); the inverse answers and\n"
        "                    --apply use them.  Measured starts are always shown next to\n"
        "                    their predictions\n"
        "  --apply           write the recommendation into the registry entry NAME\n"
        "  --json            machine-readable output\n");
}

enum { O_MBT = 1000, O_EAGER, O_NGL, O_UBATCH, O_FA, O_PROFILE, O_PROFILES, O_PARAMS, O_DTYPE, O_QUANT,
       O_MML, O_TRC, O_EMIT, O_PORT, O_NBATCH, O_LAPP, O_SEQS, O_MXFP4, O_CALIBRATE };

/* The integer flags: the request's field (its range is the library's) and
 * what the usage line says when the value is not one. */
typedef struct int_flag { int code; const char *flag, *key, *why; } int_flag;
static const int_flag int_flags[] = {
    {'c', "context", "context", ": expected tokens 1..2147483648"}, {'b', "batch", "batch", ": expected 1..1048576"},
    {'t', "tp", "tp", ": expected 1..1024"}, {O_MBT, "max-num-batched-tokens", "max_num_batched_tokens", " invalid"},
    {O_SEQS, "max-num-seqs", "max_num_seqs", ": expected 1..1048576"}, {O_NGL, "ngl", "ngl", " invalid"},
    {O_UBATCH, "ubatch", "ubatch", " invalid"}, {O_NBATCH, "n-batch", "n_batch", " invalid"},
    {O_MML, "max-model-len", "max_model_len", ": expected tokens 1..2147483648"},
    {O_PORT, "port", "port", ": expected 1..65535"}, {0, NULL, NULL, NULL},
};

static int set_int(iw_estimate_request *rq, const char *key, const char *s)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    if (v == -1 && !strcmp(key, "ngl")) {   /* --ngl -1: every layer, as llama.cpp reads it */
        rq->opts.n_gpu_layers = IW_UNKNOWN;
        return 0;
    }
    return iw_catalog_estimate_request_set_int(rq, key, v);
}

static int list_profiles(const char *file, bool gpus)
{
    iw_est_profiles *ps = NULL;
    if (iw_est_profiles_load(&ps, file) < 0)
        return cli_fail("profiles");
    printf("# %s\n", iw_est_profiles_origin(ps));
    if (gpus) {
        for (size_t i = 0; i < iw_est_profiles_gpu_count(ps); i++) {
            const iw_est_gpu_spec *g = iw_est_profiles_gpu_at(ps, i);
            printf("%-12s %7.1f GiB%s%s\n", g->name, (double)g->bytes / GIB_D, g->profile[0] ? "  profile " : "",
                   g->profile);
        }
    } else {
        const iw_est_profile *d = iw_est_profiles_get(ps, NULL);
        for (size_t i = 0; i < iw_est_profiles_count(ps); i++) {
            const iw_est_profile *p = iw_est_profiles_at(ps, i);
            printf("%c %-24s %s\n", p == d ? '*' : ' ', p->name, p->description);
        }
    }
    iw_est_profiles_free(ps);
    return IW_EXIT_OK;
}

int cmd_estimate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"engine", required_argument, NULL, 'e'}, {"context", required_argument, NULL, 'c'},
        {"batch", required_argument, NULL, 'b'}, {"kv-dtype", required_argument, NULL, 'k'},
        {"tp", required_argument, NULL, 't'}, {"gpu-util", required_argument, NULL, 'u'},
        {"vram", required_argument, NULL, 'v'}, {"gpu", required_argument, NULL, 'g'},
        {"apply", no_argument, NULL, 'a'}, {"json", no_argument, NULL, 'j'},
        {"max-num-batched-tokens", required_argument, NULL, O_MBT},
        {"enforce-eager", no_argument, NULL, O_EAGER}, {"ngl", required_argument, NULL, O_NGL},
        {"ubatch", required_argument, NULL, O_UBATCH}, {"flash-attn", required_argument, NULL, O_FA},
        {"n-batch", required_argument, NULL, O_NBATCH}, {"llama-app", required_argument, NULL, O_LAPP},
        {"profile", required_argument, NULL, O_PROFILE}, {"profiles", required_argument, NULL, O_PROFILES},
        {"params-b", required_argument, NULL, O_PARAMS}, {"dtype", required_argument, NULL, O_DTYPE},
        {"quantization", required_argument, NULL, O_QUANT}, {"max-model-len", required_argument, NULL, O_MML},
        {"trust-remote-code", no_argument, NULL, O_TRC}, {"emit", required_argument, NULL, O_EMIT},
        {"port", required_argument, NULL, O_PORT}, {"max-num-seqs", required_argument, NULL, O_SEQS},
        {"mxfp4-backend", required_argument, NULL, O_MXFP4}, {"calibrate", no_argument, NULL, O_CALIBRATE},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    iw_estimate_request rq;
    iw_catalog_estimate_request_init(&rq);
    iw_est_opts *o = &rq.opts;
    bool json = false, list_gpus = false, list_profs = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const int_flag *f = int_flags;
        while (f->key && f->code != c)
            f++;
        if (f->key) {
            if (set_int(&rq, f->key, optarg) < 0)
                return cli_usage("estimate", "estimate: --%s '%s'%s", f->flag, optarg, f->why);
            continue;
        }
        switch (c) {
        case 'e': case 'k': case O_DTYPE: case O_EMIT:   /* the library's message names the value */
            if (iw_catalog_estimate_request_set_str(&rq, c == 'e' ? "engine" : c == 'k' ? "kv_dtype" : c == O_DTYPE ?
                                                    "dtype" : "emit", optarg) < 0)
                return cli_usage("estimate", c == O_DTYPE ? "estimate: --%s" : "estimate: %s", iw_error_last());
            break;
        case 'u': case O_PARAMS: {
            char *end = NULL;
            errno = 0;
            double d = strtod(optarg, &end);
            if ((errno && c == O_PARAMS) || end == optarg || *end ||
                iw_catalog_estimate_request_set_num(&rq, c == 'u' ? "gpu_util" : "params_b", d) < 0)
                return cli_usage("estimate", c == 'u' ? "estimate: --gpu-util '%s': expected a fraction in (0, 1]"
                                 : "estimate: --params-b '%s': expected billions of parameters, e.g. 7 or 0.5", optarg);
            break;
        }
        case 'v':
            if (iw_catalog_estimate_request_set_str(&rq, "vram", optarg) < 0)
                return cli_usage("estimate", "estimate: --vram: %s", iw_error_last());
            rq.gpu = NULL;
            break;
        case 'g':
            if (!strcmp(optarg, "list"))
                list_gpus = true;
            else
                rq.gpu = optarg;
            break;
        case 'a': rq.apply = true; break;
        case O_CALIBRATE: rq.calibrate = true; break;
        case 'j': json = true; break;
        case O_EAGER: o->enforce_eager = true; break;
        case O_MXFP4:
        case O_LAPP:
            if (iw_catalog_estimate_request_set_str(&rq, c == O_MXFP4 ? "mxfp4_backend" : "llama_app", optarg) < 0)
                return cli_usage("estimate", c == O_MXFP4 ? "estimate: --mxfp4-backend '%s': expected marlin, triton, "
                                 "flashinfer or cutlass" : "estimate: --llama-app '%s': expected server or cli", optarg);
            break;
        case O_FA:
            if (!strcmp(optarg, "on") || !strcmp(optarg, "1")) o->flash_attn = 1;
            else if (!strcmp(optarg, "off") || !strcmp(optarg, "0")) o->flash_attn = 0;
            else return cli_usage("estimate", "estimate: --flash-attn '%s': expected on or off", optarg);
            break;
        case O_PROFILE:
            if (!strcmp(optarg, "list"))
                list_profs = true;
            else
                rq.profile = optarg;
            break;
        case O_PROFILES: rq.profiles_file = optarg; break;
        case O_QUANT: rq.ov.quantization = optarg; break;
        case O_TRC: rq.ov.trust_remote_code = true; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("estimate", "estimate: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (list_gpus || list_profs)
        return list_profiles(rq.profiles_file, list_gpus);
    if (optind != argc - 1)
        return cli_usage("estimate", "estimate: expected one NAME, PATH or REPO");
    rq.target = argv[optind];
    if (rq.apply && o->vram_bytes == IW_UNKNOWN && !rq.gpu)
        return cli_usage("estimate", "estimate: --apply needs a budget (--vram SIZE or --gpu NAME)");

    iw_registry *reg = NULL;
    if (iw_registry_open(&reg, NULL) < 0) {
        if (rq.apply)
            return cli_fail("registry");
        reg = NULL;     /* a broken registry does not stop PATH/REPO estimates */
        iw_error_clear();
    }
    iw_estimate_answer res;
    iw_catalog_estimate(reg, &rq, &res);
    int rc = res.status;
    if (json && res.json) {
        char *s = iw_json_print(res.json);
        if (s)
            fputs(s, stdout);
        free(s);
    } else if (rq.emit_set && res.emitted && rc == 0) {
        fputs(res.emitted, stdout);
    } else if (res.text && !rq.emit_set) {
        fputs(res.text, stdout);
    }
    if (res.apply_warning)
        fprintf(stderr, "imageworks-download: note: %s\n", res.apply_warning);
    if (rc == 0 && res.applied_to && !json && !rq.emit_set)
        printf("applied to registry entry '%s' (%s)\n", rq.target, res.applied_to);
    if (rc == IW_EXIT_USAGE)
        rc = cli_usage("estimate", "estimate: %s", res.error ? res.error : "invalid arguments");
    else if (rc != 0)
        fprintf(stderr, "imageworks-download: %s\n", res.error ? res.error : "estimate failed");
    iw_catalog_estimate_answer_free(&res);
    if (reg)
        iw_registry_close(reg);
    return rc;
}
