/* nameindex.h - sorted name -> entry index over a registry array (private). */
#ifndef IW_REGISTRY_NAMEINDEX_H
#define IW_REGISTRY_NAMEINDEX_H

#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "iwdl/json.h"

typedef struct iw_name_ent { const char *name; cJSON *e; } iw_name_ent;
typedef struct iw_name_index { iw_name_ent *v; size_t n; } iw_name_index;

static inline int iw_name_ent_cmp(const void *a, const void *b)
{
    return strcmp(((const iw_name_ent *)a)->name, ((const iw_name_ent *)b)->name);
}

/* Index of arr's entries by "name" (valid while arr is not modified by
 * removal).  Returns false on ENOMEM. */
static inline bool iw_name_index_build(iw_name_index *ix, const cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    ix->n = 0;
    ix->v = malloc((size_t)(n > 0 ? n : 1) * sizeof *ix->v);
    if (!ix->v)
        return false;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *nm = iw_json_get_str(e, "name");
        if (nm) {
            ix->v[ix->n].name = nm;
            ix->v[ix->n].e = (cJSON *)e;
            ix->n++;
        }
    }
    if (ix->n > 1)
        qsort(ix->v, ix->n, sizeof *ix->v, iw_name_ent_cmp);
    return true;
}

static inline cJSON *iw_name_index_find(const iw_name_index *ix, const char *name)
{
    if (!ix->n)
        return NULL;
    iw_name_ent key = { name, NULL };
    iw_name_ent *hit = bsearch(&key, ix->v, ix->n, sizeof *ix->v, iw_name_ent_cmp);
    return hit ? hit->e : NULL;
}

static inline void iw_name_index_free(iw_name_index *ix)
{
    free(ix->v);
    ix->v = NULL;
    ix->n = 0;
}

#endif
