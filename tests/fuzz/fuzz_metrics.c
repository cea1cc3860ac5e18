/* fuzz_metrics.c - libFuzzer harness: the vLLM manager's metrics log
 * (JSON lines) through iw_registry_reconcile (dry run) against a registry
 * holding entries m1 and m2, and each line's "timestamp"-like text through
 * iw_parse_iso8601.  The log is written to a file in a private temp folder
 * (the reader takes a path). */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwdl/error.h"
#include "iwdl/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[256], g_log[300];
static iw_registry *g_reg;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

/* the private temp folder goes when the process ends */
static void cleanup(void)
{
    nftw(g_dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/fuzz-metrics-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
        abort();
    atexit(cleanup);
    char p[400];
    snprintf(p, sizeof p, "%s/model_registry.discovered.json", g_dir);
    FILE *f = fopen(p, "w");
    if (!f)
        abort();
    fputs("[{\"name\":\"m1\",\"backend\":\"vllm\",\"metadata\":{\"architecture\":{\"num_layers\":2}}},"
          "{\"name\":\"m2\",\"metadata\":{}}]\n", f);
    fclose(f);
    snprintf(g_log, sizeof g_log, "%s/metrics.jsonl", g_dir);
    if (iw_registry_open(&g_reg, g_dir) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_reg)
        setup();
    FILE *f = fopen(g_log, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    iw_reconcile_report rep;
    (void)iw_registry_reconcile(g_reg, g_log, true, &rep);
    cJSON_Delete(rep.changes);
    cJSON_Delete(rep.unknown_models);
    /* the first line as a timestamp */
    size_t n = 0;
    while (n < size && n < 128 && data[n] != '\n')
        n++;
    char ts[129];
    memcpy(ts, data, n);
    ts[n] = 0;
    int64_t sec;
    int32_t usec;
    if (iw_parse_iso8601(ts, &sec, &usec) == 0 && (usec < 0 || usec > 999999))
        abort();
    iw_error_clear();
    return 0;
}
