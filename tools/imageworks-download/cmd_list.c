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

static bool validated(const cJSON *e)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    const cJSON *a = md ? cJSON_GetObjectItemCaseSensitive(md, "architecture") : NULL;
    bool v = false;
    return a && iw_json_get_bool(a, "validated", &v) && v;
}

static cJSON *dup_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

static cJSON *row_of(const cJSON *e)
{
    const char *path = iw_json_get_str(e, "download_path");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(e, "download_format");
    cJSON *r = cJSON_CreateObject();
    if (!r)
        return NULL;
    cJSON_AddItemToObject(r, "name", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "name")));
    cJSON_AddItemToObject(r, "display_name", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "display_name")));
    cJSON_AddItemToObject(r, "backend", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "backend")));
    cJSON_AddItemToObject(r, "format", dup_or_null(fmt));
    cJSON_AddItemToObject(r, "quantization", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "quantization")));
    cJSON_AddItemToObject(r, "location", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "download_location")));
    cJSON_AddBoolToObject(r, "installed", iw_catalog_entry_installed(e));
    cJSON_AddBoolToObject(r, "validated", validated(e));
    cJSON_AddItemToObject(r, "size_bytes", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "download_size_bytes")));
    const cJSON *roles = cJSON_GetObjectItemCaseSensitive(e, "roles");
    cJSON_AddItemToObject(r, "roles", roles ? cJSON_Duplicate(roles, 1) : cJSON_CreateArray());
    cJSON_AddItemToObject(r, "family", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "family")));
    cJSON_AddBoolToObject(r, "logical_only", !path || !*path);
    cJSON_AddItemToObject(r, "served_model_id", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "served_model_id")));
    cJSON_AddItemToObject(r, "deprecated", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "deprecated")));
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(e, "capabilities");
    cJSON_AddItemToObject(r, "capabilities", caps ? cJSON_Duplicate(caps, 1) : cJSON_CreateObject());
    cJSON_AddItemToObject(r, "producer", dup_or_null(cJSON_GetObjectItemCaseSensitive(e, "source_provider")));
    return r;
}

static void human_size(double b, char *out, size_t n)
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
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
        cJSON *out = cJSON_CreateArray();
        cJSON_ArrayForEach(e, arr) {
            cJSON *row = row_of(e);
            if (row)
                cJSON_AddItemToArray(out, row);
        }
        char *s = iw_json_print(out);
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
                human_size(b->valuedouble, sz, sizeof sz);
            printf("%-48s %-10s %-12s %-10s %10s %-9s %s\n", s_or(e, "name", "?"), s_or(e, "backend", "-"),
                   s_or(e, "download_format", "-"), s_or(e, "quantization", "-"), sz,
                   iw_catalog_entry_installed(e) ? "yes" : "no", validated(e) ? "yes" : "");
        }
        if (!cJSON_GetArraySize(arr))
            printf("(registry in %s is empty)\n", iw_registry_dir(r));
    }
    iw_registry_close(r);
    return IW_EXIT_OK;
}
