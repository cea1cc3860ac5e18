/* validate.c - an entry's architecture against published values
 * (catalog.h; docs/registry.md, "Validation"): parameters within
 * IW_VALIDATE_PARAMS_TOLERANCE, layers exact, the outcome recorded in
 * metadata.architecture. */
#include "iwdl/catalog.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"

void iw_validation_free(iw_validation *v)
{
    cJSON_Delete(v->record);
    memset(v, 0, sizeof *v);
}

typedef struct vctx {
    const cJSON *record;     /* the validation keys to merge into metadata.architecture */
    const cJSON *arch_seed;  /* an architecture to write when the entry has none */
} vctx;

static int record_fn(cJSON *entry, bool is_new, void *ctx)
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

/* {field, expected, actual|null, error_pct?} */
static cJSON *discrepancy(const char *field, int64_t expected, int64_t actual, double err)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "field", field);
    cJSON_AddNumberToObject(d, "expected", (double)expected);
    if (actual > 0) {
        cJSON_AddNumberToObject(d, "actual", (double)actual);
        if (!isnan(err))
            cJSON_AddNumberToObject(d, "error_pct", round(err * 10000) / 100);
    } else {
        cJSON_AddNullToObject(d, "actual");
    }
    return d;
}

/* The validation object of a against the expectations. */
static cJSON *compare(const iw_arch *a, const iw_validate_opts *o, bool *ok)
{
    cJSON *rec = cJSON_CreateObject(), *disc = cJSON_CreateArray(), *exp = cJSON_CreateObject();
    if (!rec || !disc || !exp) {
        cJSON_Delete(rec);
        cJSON_Delete(disc);
        cJSON_Delete(exp);
        return NULL;
    }
    *ok = true;
    if (o->expected_params >= 0) {
        cJSON_AddNumberToObject(exp, "parameters", (double)o->expected_params);
        int64_t have = a->parameters.total;
        double err = have > 0 ? ((double)have - (double)o->expected_params) / (double)o->expected_params : NAN;
        if (!(have > 0) || fabs(err) > IW_VALIDATE_PARAMS_TOLERANCE) {
            *ok = false;
            cJSON_AddItemToArray(disc, discrepancy("parameters", o->expected_params, have, err));
        }
    }
    if (o->expected_layers >= 0) {
        cJSON_AddNumberToObject(exp, "num_layers", (double)o->expected_layers);
        if (a->num_layers != o->expected_layers) {
            *ok = false;
            cJSON_AddItemToArray(disc, discrepancy("num_layers", o->expected_layers, a->num_layers, NAN));
        }
    }
    char now[40];
    iw_registry_now_iso(now);
    cJSON_AddBoolToObject(rec, "validated", *ok);
    cJSON_AddItemToObject(rec, "validation_notes", o->notes ? cJSON_CreateString(o->notes) : cJSON_CreateNull());
    cJSON_AddItemToObject(rec, "validation_discrepancies", disc);
    cJSON_AddItemToObject(rec, "validation_expected", exp);
    cJSON_AddStringToObject(rec, "validated_at", now);
    return rec;
}

int iw_catalog_validate(iw_registry *reg, const char *name, const iw_validate_opts *o, iw_validation *out)
{
    memset(out, 0, sizeof *out);
    out->failed_at = "validate";
    int rc = iw_opts_version_check(o ? o->version : 0, IW_VALIDATE_OPTS_VERSION, "iw_validate_opts");
    if (rc < 0)
        return rc;
    if (o->expected_params < 0 && o->expected_layers < 0)
        return iw_error_set(IW_EINVAL, "give an expected parameter count and/or layer count");
    if (o->expected_params == 0 || o->expected_layers == 0)
        return iw_error_set(IW_EINVAL, "an expected parameter or layer count must be positive");
    const cJSON *ent = iw_registry_get(reg, name);
    if (!ent) {
        out->failed_at = NULL;
        return iw_error_set(IW_ENOTFOUND, "no registry entry named '%s'", name);
    }
    iw_arch a;
    iw_arch_init(&a);
    cJSON *seed = NULL;
    /* the recorded architecture, else what the files say now */
    const cJSON *aj = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ent, "metadata"),
                                                       "architecture");
    if (cJSON_IsObject(aj) && aj->child) {
        if ((rc = iw_arch_from_json(aj, &a)) < 0)
            out->failed_at = name;
    } else {
        const char *dp = iw_json_get_str(ent, "download_path");
        iw_extract_opts eo = {0};
        if (!dp || iw_extract_path(dp, &eo, &a) < 0) {
            char why[1024];
            snprintf(why, sizeof why, "%s", dp ? iw_error_last() : "no download_path");
            rc = iw_error_set(IW_ENOTFOUND, "%s: no metadata.architecture and %s; run migrate-architecture", name, why);
        }
        else if (!(seed = iw_arch_to_json(&a)))
            rc = iw_error_set(IW_ENOMEM, "out of memory");
    }
    if (rc == 0 && !(out->record = compare(&a, o, &out->ok)))
        rc = iw_error_set(IW_ENOMEM, "out of memory");
    out->params = a.parameters.total;
    out->layers = a.num_layers;
    if (rc == 0) {
        vctx vc = {out->record, seed};
        if ((rc = iw_registry_upsert(reg, name, record_fn, &vc)) > 0)
            rc = 0;
    }
    cJSON_Delete(seed);
    iw_arch_free(&a);
    return rc;
}
