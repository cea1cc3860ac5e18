/* cmd_verify.c - `imageworks-download verify [NAME]`: re-hash installed
 * files against artifacts.files; exit 1 when anything is missing/changed. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download verify [NAME]\n"
        "\n"
        "Check installed files against the registry: every artifacts.files[] entry of\n"
        "NAME (or of every entry that records files) must exist under download_path\n"
        "with the recorded size and, when a sha256 was recorded, the same sha256.\n"
        "Files with neither (an entry the original imageworks saved) are checked\n"
        "through download_directory_checksum.\n"
        "An Ollama model (download_path ollama:NAME:TAG, or backend ollama with a\n"
        "served_model_id) is checked in Ollama's store (OLLAMA_MODELS): its manifest and\n"
        "every blob it names must exist and hash to the sha256 in the blob's name.\n"
        "Prints one line per problem (MISSING, SIZE, CHANGED, UNSAFE) and a summary.\n"
        "Exit 0 when all files match, 1 when any is missing or changed.\n"
        "\n"
        "  -h, --help  this help\n");
}

/* "MISSING  name: what", one line per problem */
static void print_problem(iw_verify_status s, const char *name, const char *message, void *ud)
{
    (void)ud;
    static const char *const label[] = { "OK", "MISSING", "SIZE", "CHANGED", "UNSAFE" };
    printf("%-8s %s: %s\n", label[s], name, message);
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("verify", "verify: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return cli_usage("verify", "verify: expected at most one entry NAME");
    const char *name = optind < argc ? argv[optind] : NULL;
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("verify");
    iw_verify_stats st = { 0 };
    if (name) {
        const cJSON *e = iw_registry_get(r, name);
        if (!e) {
            fprintf(stderr, "imageworks-download: verify: no registry entry named '%s' in %s\n", name, iw_registry_dir(r));
            iw_registry_close(r);
            return IW_EXIT_FAIL;
        }
        iw_catalog_verify_entry(e, print_problem, NULL, &st);
        if (st.entries == 0)
            printf("%s: no files recorded in artifacts.files; nothing to verify\n", name);
    } else {
        const cJSON *e;
        cJSON_ArrayForEach(e, iw_registry_entries(r, IW_REG_MERGED))
            iw_catalog_verify_entry(e, print_problem, NULL, &st);
    }
    printf("verified %zu entr%s, %zu file%s: %zu ok, %zu missing, %zu changed\n", st.entries,
           st.entries == 1 ? "y" : "ies", st.files, st.files == 1 ? "" : "s", st.ok, st.missing, st.changed);
    iw_registry_close(r);
    return (st.missing || st.changed) ? IW_EXIT_FAIL : IW_EXIT_OK;
}
