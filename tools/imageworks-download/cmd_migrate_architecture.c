/* cmd_migrate_architecture.c - `imageworks-download migrate-architecture
 * [--dry-run] [--limit N] [--force]`. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/kv.h"
#include "iwdl/registry.h"
#include "iwdl/catalog.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download migrate-architecture [--dry-run] [--limit N] [--force]\n"
        "\n"
        "Re-read the architecture of every registry entry with a local download_path\n"
        "(config.json, GGUF/safetensors headers, quantization configs) and write it to\n"
        "metadata.architecture in the discovered layer.  Ollama models (download_path\n"
        "ollama:NAME:TAG, or backend ollama with a served_model_id; the served_model_id\n"
        "is also tried when the download_path is not found) are read from Ollama's store\n"
        "(OLLAMA_MODELS), then from the server's /api/show when OLLAMA_HOST is set.\n"
        "metadata.architecture.runtime (from reconcile-architecture) and keys this tool\n"
        "does not know are kept.  An entry whose record would only get a new\n"
        "collected_at is left alone, so a second run changes nothing.  A missing or\n"
        "unreadable install is recorded as a warning (\"migrate: ...\") in that entry\n"
        "and the run continues.\n"
        "\n"
        "  --dry-run   print the per-entry change (before/after) and write nothing\n"
        "  --limit N   process at most N installs\n"
        "  --force     rewrite every entry (refreshes collected_at)\n"
        "Progress is shown on stderr when it is a terminal.\n"
        "  -h, --help  this help\n"
        "Summary line: updated/unchanged/failed.  Exit 1 only when the registry could not\n"
        "be read or written.\n");
}

static int extract_cb(const char *path, iw_arch *out, void *ctx)
{
    (void)ctx;
    return iw_catalog_inspect(path, NULL, NULL, out, NULL);
}

/* "[  12/1000] name" on one rewritten stderr line, only on a terminal */
static void progress(size_t done, size_t total, const char *name, void *ctx)
{
    (void)ctx;
    char shown[61];
    snprintf(shown, sizeof shown, "%s", name);
    iw_text_sanitize(shown);   /* a name from a file drives no terminal */
    fprintf(stderr, "\r\033[K[%5zu/%zu] %s", done + 1, total, shown);
    fflush(stderr);
}

static void print_change(const cJSON *ch)
{
    const char *name = iw_json_get_str(ch, "name"), *status = iw_json_get_str(ch, "status");
    const char *err = iw_json_get_str(ch, "error");
    const cJSON *before = cJSON_GetObjectItemCaseSensitive(ch, "before");
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(ch, "after");
    printf("%s: %s%s%s\n", name, status, err ? ": " : "", err ? err : "");
    if (!after)
        return;
    /* per-key diff of metadata.architecture */
    for (const cJSON *k = after->child; k; k = k->next) {
        const cJSON *o = cJSON_IsObject(before) ? cJSON_GetObjectItemCaseSensitive(before, k->string) : NULL;
        if (o && cJSON_Compare(o, k, 1))
            continue;
        if (!strcmp(k->string, "collected_at"))
            continue;
        char *ns = cJSON_PrintUnformatted(k), *os = o ? cJSON_PrintUnformatted(o) : NULL;
        printf("  %s: %s -> %.200s\n", k->string, os ? os : "(absent)", ns ? ns : "?");
        free(ns);
        free(os);
    }
    if (cJSON_IsObject(before))
        for (const cJSON *k = before->child; k; k = k->next)
            if (!cJSON_GetObjectItemCaseSensitive(after, k->string))
                printf("  %s: removed\n", k->string);
}

int cmd_migrate_architecture(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dry-run", no_argument, NULL, 'n' }, { "limit", required_argument, NULL, 'l' },
        { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    iw_migrate_opts mo = IW_MIGRATE_OPTS_INIT;
    mo.kv_recompute = iw_kv_per_token;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "nl:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': mo.dry_run = true; break;
        case 'f': mo.force = true; break;
        case 'l': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v <= 0)
                return cli_usage("migrate-architecture", "migrate-architecture: --limit needs a positive number, got '%s'", optarg);
            mo.limit = v;
            break;
        }
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("migrate-architecture", "migrate-architecture: unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage("migrate-architecture", "migrate-architecture: unexpected argument '%s'", argv[optind]);
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("migrate-architecture");
    iw_migrate_report rep;
    bool tty = isatty(STDERR_FILENO);
    if (tty)
        mo.progress = progress;
    int rc = iw_registry_migrate(r, extract_cb, NULL, &mo, &rep);
    if (tty)
        fprintf(stderr, "\r\033[K");
    if (rc < 0) {
        cJSON_Delete(rep.changes);
        iw_registry_close(r);
        return cli_fail("migrate-architecture");
    }
    const cJSON *ch;
    cJSON_ArrayForEach(ch, rep.changes) {
        const char *st = iw_json_get_str(ch, "status");
        if (mo.dry_run || (st && strcmp(st, "unchanged") != 0))
            print_change(ch);
    }
    printf("%s%zu updated, %zu unchanged, %zu failed (%zu installs, %zu entries skipped)\n",
           mo.dry_run ? "dry run: " : "", rep.updated, rep.unchanged, rep.failed, rep.candidates, rep.skipped);
    cJSON_Delete(rep.changes);
    iw_registry_close(r);
    return IW_EXIT_OK;
}
