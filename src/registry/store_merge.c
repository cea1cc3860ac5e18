/* store_merge.c - the registry's merged view: curated entries over the
 * discovered ones, as the original merges them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "jscan.h"
#include "pyjson.h"
#include "regstore.h"
#include "store_internal.h"

void rs_drop_merged(iw_registry *r)
{
    cJSON_Delete(r->merged_full);
    r->merged_full = NULL;
    for (size_t i = 0; i < r->nmone; i++) {
        free(r->mone[i].name);
        cJSON_Delete(r->mone[i].e);
    }
    r->nmone = 0;
}

static bool merge_entry(cJSON *dst, const cJSON *src);

/* One merged entry (what get(IW_REG_MERGED) returns). */
const cJSON *rs_merged_get(iw_registry *r, const char *name)
{
    reg_layer *C = &r->L[IW_REG_CURATED], *D = &r->L[IW_REG_DISCOVERED];
    long ci = C->live ? rs_layer_find(C, name) : -1;
    long di = rs_layer_find(D, name);
    if (ci < 0)
        return di < 0 ? NULL : rs_ent_json(D, (size_t)di);
    for (size_t i = 0; i < r->nmone; i++)
        if (strcmp(r->mone[i].name, name) == 0)
            return r->mone[i].e;
    const cJSON *c = rs_ent_json(C, (size_t)ci), *d = di < 0 ? NULL : rs_ent_json(D, (size_t)di);
    if (!c || (di >= 0 && !d))
        return NULL;
    if (r->nmone == r->cmone) {
        size_t nc = r->cmone ? r->cmone * 2 : 8;
        merged_one *g = realloc(r->mone, nc * sizeof *g);
        if (!g) {
            iw_error_set(IW_ENOMEM, "registry: out of memory");
            return NULL;
        }
        r->mone = g;
        r->cmone = nc;
    }
    cJSON *m = cJSON_Duplicate(d ? d : c, 1);
    char *nm = strdup(name);
    if (!m || !nm || (d && !merge_entry(m, c))) {
        cJSON_Delete(m);
        free(nm);
        iw_error_set(IW_ENOMEM, "registry: out of memory");
        return NULL;
    }
    r->mone[r->nmone].name = nm;
    r->mone[r->nmone].e = m;
    r->nmone++;
    return m;
}

/* The whole merged array; with no curated entries, the discovered array. */
const cJSON *rs_merged_view(iw_registry *r)
{
    if (!r->L[IW_REG_CURATED].live)
        return rs_layer_view(&r->L[IW_REG_DISCOVERED]);
    if (r->merged_full)
        return r->merged_full;
    const cJSON *d = rs_layer_view(&r->L[IW_REG_DISCOVERED]), *c = rs_layer_view(&r->L[IW_REG_CURATED]);
    if (!d || !c)
        return NULL;
    r->merged_full = iw_registry_merge(d, c);
    if (!r->merged_full)
        iw_error_set(IW_ENOMEM, "registry: out of memory");
    return r->merged_full;
}

/* ------------------------------------------------------------ merge */

/* Curated entry `src` over `dst`: the original's _merge_entry_dicts
 * (registry.py), so the merged view is the snapshot the original
 * materialises and its GUI reads: curated nulls skipped, objects merged
 * key by key, anything else replaced (docs/registry.md, "Merge rules").
 * A curated-only entry is taken as it is (dst NULL), nulls included. */
static bool merge_entry(cJSON *dst, const cJSON *src)
{
    return iw_pyjson_merge(dst, src);
}

typedef struct name_ent { const char *name; cJSON *e; } name_ent;

static int cmp_name_ent(const void *pa, const void *pb)
{
    return strcmp(((const name_ent *)pa)->name, ((const name_ent *)pb)->name);
}

cJSON *iw_registry_merge(const cJSON *discovered, const cJSON *curated)
{
    cJSON *m = cJSON_Duplicate(discovered, 1);
    name_ent *ix = NULL;
    if (!m)
        return cJSON_CreateArray();
    int n = cJSON_GetArraySize(m), k = 0;
    if (n > 0 && !(ix = malloc((size_t)n * sizeof *ix)))
        goto fail;
    cJSON *e;
    cJSON_ArrayForEach(e, m) {
        const char *nm = iw_json_get_str(e, "name");
        if (nm) {
            ix[k].name = nm;
            ix[k].e = e;
            k++;
        }
    }
    if (k > 1)
        qsort(ix, (size_t)k, sizeof *ix, cmp_name_ent);
    const cJSON *c;
    cJSON_ArrayForEach(c, curated) {
        const char *nm = iw_json_get_str(c, "name");
        if (!nm || !cJSON_IsObject(c))
            continue;
        name_ent key = { nm, NULL }, *hit = k ? bsearch(&key, ix, (size_t)k, sizeof *ix, cmp_name_ent) : NULL;
        if (hit) {
            if (!merge_entry(hit->e, c))
                goto fail;
        } else {
            /* curated-only entry: as it is, nulls included (the original's merge) */
            cJSON *o = cJSON_Duplicate(c, 1);
            if (!o)
                goto fail;
            cJSON_AddItemToArray(m, o);
        }
    }
    free(ix);
    return m;
fail:
    free(ix);
    cJSON_Delete(m);
    return NULL;
}

