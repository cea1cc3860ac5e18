/* listing.c - the registry as rows (catalog.h): `list --json`'s rows and
 * serve's GET /models answer, its filters and the cache that keeps it
 * between registry changes (docs/api.md, docs/registry.md). */
#include "iwdl/catalog.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static const cJSON *arch_of(const cJSON *e)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "metadata"), "architecture");
}

bool iw_catalog_entry_validated(const cJSON *e)
{
    bool v = false;
    const cJSON *a = arch_of(e);
    return a && iw_json_get_bool(a, "validated", &v) && v;
}

/* ---- list --json ------------------------------------------------------ */

static cJSON *dup_or(const cJSON *e, const char *key, cJSON *(*fallback)(void))
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return v ? cJSON_Duplicate(v, 1) : fallback();
}

static cJSON *list_row(const cJSON *e)
{
    static const char *const keys[][2] = {   /* row key, entry key: copied as stored, else null */
        {"name", "name"}, {"display_name", "display_name"}, {"backend", "backend"}, {"format", "download_format"},
        {"quantization", "quantization"}, {"location", "download_location"},
    };
    cJSON *r = cJSON_CreateObject();
    if (!r)
        return NULL;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        cJSON_AddItemToObject(r, keys[i][0], dup_or(e, keys[i][1], cJSON_CreateNull));
    const char *path = iw_json_get_str(e, "download_path");
    cJSON_AddBoolToObject(r, "installed", iw_catalog_entry_installed(e));
    cJSON_AddBoolToObject(r, "validated", iw_catalog_entry_validated(e));
    cJSON_AddItemToObject(r, "size_bytes", dup_or(e, "download_size_bytes", cJSON_CreateNull));
    cJSON_AddItemToObject(r, "roles", dup_or(e, "roles", cJSON_CreateArray));
    cJSON_AddItemToObject(r, "family", dup_or(e, "family", cJSON_CreateNull));
    cJSON_AddBoolToObject(r, "logical_only", !path || !*path);
    cJSON_AddItemToObject(r, "served_model_id", dup_or(e, "served_model_id", cJSON_CreateNull));
    cJSON_AddItemToObject(r, "deprecated", dup_or(e, "deprecated", cJSON_CreateNull));
    cJSON_AddItemToObject(r, "capabilities", dup_or(e, "capabilities", cJSON_CreateObject));
    cJSON_AddItemToObject(r, "producer", dup_or(e, "source_provider", cJSON_CreateNull));
    return r;
}

cJSON *iw_catalog_list_rows(const iw_registry *reg)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, iw_registry_entries(reg, IW_REG_MERGED)) {
        cJSON *row = out ? list_row(e) : NULL;
        if (row)
            cJSON_AddItemToArray(out, row);
    }
    return out;
}

/* ---- GET /models ------------------------------------------------------ */

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static cJSON *i64_or_null(const cJSON *o, const char *key)
{
    int64_t v;
    return o && iw_json_get_i64(o, key, &v) ? cJSON_CreateNumber((double)v) : cJSON_CreateNull();
}

static cJSON *model_row(const cJSON *e)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return NULL;
    const cJSON *a = arch_of(e);
    const char *name = iw_json_get_str(e, "name");
    cJSON_AddStringToObject(m, "name", name ? name : "");
    cJSON_AddItemToObject(m, "display_name", str_or_null(iw_json_get_str(e, "display_name")));
    cJSON_AddItemToObject(m, "backend", str_or_null(iw_json_get_str(e, "backend")));
    cJSON_AddItemToObject(m, "format", str_or_null(iw_json_get_str(e, "download_format")));
    cJSON_AddItemToObject(m, "quantization", str_or_null(iw_json_get_str(e, "quantization")));
    cJSON_AddItemToObject(m, "parameters", i64_or_null(a ? cJSON_GetObjectItemCaseSensitive(a, "parameters") : NULL,
                                                       "total"));
    cJSON_AddItemToObject(m, "context_length", i64_or_null(a, "context_length"));
    cJSON_AddItemToObject(m, "size_bytes", i64_or_null(e, "download_size_bytes"));
    cJSON_AddBoolToObject(m, "installed", iw_catalog_entry_installed(e));
    cJSON_AddBoolToObject(m, "validated", iw_catalog_entry_validated(e));
    cJSON_AddBoolToObject(m, "has_architecture", cJSON_IsObject(a) && a->child);
    return m;
}

static bool matches(const char *have, const char *want)
{
    return !want || !*want || (have && !strcasecmp(have, want));
}

static bool filtered(const iw_models_filter *f)
{
    return f && ((f->format && *f->format) || (f->quantization && *f->quantization) || (f->backend && *f->backend));
}

/* {"models": [the rows f lets through], "count"} */
static cJSON *answer_of(const cJSON *rows, const iw_models_filter *f)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = out ? cJSON_AddArrayToObject(out, "models") : NULL;
    int n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, rows) {
        if (!arr)
            break;
        if (f && (!matches(iw_json_get_str(m, "format"), f->format) ||
                  !matches(iw_json_get_str(m, "quantization"), f->quantization) ||
                  !matches(iw_json_get_str(m, "backend"), f->backend)))
            continue;
        cJSON_AddItemToArray(arr, cJSON_Duplicate(m, 1));
        n++;
    }
    if (out)
        cJSON_AddNumberToObject(out, "count", n);
    return out;
}

