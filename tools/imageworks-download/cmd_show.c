/* cmd_show.c - `imageworks-download show NAME [--json]`. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download show NAME [--json]\n"
        "\n"
        "Show one entry of the merged registry (curated fields over discovered).\n"
        "\n"
        "  --json      the whole merged entry as JSON, every key as stored\n"
        "  -h, --help  this help\n");
}

static void line_str(const cJSON *o, const char *key, const char *label)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v))
        printf("%-22s %s\n", label, v->valuestring);
    else if (cJSON_IsNumber(v))
        printf("%-22s %.15g\n", label, v->valuedouble);
    else if (cJSON_IsBool(v))
        printf("%-22s %s\n", label, cJSON_IsTrue(v) ? "true" : "false");
}

/* The parameter count: params_billion is stored to 0.01 B (the original's
 * form), which reads 0 for a model under 5M parameters, so the exact
 * parameters.total is shown when the entry has it. */
static void line_params(const cJSON *a)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(a, "parameters");
    int64_t total = 0;
    if (iw_json_get_i64(p, "total", &total) && total > 0) {
        char grouped[48];
        cli_grouped(grouped, sizeof grouped, total);
        printf("%-22s %s (%.4g B)\n", "  parameters", grouped, (double)total / 1e9);
        return;
    }
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(a, "params_billion");
    if (cJSON_IsNumber(pb) && pb->valuedouble > 0)
        printf("%-22s %.6g\n", "  params_billion", pb->valuedouble);
}

int cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("show", "show: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("show", "show: expected one entry NAME");
    const char *name = argv[optind];
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("show");
    const cJSON *e = iw_registry_get(r, name);
    if (!e) {
        fprintf(stderr, "imageworks-download: show: no registry entry named '%s' in %s (see 'imageworks-download list')\n",
                name, iw_registry_dir(r));
        iw_registry_close(r);
        return IW_EXIT_FAIL;
    }
    if (json) {
        char *s = iw_json_print(e);
        if (s)
            fputs(s, stdout);
        free(s);
    } else {
        line_str(e, "name", "name");
        line_str(e, "display_name", "display name");
        line_str(e, "backend", "backend");
        line_str(e, "download_format", "format");
        line_str(e, "quantization", "quantization");
        line_str(e, "download_path", "path");
        line_str(e, "download_size_bytes", "size (bytes)");
        line_str(e, "downloaded_at", "downloaded at");
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(e, "metadata");
        line_str(md, "hf_repo_id", "repo");
        line_str(md, "hf_commit", "commit");
        const cJSON *bc = cJSON_GetObjectItemCaseSensitive(e, "backend_config");
        line_str(bc, "port", "port");
        const cJSON *xa = cJSON_GetObjectItemCaseSensitive(bc, "extra_args");
        if (cJSON_IsArray(xa)) {
            char *s = cJSON_PrintUnformatted(xa);
            printf("%-22s %s\n", "extra args", s ? s : "");
            free(s);
        }
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(md, "architecture");
        if (cJSON_IsObject(a)) {
            printf("architecture:\n");
            static const char *const K[] = { "model_type", "num_layers", "hidden_size", "num_attention_heads",
                "num_kv_heads", "head_dim", "context_length", "vocab_size", "params_billion", "weights_bytes",
                "kv_bytes_per_token", "kv_precision", "torch_dtype", "source", "collected_at" };
            for (size_t i = 0; i < sizeof K / sizeof K[0]; i++) {
                char lab[40];
                snprintf(lab, sizeof lab, "  %s", K[i]);
                if (!strcmp(K[i], "params_billion"))
                    line_params(a);
                else
                    line_str(a, K[i], lab);
            }
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(a, "quantization");
            line_str(q, "label", "  quantization");
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(a, "warnings"), *it;
            cJSON_ArrayForEach(it, w)
                if (cJSON_IsString(it))
                    printf("  warning: %s\n", it->valuestring);
            if (cJSON_GetObjectItemCaseSensitive(a, "runtime"))
                printf("  runtime metrics recorded (see --json)\n");
        }
    }
    iw_registry_close(r);
    return IW_EXIT_OK;
}
