/* test_validate.c - `validate NAME --expected-params/--expected-layers`:
 * the outcome recorded in metadata.architecture, exit codes, kept by a later
 * migrate-architecture, shown by list --json. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "iwtest.h"

typedef struct vfx {
    char *tmp, *reg, name[128];
} vfx;

static int run(const vfx *f, const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_REGISTRY_DIR='%s' '%s' %s", f->reg, iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static void setup_vfx(vfx *f)
{
    f->tmp = iwt_tmpdir("validate");
    cr_assert(asprintf(&f->reg, "%s/reg", f->tmp) > 0);
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/m/demo' && cp -r '%s' '%s/m/demo/'", f->tmp,
             iwt_fixture("models/tiny-llama"), f->tmp);
    cr_assert_eq(iwt_run(cmd, NULL, NULL), 0);
    snprintf(cmd, sizeof cmd, "scan '%s/m'", f->tmp);
    cr_assert_eq(run(f, cmd, &out, NULL), 0);
    char *arrow = strstr(out, "-> ");
    cr_assert_not_null(arrow, "%s", out);
    snprintf(f->name, sizeof f->name, "%.*s", (int)strcspn(arrow + 3, "\n"), arrow + 3);
    free(out);
}

static cJSON *arch_of(const vfx *f)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model_registry.json", f->reg);
    char *txt = iwt_slurp(path, NULL);
    cr_assert_not_null(txt);
    cJSON *arr = cJSON_Parse(txt);
    free(txt);
    cr_assert_not_null(arr);
    cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")), f->name)) {
            cJSON *a = cJSON_DetachItemFromObject(cJSON_GetObjectItem(e, "metadata"), "architecture");
            cJSON_Delete(arr);
            return a;
        }
    cr_assert_fail("no entry %s", f->name);
    return NULL;
}

Test(validate, records_outcome_and_survives_migrate)
{
    vfx f;
    setup_vfx(&f);
    char args[1024], *out = NULL, *err = NULL;
    /* tiny-llama: 19,286,272 parameters, 4 layers; 19.3M is within 1% */
    snprintf(args, sizeof args, "validate '%s' --expected-params 19.3M --expected-layers 4 --notes 'model card'", f.name);
    cr_assert_eq(run(&f, args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "validated"), "%s", out);
    free(out);
    free(err);
    cJSON *a = arch_of(&f);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a, "validated")));
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(a, "validation_notes")), "model card");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "validation_discrepancies")), 0);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "validation_expected"), "num_layers")), 4);
    cr_assert_not_null(cJSON_GetObjectItem(a, "validated_at"));
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(a, "num_layers")), 4, "the architecture is still there");
    cJSON_Delete(a);

    /* list --json shows the flag */
    cr_assert_eq(run(&f, "list --json", &out, NULL), 0);
    cJSON *l = cJSON_Parse(out);
    free(out);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "validated")));
    cJSON_Delete(l);

    /* migrate-architecture --force rewrites the architecture and keeps the validation */
    cr_assert_eq(run(&f, "migrate-architecture --force", &out, &err), 0, "%s", err);
    free(out);
    free(err);
    a = arch_of(&f);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a, "validated")), "migrate dropped the validation");
    cJSON_Delete(a);

    /* 2% off and a layer off: not validated, each discrepancy recorded, exit 1 */
    snprintf(args, sizeof args, "validate '%s' --expected-params 18900000 --expected-layers 5", f.name);
    cr_assert_eq(run(&f, args, &out, NULL), 1);
    cr_assert(strstr(out, "NOT validated") && strstr(out, "+2.04%"), "%s", out);
    free(out);
    a = arch_of(&f);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(a, "validated")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(a, "validation_notes")), "notes belong to one validation");
    cJSON *d = cJSON_GetObjectItem(a, "validation_discrepancies");
    cr_assert_eq(cJSON_GetArraySize(d), 2);
    cJSON *p = cJSON_GetArrayItem(d, 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(p, "field")), "parameters");
    cr_assert_float_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "error_pct")), 2.04, 0.005);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 1), "field")), "num_layers");
    cJSON_Delete(a);

    /* usage and unknown names */
    snprintf(args, sizeof args, "validate '%s'", f.name);
    cr_assert_eq(run(&f, args, NULL, NULL), 2, "an expectation is required");
    snprintf(args, sizeof args, "validate '%s' --expected-params lots", f.name);
    cr_assert_eq(run(&f, args, NULL, NULL), 2);
    cr_assert_eq(run(&f, "validate nope --expected-layers 4", NULL, &err), 1);
    cr_assert(strstr(err, "no registry entry named 'nope'") && !strchr(err, '\n')[1], "%s", err);
    free(err);
    iwt_rm_rf(f.tmp);
    free(f.tmp);
    free(f.reg);
}
