/* cmd_reconcile_architecture.c - `imageworks-download reconcile-architecture
 * [--metrics FILE] [--engine-log FILE]... [--name NAME] [--dry-run]`. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/enginelog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download reconcile-architecture [--metrics FILE] [--engine-log FILE]...\n"
        "        [--name NAME] [--dry-run]\n"
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
        "With --engine-log, read vLLM / llama.cpp / Ollama start-up logs instead: each\n"
        "start-up's settings and measured figures (vLLM: weights, activation peak,\n"
        "non-torch, CUDA graphs, KV cache memory and tokens; llama.cpp: model, KV,\n"
        "compute and output buffers) go to metadata.architecture.measured_starts of\n"
        "the entry whose name, served_model_id, hf_repo_id or path the log names (or\n"
        "--name), newest first, at most 8.  `estimate NAME` then shows them next to\n"
        "its predictions and --calibrate corrects its heuristic terms with them.\n"
        "\n"
        "  --metrics FILE  the log (default $IMAGEWORKS_METRICS_LOG, else\n"
        "                  logs/model_loader_metrics.jsonl relative to the current folder)\n"
        "  --engine-log FILE  an engine start-up log (repeatable; docs/registry.md lists\n"
        "                  the lines read); the metrics log is then read only with --metrics\n"
        "  --name NAME     the registry entry the engine logs belong to (when the log's\n"
        "                  model or served name matches none or several)\n"
        "  --dry-run       print what would change, write nothing\n"
        "  -h, --help      this help\n");
}

/* ", label 12.56 GiB" in the engine's own unit (vLLM GiB, llama.cpp MiB) */
static void fig_part(const cJSON *m, const char *key, const char *label, bool mib, bool *first)
{
    double v;
    if (!iw_json_get_f64(m, key, &v))
        return;
    printf("%s%s %.2f %s", *first ? "" : ", ", label, v / (mib ? 1048576.0 : 1073741824.0), mib ? "MiB" : "GiB");
    *first = false;
}

static void print_start(const char *verb, const cJSON *ch)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(ch, "start");
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(st, "settings");
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(st, "measured");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(st, "source");
    const char *eng = iw_json_get_str(st, "engine");
    const char *ver = iw_json_get_str(st, "engine_version");
    int64_t line = 0, v;
    iw_json_get_i64(src, "line", &line);
    printf("%s %s: %s%s%s start from %s:%" PRId64 " (", verb, iw_json_get_str(ch, "name"), eng ? eng : "?",
           ver ? " " : "", ver ? ver : "", iw_json_get_str(src, "file") ? iw_json_get_str(src, "file") : "?", line);
    bool first = true;
    static const char *const ks[][2] = { {"tensor_parallel_size", "tp"}, {"max_model_len", "max_model_len"},
                                         {"n_ctx", "n_ctx"}, {"n_seq", "n_seq"}, {"n_ubatch", "n_ubatch"} };
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        if (iw_json_get_i64(se, ks[i][0], &v)) {
            printf("%s%s %" PRId64, first ? "" : ", ", ks[i][1], v);
            first = false;
        }
    double u;
    if (iw_json_get_f64(se, "gpu_memory_utilization", &u)) {
        printf("%sutil %.2f", first ? "" : ", ", u);
        first = false;
    }
    printf("): ");
    first = true;
    bool mib = !eng || strcmp(eng, "vllm") != 0;
    fig_part(me, "weights_bytes", "weights", mib, &first);
    fig_part(me, "activation_bytes", "activation", mib, &first);
    fig_part(me, "non_torch_bytes", "non-torch", mib, &first);
    fig_part(me, "cuda_graph_bytes", "CUDA graphs", mib, &first);
    fig_part(me, "kv_available_bytes", "KV memory", mib, &first);
    if (iw_json_get_i64(me, "kv_tokens", &v)) {
        printf("%sKV %" PRId64 " tokens", first ? "" : ", ", v);
        first = false;
    }
    fig_part(me, "model_buffer_bytes", "model buffer", mib, &first);
    fig_part(me, "kv_buffer_bytes", "KV buffer", mib, &first);
    fig_part(me, "compute_buffer_bytes", "compute buffer", mib, &first);
    fig_part(me, "output_buffer_bytes", "output buffer", mib, &first);
    printf("\n");
}

