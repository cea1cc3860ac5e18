/* cmd_inspect.c - `inspect PATH|FILE|REPO [--revision REV] [--tensors FILE.csv] [--json]`
 *
 * What the user named becomes a file provider (iw_catalog_provider: a local
 * folder or file, Ollama's store or server, a Hub repo by HTTP Range) and the library's
 * pipeline (iw_inspect) reads it; this file prints the record. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/inspect.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "iwdl/schema.h"
#include "iwdl/catalog.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download inspect PATH|FILE|REPO [--revision REV] [--tensors FILE.csv] [--json]\n"
        "\n"
        "Print the architecture of a local model folder, a .gguf or .safetensors file,\n"
        "an Ollama model (ollama:NAME:TAG) or a remote repo (org/name, headers only by\n"
        "HTTP Range; weights are never downloaded).  An Ollama model is read from\n"
        "Ollama's store (OLLAMA_MODELS, ~/.ollama/models); when the store lacks it and\n"
        "OLLAMA_HOST is set, from the server's POST /api/show.\n"
        "\n"
        "  --revision REV       branch, tag or commit of a remote repo (default main)\n"
        "  --tensors FILE.csv   also write the tensor listing (kind,name,shape,dtype)\n"
        "  --json               print metadata.architecture as JSON (docs/registry.md)\n"
        "  -h, --help           this help\n");
}

static void opt_int(FILE *f, const char *label, int64_t v)
{
    if (v >= 0)
        fprintf(f, "  %s %" PRId64, label, v);
}

/* A GGUF whose tensors are all one float type has that dtype ("F32" ->
 * "float32"), not a quantization. */
static const char *gguf_float_dtype(const iw_arch *a)
{
    const char *l = a->quantization.label;
    if (!iw_arch_is_gguf(a) || !l)
        return NULL;
    return !strcmp(l, "F32") ? "float32" : !strcmp(l, "F16") ? "float16" : !strcmp(l, "BF16") ? "bfloat16" : NULL;
}

/* Prints what is known and omits what is not: a line only when one of its
 * values is known, never a "?". */
