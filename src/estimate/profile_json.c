/* profile_json.c - a profile set as JSON (estimate.h), for the page of
 * serve and any caller that lists the profiles and GPUs it can name. */
#include "iwdl/estimate.h"

#include <math.h>

#include "iwdl/json.h"

cJSON *iw_est_profiles_to_json(const iw_est_profiles *ps)
{
    cJSON *out = cJSON_CreateObject();
    if (!out)
        return NULL;
    cJSON_AddStringToObject(out, "origin", iw_est_profiles_origin(ps));
    cJSON_AddStringToObject(out, "default", iw_est_profiles_get(ps, NULL)->name);
    cJSON *pa = cJSON_AddArrayToObject(out, "profiles");
    for (size_t i = 0; pa && i < iw_est_profiles_count(ps); i++) {
        const iw_est_profile *p = iw_est_profiles_at(ps, i);
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddStringToObject(o, "description", p->description);
        cJSON_AddItemToArray(pa, o);
    }
    cJSON *ga = cJSON_AddArrayToObject(out, "gpus");
    for (size_t i = 0; ga && i < iw_est_profiles_gpu_count(ps); i++) {
        const iw_est_gpu_spec *g = iw_est_profiles_gpu_at(ps, i);
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "name", g->name);
        cJSON_AddNumberToObject(o, "memory_gib", round((double)g->bytes / 1073741824.0 * 100) / 100);
        if (g->profile[0])
            cJSON_AddStringToObject(o, "profile", g->profile);
        cJSON_AddItemToArray(ga, o);
    }
    return out;
}
