/* migrate.c - migrate-architecture: re-extract metadata.architecture for
 * every local install and every Ollama model (ollama: download_path, or
 * backend "ollama" with a served_model_id), keeping runtime and manual
 * fields.  The registry never resolves Ollama references itself: the
 * extraction callback gets the "ollama:..." string. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/ollama_ref.h"
#include "nameindex.h"
#include "pyjson.h"

typedef struct mig_item {
    char   *name;
    char   *path;
    iw_arch arch;
    bool    ok;
    char   *error;
} mig_item;

typedef struct mig_ctx {
    mig_item *items;
    size_t    n;
    const iw_migrate_opts *opts;
    iw_migrate_report *rep;
} mig_ctx;

static bool is_local_path(const char *p)
{
    return p && *p && !iw_ollama_is_ref(p) && !strstr(p, "://");
}

/* What to extract for entry e: its download_path when local or an ollama:
 * reference; for an Ollama entry (backend "ollama" with a served_model_id)
 * without one, "ollama:<served_model_id>", which is also the fallback
 * (*alt) when the download_path cannot be found.  false: not an install. */
static bool plan(const cJSON *e, char **path, char **alt)
{
    const char *dp = iw_json_get_str(e, "download_path");
    const char *sid = iw_registry_ollama_served_id(e);
    *path = *alt = NULL;
    if (is_local_path(dp) || iw_ollama_is_ref(dp)) {
        if (!(*path = strdup(dp)))
            return true;   /* ENOMEM is reported by the caller */
        if (sid && !(iw_ollama_is_ref(dp) && strcmp(iw_ollama_ref_bare(dp), sid) == 0) &&
            asprintf(alt, "ollama:%s", sid) < 0)
            *alt = NULL;
        return true;
    }
    if (!sid)
        return false;
    if (asprintf(path, "ollama:%s", sid) < 0)
        *path = NULL;
    return true;
}

static const cJSON *arch_of(const cJSON *entry)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(entry, "metadata");
    const cJSON *a = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "architecture") : NULL;
    return cJSON_IsObject(a) ? a : NULL;
}

/* The entry's own kv_precision wins over a default of the extraction: one
 * set by the user or by the original (no field source, or one that is not
 * this tool's "default:..."), unless the files themselves name one (a field
 * source that is not a default, e.g. quantization_config.kv_cache_scheme).
 * The KV bytes then follow it (opts->kv_recompute). */
static int keep_kv_precision(iw_arch *a, const cJSON *old, const iw_migrate_opts *opts)
{
    const char *was = iw_json_get_str(old, "kv_precision");
    const char *was_src = iw_json_get_str(cJSON_GetObjectItemCaseSensitive(old, "field_sources"), "kv_precision");
    const char *now_src = iw_arch_get_source(a, "kv_precision");
    if (!was || !*was || strlen(was) > 32 || (was_src && !strncmp(was_src, "default:", 8)) ||
        (now_src && strncmp(now_src, "default:", 8)) || (a->kv_precision && !strcmp(a->kv_precision, was)))
        return 0;
    int rc = iw_arch_set_str(&a->kv_precision, was);
    if (!rc)
        rc = iw_arch_set_source(a, "kv_precision", was_src ? was_src : "registry (kept by migrate-architecture)");
    if (rc)
        return rc;
    a->kv_bytes_per_token = a->kv_bytes_per_token_full = a->kv_bytes_per_token_swa = IW_UNKNOWN;
    if (opts->kv_recompute && opts->kv_recompute(a) < 0) {
        iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
    }
    return 0;
}

/* An entry the original wrote names its config sources "config:<path of
 * config.json>" (docs/registry.md); this tool writes "config.json".  Keep the
 * original's form in its entries: "config.json[:block]" becomes
 * "config:<path>[:block]", the path from the record's own sources. */