static int engine_logs(iw_registry *r, const char *const *logs, size_t n, const char *name, bool dry)
{
    iw_engine_reconcile_report rep;
    if (iw_registry_reconcile_engine_logs(r, logs, n, name, dry, &rep) < 0) {
        cJSON_Delete(rep.changes);
        cJSON_Delete(rep.skipped_starts);
        return cli_fail("reconcile-architecture");
    }
    const cJSON *ch;
    cJSON_ArrayForEach(ch, rep.changes)
        print_start(dry ? "would store" : "stored", ch);
    cJSON_ArrayForEach(ch, rep.skipped_starts) {
        const char *m = iw_json_get_str(ch, "model");
        int64_t line = 0;
        iw_json_get_i64(ch, "line", &line);
        printf("skipped %s:%" PRId64 "%s%s%s: %s\n", iw_json_get_str(ch, "file"), line, m ? " ('" : "", m ? m : "",
               m ? "')" : "", iw_json_get_str(ch, "reason"));
    }
    printf("%sengine logs: %zu file%s, %zu lines (%zu over %u bytes skipped), %zu start-up%s: %zu stored, "
           "%zu already stored, %zu skipped\n", dry ? "dry run: " : "", rep.files, rep.files == 1 ? "" : "s",
           rep.lines, rep.long_lines, IW_ENGINE_LOG_MAX_LINE, rep.starts, rep.starts == 1 ? "" : "s", rep.stored,
           rep.unchanged, rep.skipped);
    int rc = IW_EXIT_OK;
    if (rep.starts == 0) {
        fprintf(stderr, "imageworks-download: reconcile-architecture: no vLLM or llama.cpp start-up (memory "
                "profiling or buffer lines) found in the engine log%s\n", n > 1 ? "s" : "");
        rc = IW_EXIT_FAIL;
    } else if (rep.stored + rep.unchanged == 0) {
        fprintf(stderr, "imageworks-download: reconcile-architecture: no start-up matched a registry entry; "
                "give --name NAME\n");
        rc = IW_EXIT_FAIL;
    }
    cJSON_Delete(rep.changes);
    cJSON_Delete(rep.skipped_starts);
    return rc;
}

int cmd_reconcile_architecture(int argc, char **argv)
{
    enum { O_ENGINE_LOG = 1000, O_NAME };
    static const struct option opts[] = {
        { "metrics", required_argument, NULL, 'm' }, { "dry-run", no_argument, NULL, 'n' },
        { "engine-log", required_argument, NULL, O_ENGINE_LOG }, { "name", required_argument, NULL, O_NAME },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    const char *log = NULL, *name = NULL;
    const char *elogs[64];
    size_t n_elogs = 0;
    bool dry = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "m:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': log = optarg; break;
        case 'n': dry = true; break;
        case O_ENGINE_LOG:
            if (n_elogs == sizeof elogs / sizeof elogs[0])
                return cli_usage("reconcile-architecture", "reconcile-architecture: at most %zu --engine-log files",
                                 sizeof elogs / sizeof elogs[0]);
            elogs[n_elogs++] = optarg;
            break;
        case O_NAME: name = optarg; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("reconcile-architecture", "reconcile-architecture: unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage("reconcile-architecture", "reconcile-architecture: unexpected argument '%s'", argv[optind]);
    if (name && !n_elogs)
        return cli_usage("reconcile-architecture", "reconcile-architecture: --name applies to --engine-log");
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("reconcile-architecture");
    int erc = IW_EXIT_OK;
    if (n_elogs) {
        erc = engine_logs(r, elogs, n_elogs, name, dry);
        if (!log) {
            iw_registry_close(r);
            return erc;
        }
    }
    if (!log)
        log = iw_registry_default_metrics_log();
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
    return erc;
}