static cJSON *model_rows(const iw_registry *reg)
{
    cJSON *rows = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, iw_registry_entries(reg, IW_REG_MERGED)) {
        cJSON *m = rows ? model_row(e) : NULL;
        if (!m) {
            cJSON_Delete(rows);
            return NULL;
        }
        cJSON_AddItemToArray(rows, m);
    }
    return rows;
}

cJSON *iw_catalog_models(const iw_registry *reg, const iw_models_filter *f)
{
    cJSON *rows = model_rows(reg);
    cJSON *out = rows ? answer_of(rows, f) : NULL;
    cJSON_Delete(rows);
    return out;
}

/* ---- the cache -------------------------------------------------------- *
 * Rebuilt when a registry file's (inode, size, mtime) changes, and at least
 * every IW_MODELS_CACHE_TTL_MS (so `installed` follows files that appear or
 * vanish).  A listing parses every entry, so without it each request would
 * re-read the whole registry. */

typedef struct file_sig { ino_t ino; off_t size; struct timespec mtim; bool exists; } file_sig;

struct iw_models_cache {
    pthread_mutex_t lock;
    char     *registry_dir;
    char     *files[3];    /* the layers' files (iw_registry_path) */
    bool      valid;
    bool      refreshing;  /* one thread re-checks an expired (unchanged) cache */
    file_sig  sig[3];
    uint64_t  built_ms;
    cJSON    *rows;        /* unfiltered */
    char     *body;        /* the unfiltered answer */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void registry_sigs(const iw_models_cache *c, file_sig out[3])
{
    for (int i = 0; i < 3; i++) {
        struct stat st;
        memset(&out[i], 0, sizeof out[i]);
        if (stat(c->files[i], &st) == 0)
            out[i] = (file_sig){ st.st_ino, st.st_size, st.st_mtim, true };
    }
}

static bool sigs_equal(const file_sig *a, const file_sig *b)
{
    for (int i = 0; i < 3; i++)
        if (a[i].exists != b[i].exists || a[i].ino != b[i].ino || a[i].size != b[i].size ||
            a[i].mtim.tv_sec != b[i].mtim.tv_sec || a[i].mtim.tv_nsec != b[i].mtim.tv_nsec)
            return false;
    return true;
}

int iw_catalog_models_cache_new(iw_models_cache **out, const char *registry_dir)
{
    *out = NULL;
    iw_registry *reg = NULL;
    int rc = iw_registry_open(&reg, registry_dir);
    if (rc < 0)
        return rc;
    iw_models_cache *c = calloc(1, sizeof *c);
    if (c) {
        pthread_mutex_init(&c->lock, NULL);
        c->registry_dir = strdup(iw_registry_dir(reg));
        for (int l = IW_REG_CURATED; l <= IW_REG_MERGED; l++)
            c->files[l] = strdup(iw_registry_path(reg, (iw_reg_layer)l));
    }
    iw_registry_close(reg);
    if (!c || !c->registry_dir || !c->files[0] || !c->files[1] || !c->files[2]) {
        iw_catalog_models_cache_free(c);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    *out = c;
    return 0;
}

void iw_catalog_models_cache_free(iw_models_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    cJSON_Delete(c->rows);
    free(c->body);
    free(c->registry_dir);
    for (int l = 0; l < 3; l++)
        free(c->files[l]);
    free(c);
}

const char *iw_catalog_models_cache_dir(const iw_models_cache *c)
{
    return c->registry_dir;
}

static char *print_answer(const cJSON *rows, const iw_models_filter *f)
{
    cJSON *out = answer_of(rows, f);
    char *s = out ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    return s;
}

int iw_catalog_models_cached(iw_models_cache *c, const iw_models_filter *f, char **json)
{
    *json = NULL;
    file_sig now[3];
    registry_sigs(c, now);
    pthread_mutex_lock(&c->lock);
    bool same = c->valid && sigs_equal(now, c->sig);
    bool fresh = same && now_ms() - c->built_ms < IW_MODELS_CACHE_TTL_MS;
    /* files unchanged but the TTL ran out: one thread rebuilds, the others
     * keep answering from the rows they have (no stampede); files changed:
     * every request that saw the change rebuilds, so none sees older data */
    bool mine = false;
    if (same && !fresh) {
        if (c->refreshing)
            fresh = true;
        else
            mine = c->refreshing = true;
    }
    if (fresh) {
        *json = filtered(f) ? print_answer(c->rows, f) : strdup(c->body);
        pthread_mutex_unlock(&c->lock);
        return *json ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&c->lock);

    iw_registry *reg = NULL;
    cJSON *rows = NULL;
    char *body = NULL;
    int rc = iw_registry_open(&reg, c->registry_dir);
    if (rc == 0) {
        rows = model_rows(reg);
        iw_registry_close(reg);
        body = rows ? print_answer(rows, NULL) : NULL;
        *json = !body ? NULL : filtered(f) ? print_answer(rows, f) : strdup(body);
        if (!*json)
            rc = iw_error_set(IW_ENOMEM, "out of memory");
    } else {
        iw_error_prefix("registry");
    }
    pthread_mutex_lock(&c->lock);
    if (rc == 0) {
        cJSON_Delete(c->rows);
        free(c->body);
        c->rows = rows;
        c->body = body;
        memcpy(c->sig, now, sizeof now);
        c->built_ms = now_ms();
        c->valid = true;
        rows = NULL;
        body = NULL;
    }
    if (mine)
        c->refreshing = false;
    pthread_mutex_unlock(&c->lock);
    cJSON_Delete(rows);
    free(body);
    return rc;
}
