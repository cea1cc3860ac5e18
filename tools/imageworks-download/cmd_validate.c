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

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"

#define PARAMS_TOLERANCE 0.01
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

typedef struct vctx {
    cJSON *record;   /* the validation keys to merge into metadata.architecture */
    const cJSON *arch_seed;  /* an architecture to write when the entry has none */
} vctx;

static int validate_fn(cJSON *entry, bool is_new, void *ctx)
{
    vctx *v = ctx;
    (void)is_new;
    cJSON *md = cJSON_GetObjectItemCaseSensitive(entry, "metadata");
    if (!md || cJSON_IsNull(md)) {
        if (md)
            cJSON_DeleteItemFromObjectCaseSensitive(entry, "metadata");
        if (!(md = cJSON_AddObjectToObject(entry, "metadata")))
            return IW_ENOMEM;
    }
    if (!cJSON_IsObject(md))
        return iw_error_set(IW_EFORMAT, "metadata of the entry is not an object; not changed");
    cJSON *a = cJSON_GetObjectItemCaseSensitive(md, "architecture");
    if (!a || cJSON_IsNull(a) || (cJSON_IsObject(a) && !a->child && v->arch_seed)) {
        if (a)
            cJSON_DeleteItemFromObjectCaseSensitive(md, "architecture");
        a = v->arch_seed ? cJSON_Duplicate(v->arch_seed, 1) : cJSON_CreateObject();
        if (!a)
            return IW_ENOMEM;
        cJSON_AddItemToObject(md, "architecture", a);
    }
    if (!cJSON_IsObject(a))
        return iw_error_set(IW_EFORMAT, "metadata.architecture of the entry is not an object; not changed");
    for (const cJSON *it = v->record->child; it; it = it->next) {
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup)
            return IW_ENOMEM;
        if (cJSON_GetObjectItemCaseSensitive(a, it->string))
            cJSON_ReplaceItemInObjectCaseSensitive(a, it->string, dup);
        else
            cJSON_AddItemToObject(a, it->string, dup);
    }
    return 1;
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

    int ret = IW_EXIT_FAIL;
    iw_registry *reg = NULL;
    iw_arch a;
    iw_arch_init(&a);
    cJSON *rec = NULL, *seed = NULL;
    if (iw_registry_open(&reg, NULL) < 0) {
        ret = cli_fail("validate");
        goto done;
    }
    const cJSON *ent = iw_registry_get(reg, name);
    if (!ent) {
        ret = vfail("no registry entry named '%s' (see 'imageworks-download list')", name);
        goto done;
    }
    /* the recorded architecture, else what the files say now */
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(ent, "metadata");
    const cJSON *aj = md ? cJSON_GetObjectItemCaseSensitive(md, "architecture") : NULL;
    if (cJSON_IsObject(aj) && aj->child) {
        if (iw_arch_from_json(aj, &a) < 0) {
            ret = cli_fail(name);
            goto done;
        }
    } else {
        const char *dp = iw_json_get_str(ent, "download_path");
        iw_extract_opts eo = {0};
        if (!dp || iw_extract_path(dp, &eo, &a) < 0) {
            ret = vfail("%s: no metadata.architecture and %s; run migrate-architecture", name,
                               dp ? iw_error_last() : "no download_path");
            goto done;
        }
        seed = iw_arch_to_json(&a);
    }

    rec = cJSON_CreateObject();
    cJSON *disc = cJSON_CreateArray();
    cJSON *exp = cJSON_CreateObject();
    if (!rec || !disc || !exp) {
        cJSON_Delete(disc);
        cJSON_Delete(exp);
        ret = vfail("out of memory");
        goto done;
    }
    bool ok = true;
    if (want_p >= 0) {
        cJSON_AddNumberToObject(exp, "parameters", (double)want_p);
        int64_t have = a.parameters.total;
        double err = have > 0 ? ((double)have - (double)want_p) / (double)want_p : NAN;
        if (!(have > 0) || fabs(err) > PARAMS_TOLERANCE) {
            ok = false;
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "field", "parameters");
            cJSON_AddNumberToObject(d, "expected", (double)want_p);
            if (have > 0) {
                cJSON_AddNumberToObject(d, "actual", (double)have);
                cJSON_AddNumberToObject(d, "error_pct", round(err * 10000) / 100);
            } else {
                cJSON_AddNullToObject(d, "actual");
            }
            cJSON_AddItemToArray(disc, d);
        }
    }
    if (want_l >= 0) {
        cJSON_AddNumberToObject(exp, "num_layers", (double)want_l);
        if (a.num_layers != want_l) {
            ok = false;
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "field", "num_layers");
            cJSON_AddNumberToObject(d, "expected", (double)want_l);
            if (a.num_layers > 0)
                cJSON_AddNumberToObject(d, "actual", (double)a.num_layers);
            else
                cJSON_AddNullToObject(d, "actual");
            cJSON_AddItemToArray(disc, d);
        }
    }
    char now[40];
    iw_registry_now_iso(now);
    cJSON_AddBoolToObject(rec, "validated", ok);
    cJSON_AddItemToObject(rec, "validation_notes", notes ? cJSON_CreateString(notes) : cJSON_CreateNull());
    cJSON_AddItemToObject(rec, "validation_discrepancies", disc);
    cJSON_AddItemToObject(rec, "validation_expected", exp);
    cJSON_AddStringToObject(rec, "validated_at", now);

    vctx vc = {rec, seed};
    if (iw_registry_upsert(reg, name, validate_fn, &vc) < 0) {
        ret = cli_fail("validate");
        goto done;
    }
    if (json) {
        char *s = iw_json_print(rec);
        if (s)
            fputs(s, stdout);
        free(s);
    } else if (ok) {
        printf("%s: validated", name);
        if (want_p >= 0)
            printf(" (parameters %lld, expected %lld, within 1%%)", (long long)a.parameters.total, (long long)want_p);
        if (want_l >= 0)
            printf(" (layers %lld)", (long long)a.num_layers);
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
    cJSON_Delete(rec);
    cJSON_Delete(seed);
    iw_arch_free(&a);
    if (reg)
        iw_registry_close(reg);
    return ret;
}