static void print_table(FILE *f, const iw_arch *a)
{
    char b1[64], b2[64];
    if (a->model_type || a->architecture) {
        fprintf(f, "model      %s", a->model_type ? a->model_type : a->architecture);
        if (a->model_type && a->architecture)
            fprintf(f, " (%s)", a->architecture);
        if (a->source)
            fprintf(f, "   source: %s", a->source);
        fprintf(f, "\n");
    } else if (a->source) {
        fprintf(f, "source     %s\n", a->source);
    }

    if (a->num_layers >= 0 || a->num_attention_heads >= 0 || a->num_kv_heads >= 0 || a->head_dim >= 0) {
        fprintf(f, "layers    ");
        opt_int(f, "", a->num_layers);
        opt_int(f, " heads", a->num_attention_heads);
        opt_int(f, " kv_heads", a->num_kv_heads);
        opt_int(f, " head_dim", a->head_dim);
        if (a->attention.type != IW_ATTN_UNKNOWN)
            fprintf(f, "  (%s)", iw_attn_type_name(a->attention.type));
        fprintf(f, "\n");
    }

    if (a->hidden_size >= 0 || a->intermediate_size >= 0 || a->vocab_size >= 0) {
        fprintf(f, "widths    ");
        opt_int(f, " hidden", a->hidden_size);
        opt_int(f, " intermediate", a->intermediate_size);
        opt_int(f, " vocab", a->vocab_size);
        fprintf(f, "\n");
    }

    if (a->context_length >= 0 || a->max_position_embeddings >= 0 || !isnan(a->rope_theta) || a->rope_scaling_json) {
        fprintf(f, "context   ");
        if (a->context_length >= 0)
            opt_int(f, " ", a->context_length);
        else
            fprintf(f, "  max_position_embeddings %" PRId64, a->max_position_embeddings);
        if (a->context_length >= 0 && a->max_position_embeddings >= 0 && a->max_position_embeddings != a->context_length)
            fprintf(f, " (max_position_embeddings %" PRId64 ")", a->max_position_embeddings);
        if (!isnan(a->rope_theta))
            fprintf(f, "  rope_theta %g", a->rope_theta);
        if (a->rope_scaling_json)
            fprintf(f, "  rope_scaling %s", a->rope_scaling_json);
        fprintf(f, "\n");
    }

    int64_t swa = iw_arch_count_layers(a, IW_LAYER_SLIDING);
    int64_t chunked = iw_arch_count_layers(a, IW_LAYER_CHUNKED);
    int64_t lin = iw_arch_count_layers(a, IW_LAYER_LINEAR) + iw_arch_count_layers(a, IW_LAYER_MAMBA);
    if (a->attention.kv_lora_rank >= 0)
        fprintf(f, "mla        kv_lora_rank %" PRId64 "  qk_rope_head_dim %" PRId64 "  q_lora_rank %" PRId64 "\n",
                a->attention.kv_lora_rank, a->attention.qk_rope_head_dim, a->attention.q_lora_rank);
    if (swa > 0 || a->attention.sliding_window >= 0)
        fprintf(f, "sliding    window %" PRId64 " on %" PRId64 " of %" PRId64 " layers\n",
                a->attention.sliding_window, swa > 0 ? swa : 0, a->num_layers);
    if (chunked > 0)
        fprintf(f, "chunked    chunk %" PRId64 " on %" PRId64 " layers\n", a->attention.chunk_size, chunked);
    if (lin > 0)
        fprintf(f, "hybrid     %" PRId64 " recurrent (mamba/linear) layers, %" PRId64 " attention layers\n",
                lin, a->num_layers - lin);
    if (a->moe.num_experts > 0) {
        fprintf(f, "moe        %" PRId64 " experts, %" PRId64 " per token", a->moe.num_experts, a->moe.experts_per_token);
        opt_int(f, " expert_width", a->moe.expert_intermediate_size);
        opt_int(f, " shared", a->moe.shared_experts);
        opt_int(f, " dense_layers", a->moe.num_dense_layers);
        fprintf(f, "\n");
    }
    if (a->is_encoder_decoder)
        fprintf(f, "enc-dec    encoder %" PRId64 " layers, decoder %" PRId64 " layers\n", a->encoder_layers, a->decoder_layers);
    if (a->has_vision) {
        const iw_vision *v = &a->vision;
        if (v->num_layers >= 0 || v->hidden_size >= 0 || v->image_size >= 0 || v->patch_size >= 0 || v->params >= 0) {
            fprintf(f, "vision    ");
            opt_int(f, " layers", v->num_layers);
            opt_int(f, " hidden", v->hidden_size);
            opt_int(f, " image", v->image_size);
            opt_int(f, " patch", v->patch_size);
            opt_int(f, " params", v->params);
            fprintf(f, "\n");
        } else {
            fprintf(f, "vision     a vision tower (its sizes are not in the files read)\n");
        }
    }
    const char *dtype = a->torch_dtype ? a->torch_dtype : gguf_float_dtype(a);
    bool quant = a->quantization.method && !gguf_float_dtype(a);
    if (dtype)
        fprintf(f, "dtype      %s", dtype);
    if (quant) {
        fprintf(f, dtype ? "  quant %s" : "quant      %s",
                a->quantization.label ? a->quantization.label : a->quantization.method);
        if (!isnan(a->quantization.bits))
            fprintf(f, " %gbit", a->quantization.bits);
        if (a->quantization.group_size > 0)
            fprintf(f, " g%" PRId64, a->quantization.group_size);
        if (!isnan(a->quantization.effective_bits))
            fprintf(f, " (%.3g bits/weight effective)", a->quantization.effective_bits);
        if (a->quantization.detail)
            fprintf(f, " [%s]", a->quantization.detail);
    }
    if (dtype || quant)
        fprintf(f, "\n");
    if (a->parameters.total >= 0) {
        cli_grouped(b1, sizeof b1, a->parameters.total);
        fprintf(f, "params     %s (%s)", b1, a->parameters.source ? a->parameters.source : "?");
        if (a->parameters.active >= 0 && a->parameters.active != a->parameters.total) {
            cli_grouped(b2, sizeof b2, a->parameters.active);
            fprintf(f, "  active %s", b2);
        }
        if (a->parameters.embedding >= 0) {
            cli_grouped(b2, sizeof b2, a->parameters.embedding);
            fprintf(f, "  embedding %s", b2);
        }
        fprintf(f, "\n");
    }
    if (a->weights_bytes >= 0) {
        cli_human_bytes(b1, sizeof b1, (double)a->weights_bytes, 2);
        cli_grouped(b2, sizeof b2, a->weights_bytes);
        fprintf(f, "weights    %s (%s bytes)\n", b1, b2);
    }
    if (a->kv_bytes_per_token >= 0) {
        cli_grouped(b1, sizeof b1, a->kv_bytes_per_token);
        fprintf(f, "kv cache   %s bytes/token", b1);
        if (a->kv_bytes_per_token_swa > 0)
            fprintf(f, " (full %" PRId64 " + sliding %" PRId64 ")", a->kv_bytes_per_token_full, a->kv_bytes_per_token_swa);
        fprintf(f, " at %s\n", a->kv_precision ? a->kv_precision : "bf16");
    }
    if (a->ollama_num_ctx > 0)
        fprintf(f, "ollama     num_ctx %" PRId64 " (the context Ollama serves by default)\n", a->ollama_num_ctx);
    for (size_t i = 0; i < a->warnings.n; i++)
        fprintf(f, "warning    %s\n", a->warnings.v[i]);
}

