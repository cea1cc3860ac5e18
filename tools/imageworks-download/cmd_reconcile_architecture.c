/* cmd_reconcile_architecture.c - `imageworks-download reconcile-architecture
 * [--metrics FILE] [--dry-run]`. */
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
        "usage: imageworks-download reconcile-architecture [--metrics FILE] [--dry-run]\n"
        "\n"
        "Read the runtime metrics log the imageworks vLLM manager writes (JSON lines:\n"
        "timestamp, model, backend, served_model_id, payload{source, metrics, extra_args})\n"
        "and store the newest line per model (by timestamp; ties go to the later line) as\n"
        "metadata.architecture.runtime of that registry entry:\n"
        "  {<metrics...>, extra_args_snapshot, observed_at, producer, source{file, line}}\n"
        "and add \"runtime-log\" to metadata.architecture.sources.  Malformed lines (each\n"
        "named as FILE:LINE with the reason on stderr, the first 20), models not in the\n"
        "registry and a missing log are counted and reported, never fatal.  A second run\n"
        "over the same log changes nothing.\n"
        "\n"
        "  --metrics FILE  the log (default $IMAGEWORKS_METRICS_LOG, else\n"
        "                  logs/model_loader_metrics.jsonl relative to the current folder)\n"
        "  --dry-run       print what would change, write nothing\n"
        "  -h, --help      this help\n");
}

int cmd_reconcile_architecture(int argc, char **argv)
{
    static const struct option opts[] = {
        { "metrics", required_argument, NULL, 'm' }, { "dry-run", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    const char *log = NULL;
    bool dry = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': log = optarg; break;
        case 'n': dry = true; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("reconcile-architecture", "reconcile-architecture: unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage("reconcile-architecture", "reconcile-architecture: unexpected argument '%s'", argv[optind]);
    if (!log)
        log = iw_registry_default_metrics_log();
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("reconcile-architecture");
    iw_reconcile_report rep;
    if (iw_registry_reconcile(r, log, dry, &rep) < 0) {
        cJSON_Delete(rep.changes);
        cJSON_Delete(rep.unknown_models);
        iw_registry_close(r);
        return cli_fail("reconcile-architecture");
    }
    if (rep.missing_file)
        fprintf(stderr, "imageworks-download: reconcile-architecture: metrics log '%s' not found; nothing to reconcile (set --metrics or IMAGEWORKS_METRICS_LOG)\n", log);
    for (size_t i = 0; i < rep.n_bad; i++)
        fprintf(stderr, "imageworks-download: reconcile-architecture: warning: %s:%zu: malformed line skipped: %s\n",
                log, rep.bad[i].line, rep.bad[i].why);
    if (rep.malformed > rep.n_bad)
        fprintf(stderr, "imageworks-download: reconcile-architecture: warning: %s: and %zu more malformed lines\n", log,
                rep.malformed - rep.n_bad);
    const cJSON *ch;
    cJSON_ArrayForEach(ch, rep.changes) {
        char *after = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ch, "after"));
        printf("%s %s: runtime = %.400s\n", dry ? "would update" : "updated", iw_json_get_str(ch, "name"), after ? after : "?");
        free(after);
    }
    cJSON_ArrayForEach(ch, rep.unknown_models)
        if (cJSON_IsString(ch))
            printf("unknown model (not in the registry): %s\n", ch->valuestring);
    printf("%s%zu lines, %zu malformed, %zu models: %zu updated, %zu unchanged, %zu unknown\n",
           dry ? "dry run: " : "", rep.lines, rep.malformed, rep.models, rep.updated, rep.unchanged, rep.unknown);
    cJSON_Delete(rep.changes);
    cJSON_Delete(rep.unknown_models);
    iw_registry_close(r);
    return IW_EXIT_OK;
}
