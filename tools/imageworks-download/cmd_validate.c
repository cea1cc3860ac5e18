/* cmd_validate.c - `validate NAME [--expected-params N] [--expected-layers N]
 * [--notes TEXT] [--json]`: compare an entry's architecture with what the
 * user expects (parameters within 1%, layers exact) and record the outcome
 * in metadata.architecture (docs/registry.md, "Validation"):
 *   validated                 true when every expectation holds
 *   validation_notes          --notes, or null
 *   validation_discrepancies  [{field, expected, actual, error_pct?}]
 *   validation_expected       {parameters?, num_layers?}
 *   validated_at              ISO-8601 UTC
 * These keys are unknown to the architecture schema, so extraction and
 * migrate keep them.  Exit 0 validated, 1 discrepancies (recorded too), 2 usage.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

#define NOTES_MAX 2000

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download validate NAME [--expected-params N] [--expected-layers N]\n"
        "        [--notes TEXT] [--json]\n"
        "\n"
        "Compare a registry entry's architecture with the published values and record\n"
        "the outcome in metadata.architecture (validated, validation_notes,\n"
        "validation_discrepancies); `list` and the serve page show the flag.\n"
        "\n"
        "  --expected-params N  parameters: 7241732096, 7.24B, 560M (within 1%%)\n"
        "  --expected-layers N  transformer layers (exact)\n"
        "  --notes TEXT         where the expectation comes from (model card, paper)\n"
        "  --json               print the recorded validation object\n"
        "\n"
        "Exit 0 when every expectation holds, 1 when one does not (recorded too).\n");
}

static int vfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int vfail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "imageworks-download: validate: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return IW_EXIT_FAIL;
}

/* "7241732096", "7.24B", "7.24b", "560M", "1.5e9" */
static int parse_count(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0) || !isfinite(v))
        return -1;
    if (*end == 'B' || *end == 'b')
        v *= 1e9, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1e6, end++;
    else if (*end == 'K' || *end == 'k')
        v *= 1e3, end++;
    if (*end || v >= 1e15)
        return -1;
    *out = (int64_t)llround(v);
    return 0;
}

int cmd_validate(int argc, char **argv)
{
    enum { O_PARAMS = 1000, O_LAYERS, O_NOTES };
    static const struct option opts[] = {
        {"expected-params", required_argument, NULL, O_PARAMS}, {"expected-layers", required_argument, NULL, O_LAYERS},
        {"notes", required_argument, NULL, O_NOTES}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int64_t want_p = -1, want_l = -1;
    const char *notes = NULL;
    bool json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_PARAMS:
            if (parse_count(optarg, &want_p) < 0)
                return cli_usage("validate", "validate: --expected-params '%s': expected a count (7241732096, 7.24B, 560M)",
                                 optarg);
            break;
        case O_LAYERS: {
            char *end = NULL;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 1 || v > 100000)
                return cli_usage("validate", "validate: --expected-layers '%s': expected 1..100000", optarg);
            want_l = v;
            break;
        }
        case O_NOTES:
            if (strlen(optarg) > NOTES_MAX)
                return cli_usage("validate", "validate: --notes is longer than %d characters", NOTES_MAX);
            notes = optarg;
            break;
        case 'j': json = true; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("validate", "validate: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("validate", "validate: expected one registry NAME");
    if (want_p < 0 && want_l < 0)
        return cli_usage("validate", "validate: give --expected-params and/or --expected-layers");
    const char *name = argv[optind];

    iw_registry *reg = NULL;
    if (iw_registry_open(&reg, NULL) < 0)
        return cli_fail("validate");
    iw_validate_opts vo = { IW_VALIDATE_OPTS_VERSION, want_p, want_l, notes };
    iw_validation v;
    int ret = IW_EXIT_FAIL;
    if (iw_catalog_validate(reg, name, &vo, &v) < 0) {
        ret = v.failed_at ? cli_fail(v.failed_at) : vfail("%s (see 'imageworks-download list')", iw_error_last());
        goto done;
    }
    const cJSON *rec = v.record, *disc = cJSON_GetObjectItemCaseSensitive(rec, "validation_discrepancies");
    bool ok = v.ok;
    if (json) {
        char *s = iw_json_print(rec);
        if (s)
            fputs(s, stdout);
        free(s);
    } else if (ok) {
        printf("%s: validated", name);
        if (want_p >= 0)
            printf(" (parameters %lld, expected %lld, within 1%%)", (long long)v.params, (long long)want_p);
        if (want_l >= 0)
            printf(" (layers %lld)", (long long)v.layers);
        printf("\n");
    } else {
        printf("%s: NOT validated\n", name);
        const cJSON *d;
        cJSON_ArrayForEach(d, disc) {
            const cJSON *act = cJSON_GetObjectItem(d, "actual");
            const cJSON *pct = cJSON_GetObjectItem(d, "error_pct");
            printf("  %s: expected %.0f, have %s", cJSON_GetStringValue(cJSON_GetObjectItem(d, "field")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(d, "expected")), cJSON_IsNumber(act) ? "" : "unknown");
            if (cJSON_IsNumber(act))
                printf("%.0f", act->valuedouble);
            if (cJSON_IsNumber(pct))
                printf(" (%+.2f%%)", pct->valuedouble);
            printf("\n");
        }
    }
    ret = ok ? IW_EXIT_OK : IW_EXIT_FAIL;
done:
    iw_validation_free(&v);
    iw_registry_close(reg);
    return ret;
}