static int print_json(const iw_arch *a, int64_t bytes_transferred)
{
    cJSON *j = iw_arch_to_json(a);
    if (!j)
        return cli_fail("inspect");
    if (bytes_transferred >= 0)
        cJSON_AddNumberToObject(j, "bytes_transferred", (double)bytes_transferred);
    char *s = iw_json_print(j);
    cJSON_Delete(j);
    if (!s)
        return cli_fail("inspect");
    fputs(s, stdout);
    free(s);
    return IW_EXIT_OK;
}

/* --tensors: the listing of the files the architecture was read from. */
static int write_tensors(const char *target, const iw_arch *a, const iw_buf *csv, const char *path)
{
    if (a->source && strcmp(a->source, "ollama-api") == 0)
        return iw_error_set(IW_EUNSUPPORTED, "--tensors needs %s in the local Ollama store (set OLLAMA_MODELS); "
                            "the server's /api/show answer was used", target);
    const char *header_end = csv->data ? strchr(csv->data, '\n') : NULL;
    if (!header_end || !header_end[1])     /* no row after "kind,name,shape,dtype" */
        return iw_error_set(IW_ENOTFOUND, "%s: no safetensors or GGUF files to list", target);
    return iw_write_atomic(path, csv->data, csv->len);
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        { "revision", required_argument, NULL, 'r' },
        { "tensors", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *revision = NULL, *tensors = NULL;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "r:t:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': revision = optarg; break;
        case 't': tensors = optarg; break;
        case 'j': json = 1; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("inspect", "inspect: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("inspect", "inspect: expected one PATH, FILE or REPO");
    const char *target = argv[optind];

    if (revision && !iw_catalog_is_repo_id(target))
        return cli_usage("inspect", "inspect: --revision applies to a remote REPO only");
    iw_arch a;
    iw_arch_init(&a);
    iw_buf csv = IW_BUF_INIT(IW_BUF_UNCAPPED);
    iw_inspect_opts o = IW_INSPECT_OPTS_INIT;
    o.tensors_csv = tensors ? &csv : NULL;
    int64_t transferred = -1;
    if (iw_catalog_inspect(target, revision, &o, &a, &transferred) < 0) {
        iw_buf_free(&csv);
        iw_arch_free(&a);
        return cli_fail(target);
    }
    if (tensors && write_tensors(target, &a, &csv, tensors) < 0) {
        iw_buf_free(&csv);
        iw_arch_free(&a);
        return cli_fail(tensors);
    }
    iw_buf_free(&csv);
    int ret = json ? print_json(&a, transferred) : (print_table(stdout, &a), IW_EXIT_OK);
    iw_arch_free(&a);
    return ret;
}