static int originals_source_form(iw_arch *a, const cJSON *old)
{
    bool originals = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(old, "field_sources"))
        if (cJSON_IsString(it) && !strncmp(it->valuestring, "config:", 7))
            originals = true;
    const char *cfg = NULL;
    for (size_t i = 0; originals && !cfg && i < a->sources.n; i++)
        if (!strncmp(a->sources.v[i], "config:", 7))
            cfg = a->sources.v[i] + 7;
    if (!cfg)
        return 0;
    for (size_t i = 0; i < a->n_field_sources; i++) {
        const char *src = a->field_sources[i].source;
        if (strncmp(src, "config.json", 11) || (src[11] && src[11] != ':'))
            continue;
        char *n = NULL;
        if (asprintf(&n, "config:%s%s", cfg, src + 11) < 0)
            return iw_error_set(IW_ENOMEM, "migrate: out of memory");
        free(a->field_sources[i].source);
        a->field_sources[i].source = n;
    }
    return 0;
}

/* The new architecture object for one item given the current old one. */
static cJSON *new_arch(const mig_item *it, const cJSON *old, const iw_migrate_opts *opts)
{
    if (it->ok) {
        iw_arch a;
        iw_arch_init(&a);
        cJSON *o = NULL;
        if (iw_arch_copy(&a, &it->arch) == 0 && keep_kv_precision(&a, old, opts) == 0 &&
            originals_source_form(&a, old) == 0)
            o = iw_arch_to_json_keep(&a, old);
        iw_arch_free(&a);
        return o;
    }
    /* failure: keep the old record, add the warning once */
    cJSON *o = old ? cJSON_Duplicate(old, 1) : cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "warnings");
    if (!cJSON_IsArray(w)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "warnings");
        w = cJSON_AddArrayToObject(o, "warnings");
    }
    char msg[1200];
    snprintf(msg, sizeof msg, "migrate: %s", it->error ? it->error : "extraction failed");
    const cJSON *s;
    cJSON_ArrayForEach(s, w)
        if (cJSON_IsString(s) && strcmp(s->valuestring, msg) == 0)
            return o;
    if (!w || !cJSON_AddItemToArray(w, cJSON_CreateString(msg))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The record to write for one item over `old`: the extraction (or the old
 * record with the failure warning), then the curated entry's
 * metadata.architecture_override, the way to pin a value by hand. */
static cJSON *record_for(const mig_item *it, const cJSON *old, const cJSON *cur_entry,
                         const iw_migrate_opts *opts)
{
    cJSON *na = new_arch(it, old, opts);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cur_entry, "metadata");
    const cJSON *ov = cJSON_IsObject(m) ? cJSON_GetObjectItemCaseSensitive(m, "architecture_override") : NULL;
    if (na && cJSON_IsObject(ov) && !iw_pyjson_merge(na, ov)) {
        cJSON_Delete(na);
        return NULL;
    }
    return na;
}

static int put_arch(cJSON *e, cJSON *na)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    if (!cJSON_IsObject(m)) {
        cJSON_DeleteItemFromObjectCaseSensitive(e, "metadata");
        m = cJSON_AddObjectToObject(e, "metadata");
    }
    if (!m) {
        cJSON_Delete(na);
        return iw_error_set(IW_ENOMEM, "migrate: out of memory");
    }
    if (cJSON_GetObjectItemCaseSensitive(m, "architecture"))
        cJSON_ReplaceItemInObjectCaseSensitive(m, "architecture", na);
    else
        cJSON_AddItemToObject(m, "architecture", na);
    return 0;
}

/* One pass over the items against the layers: disc/cur (cur NULL or
 * empty: no curated entries), merged the merged view (for entries only in
 * curated).  The discovered record is written as before; when the curated
 * entry holds a metadata.architecture of its own, the merged view (the
 * original's merge, what the GUI reads) shows curated's keys over it, so
 * the new record is written there too (docs/registry.md, "Curated
 * entries"). */
