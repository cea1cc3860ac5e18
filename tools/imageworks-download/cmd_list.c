/* cmd_list.c - `imageworks-download list [--json]`: the merged registry. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/catalog.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download list [--json]\n"
        "\n"
        "List the entries of the merged registry (model_registry.json view: discovered\n"
        "entries with curated fields over them) in IMAGEWORKS_REGISTRY_DIR.\n"
        "\n"
        "  --json      one JSON array of rows: name, display_name, backend, format,\n"
        "              quantization, location, installed, validated, size_bytes, roles, family,\n"
        "              logical_only, served_model_id, deprecated, capabilities, producer\n"
        "  -h, --help  this help\n");
}

static const char *s_or(const cJSON *e, const char *key, const char *dflt)
{
    const char *s = iw_json_get_str(e, key);
    return s && *s ? s : dflt;
}

int cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("list", "list: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage("list", "list: unexpected argument '%s'", argv[optind]);
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("list");
    const cJSON *arr = iw_registry_entries(r, IW_REG_MERGED), *e;
    if (json) {
        cJSON *out = iw_catalog_list_rows(r);
        char *s = out ? iw_json_print(out) : NULL;
        if (s)
            fputs(s, stdout);
        free(s);
        cJSON_Delete(out);
    } else {
        printf("%-48s %-10s %-12s %-10s %10s %-9s %s\n", "NAME", "BACKEND", "FORMAT", "QUANT", "SIZE", "INSTALLED",
               "VALIDATED");
        cJSON_ArrayForEach(e, arr) {
            char sz[32] = "-";
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "download_size_bytes");
            if (cJSON_IsNumber(b))
                cli_human_bytes(sz, sizeof sz, b->valuedouble, 1);
            printf("%-48s %-10s %-12s %-10s %10s %-9s %s\n", s_or(e, "name", "?"), s_or(e, "backend", "-"),
                   s_or(e, "download_format", "-"), s_or(e, "quantization", "-"), sz,
                   iw_catalog_entry_installed(e) ? "yes" : "no", iw_catalog_entry_validated(e) ? "yes" : "");
        }
        if (!cJSON_GetArraySize(arr))
            printf("(registry in %s is empty)\n", iw_registry_dir(r));
    }
    iw_registry_close(r);
    return IW_EXIT_OK;
}