static int apply(cJSON *disc, cJSON *cur, const cJSON *merged, mig_ctx *c, bool write)
{
    int mask = 0, rc = 0;
    iw_name_index dix, cix = { NULL, 0 }, mix = { NULL, 0 };
    if (!iw_name_index_build(&dix, disc) || (cur && !iw_name_index_build(&cix, cur)) ||
        (merged && !iw_name_index_build(&mix, merged))) {
        rc = iw_error_set(IW_ENOMEM, "migrate: out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        mig_item *it = &c->items[i];
        cJSON *e = iw_name_index_find(&dix, it->name);
        cJSON *ce = cix.n ? iw_name_index_find(&cix, it->name) : NULL;
        const cJSON *cold = ce ? arch_of(ce) : NULL;
        const cJSON *old = e ? arch_of(e) : NULL;
        const cJSON *shown = mix.n ? arch_of(iw_name_index_find(&mix, it->name)) : old;
        if (!e)
            old = shown;
        cJSON *na = record_for(it, old, ce, c->opts), *nc = cold ? record_for(it, cold, ce, c->opts) : NULL;
        if (!na || (cold && !nc)) {
            cJSON_Delete(na);
            rc = iw_error_set(IW_ENOMEM, "migrate: out of memory");
            goto out;
        }
        bool force = c->opts->force && it->ok;
        bool dchanged = !iw_arch_json_same(na, old) || force;
        bool cchanged = nc && (!iw_arch_json_same(nc, cold) || force);
        bool changed = dchanged || cchanged;
        const char *status = !it->ok ? (changed ? "failed" : "failed-unchanged")
                                     : (changed ? "updated" : "unchanged");
        if (!it->ok)
            c->rep->failed++;
        else if (changed)
            c->rep->updated++;
        else
            c->rep->unchanged++;
        if (c->rep->changes) {
            cJSON *ch = cJSON_CreateObject();
            if (ch) {
                cJSON_AddStringToObject(ch, "name", it->name);
                cJSON_AddStringToObject(ch, "status", status);
                if (it->error)
                    cJSON_AddStringToObject(ch, "error", it->error);
                if (changed) {
                    cJSON_AddItemToObject(ch, "before", shown ? cJSON_Duplicate(shown, 1) : cJSON_CreateNull());
                    cJSON_AddItemToObject(ch, "after", cJSON_Duplicate(nc ? nc : na, 1));
                }
                cJSON_AddItemToArray(c->rep->changes, ch);
            }
        }
        if (!write || !dchanged)
            cJSON_Delete(na);
        if (!write || !cchanged)
            cJSON_Delete(nc);
        if (!write)
            continue;
        if (dchanged) {
            if (!e) {
                /* only in curated: the discovered layer gets a thin entry */
                e = cJSON_CreateObject();
                if (!e || !cJSON_AddStringToObject(e, "name", it->name)) {
                    cJSON_Delete(e);
                    cJSON_Delete(na);
                    if (cchanged)
                        cJSON_Delete(nc);
                    rc = iw_error_set(IW_ENOMEM, "migrate: out of memory");
                    goto out;
                }
                cJSON_AddItemToArray(disc, e);
            }
            if ((rc = put_arch(e, na)) < 0) {
                if (cchanged)
                    cJSON_Delete(nc);
                goto out;
            }
            mask |= 1 << IW_REG_DISCOVERED;
        }
        if (cchanged) {
            if ((rc = put_arch(ce, nc)) < 0)
                goto out;
            mask |= 1 << IW_REG_CURATED;
        }
    }
out:
    iw_name_index_free(&dix);
    iw_name_index_free(&cix);
    iw_name_index_free(&mix);
    return rc < 0 ? rc : mask;
}

static int migrate_txn(cJSON *disc, cJSON *cur, void *p)
{
    mig_ctx *c = p;
    cJSON *merged = cJSON_GetArraySize(cur) ? iw_registry_merge(disc, cur) : NULL;
    /* counts are recomputed against the fresh state */
    c->rep->updated = c->rep->unchanged = c->rep->failed = 0;
    if (c->rep->changes) {
        cJSON_Delete(c->rep->changes);
        c->rep->changes = cJSON_CreateArray();
    }
    int rc = apply(disc, cur, merged, c, !c->opts->dry_run);
    cJSON_Delete(merged);
    return rc;
}

int iw_registry_migrate(iw_registry *r, iw_registry_extract_fn fn, void *ctx,
                        const iw_migrate_opts *opts, iw_migrate_report *rep)
{
    iw_migrate_opts defopts = IW_MIGRATE_OPTS_INIT;
    mig_ctx c = { NULL, 0, opts ? opts : &defopts, rep };
    int rc = 0;
    if (!r || !fn || !rep)
        return iw_error_set(IW_EINVAL, "migrate: missing registry, extractor or report");
    if ((rc = iw_opts_version_check(c.opts->version, IW_MIGRATE_OPTS_VERSION, "iw_registry_migrate")) < 0)
        return rc;
    memset(rep, 0, sizeof *rep);
    rep->changes = cJSON_CreateArray();
    const cJSON *merged = iw_registry_entries(r, IW_REG_MERGED);
    size_t total = (size_t)cJSON_GetArraySize(merged);
    c.items = calloc(total ? total : 1, sizeof *c.items);
    if (!c.items)
        return iw_error_set(IW_ENOMEM, "migrate: out of memory");
    const cJSON *e;
    size_t todo = 0;
    cJSON_ArrayForEach(e, merged) {
        char *p, *alt;
        if (iw_json_get_str(e, "name") && plan(e, &p, &alt))
            todo++;
        free(p);
        free(alt);
    }
    if (c.opts->limit > 0 && todo > (size_t)c.opts->limit)
        todo = (size_t)c.opts->limit;
    cJSON_ArrayForEach(e, merged) {
        const char *name = iw_json_get_str(e, "name");
        char *path = NULL, *alt = NULL;
        if (!name || !plan(e, &path, &alt)) {
            rep->skipped++;
            continue;
        }
        rep->candidates++;
        if (c.opts->progress && (c.opts->limit <= 0 || c.n < (size_t)c.opts->limit))
            c.opts->progress(c.n, todo, name, c.opts->progress_ctx);
        if (c.opts->limit > 0 && c.n >= (size_t)c.opts->limit) {
            rep->skipped++;
            free(path);
            free(alt);
            continue;
        }
        mig_item *it = &c.items[c.n++];
        it->name = strdup(name);
        it->path = path;
        iw_arch_init(&it->arch);
        if (!it->name || !it->path) {
            free(alt);
            rc = iw_error_set(IW_ENOMEM, "migrate: out of memory");
            goto done;
        }
        iw_error_clear();
        int erc = fn(path, &it->arch, ctx);
        if ((erc == IW_ENOTFOUND || erc == IW_EINVAL) && alt) {
            /* an Ollama entry whose download_path is gone or unreadable:
             * its served_model_id names the model in the store */
            char first[600];
            snprintf(first, sizeof first, "%s", iw_error_last());
            iw_error_clear();
            iw_arch_free(&it->arch);
            erc = fn(alt, &it->arch, ctx);
            if (erc < 0) {
                char second[600];
                snprintf(second, sizeof second, "%s", iw_error_last());
                iw_error_set(erc, "%s; served_model_id %s: %s", first, alt + 7, second);
            }
        }
        free(alt);
        it->ok = erc == 0;
        if (!it->ok) {
            const char *msg = iw_error_last();
            it->error = strdup(*msg ? msg : "extraction failed");
            iw_error_clear();
        }
    }
    if (c.opts->dry_run) {
        /* against the state just loaded; nothing written */
        cJSON *disc = cJSON_Duplicate(iw_registry_entries(r, IW_REG_DISCOVERED), 1);
        cJSON *cur = cJSON_Duplicate(iw_registry_entries(r, IW_REG_CURATED), 1);
        rc = disc && cur ? apply(disc, cur, merged, &c, false) : iw_error_set(IW_ENOMEM, "migrate: out of memory");
        cJSON_Delete(disc);
        cJSON_Delete(cur);
    } else {
        rc = iw_registry_update(r, migrate_txn, &c);
    }
    if (rc > 0)
        rc = 0;
done:
    for (size_t i = 0; i < c.n; i++) {
        free(c.items[i].name);
        free(c.items[i].path);
        free(c.items[i].error);
        iw_arch_free(&c.items[i].arch);
    }
    free(c.items);
    return rc;
}
