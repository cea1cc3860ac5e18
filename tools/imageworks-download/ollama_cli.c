/* ollama_cli.c - Ollama models in the commands (see ollama_cli.h). */
#include "ollama_cli.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "iwdl/schema.h"

/* served_model_id of an Ollama entry; the original writes "None" for none. */
static const char *served_id(const cJSON *e)
{
    const char *b = iw_json_get_str(e, "backend");
    const char *s = iw_json_get_str(e, "served_model_id");
    if (!b || strcmp(b, "ollama") != 0 || !s || !*s || !strcmp(s, "None") || !strcmp(s, "null"))
        return NULL;
    return s;
}

/* "ollama://x", "ollama:/x", "ollama:x" -> "x" */
static const char *bare(const char *p)
{
    if (iw_ollama_is_ref(p)) {
        p += 7;
        while (*p == '/')
            p++;
    }
    return p;
}

bool cli_ollama_entry_refs(const cJSON *e, const char **ref, const char **alt)
{
    const char *dp = iw_json_get_str(e, "download_path");
    const char *sid = served_id(e);
    if (alt)
        *alt = NULL;
    if (dp && iw_ollama_is_ref(dp)) {
        *ref = dp;
        if (alt && sid && strcmp(bare(dp), sid) != 0)
            *alt = sid;
        return true;
    }
    if (!sid)
        return false;
    *ref = sid;
    return true;
}

/* Both references name the same model (Ollama compares names without case). */
static bool same_model(const char *s, const iw_ollama_ref *want)
{
    iw_ollama_ref r;
    iw_error_clear();
    bool ok = s && iw_ollama_parse_ref(s, &r) == 0;
    iw_error_clear();
    return ok && !strcasecmp(r.registry, want->registry) && !strcasecmp(r.ns, want->ns) &&
           !strcasecmp(r.name, want->name) && !strcasecmp(r.tag, want->tag);
}

static bool entry_is_model(const cJSON *e, const iw_ollama_ref *want)
{
    const char *dp = iw_json_get_str(e, "download_path");
    if (dp && iw_ollama_is_ref(dp) && same_model(dp, want))
        return true;
    const char *sid = served_id(e);
    return sid && same_model(sid, want);
}

static cJSON *find_model(const cJSON *arr, const iw_ollama_ref *want)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (entry_is_model(e, want))
            return (cJSON *)e;
    return NULL;
}

static cJSON *find_name(const cJSON *arr, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *n = iw_json_get_str(e, "name");
        if (n && strcmp(n, name) == 0)
            return (cJSON *)e;
    }
    return NULL;
}

typedef struct oreg {
    const iw_arch *a;
    iw_ollama_ref ref;
    char fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];       /* "name:tag" */
    char path[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 16];      /* "ollama:/name:tag" */
    const char *location;
    int64_t size;             /* sum of the manifest's layers */
    char downloaded_at[80];   /* the manifest's mtime (when it was pulled) */
    char *name;
    bool changed;
} oreg;

/* Set key to item, replacing in place to keep the key order.  Always takes
 * item: on failure it is freed. */
static bool put(cJSON *o, const char *key, cJSON *item)
{
    if (!item)
        return false;
    bool ok = cJSON_GetObjectItemCaseSensitive(o, key) ? cJSON_ReplaceItemInObjectCaseSensitive(o, key, item) != 0
                                                       : cJSON_AddItemToObject(o, key, item) != 0;
    if (!ok)
        cJSON_Delete(item);
    return ok;
}

static bool put_str(cJSON *o, const char *key, const char *v)
{
    return put(o, key, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

/* A key the entry lacks, or holds as null (or the original's "None"). */
static bool lacks(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && (!*v->valuestring || !strcmp(v->valuestring, "None")));
}

static bool same_ignoring_stamp(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    cJSON *x = cJSON_Duplicate(a, 1), *y = cJSON_Duplicate(b, 1);
    bool eq = false;
    if (x && y) {
        cJSON_DeleteItemFromObjectCaseSensitive(x, "collected_at");
        cJSON_DeleteItemFromObjectCaseSensitive(y, "collected_at");
        eq = cJSON_Compare(x, y, 1);
    }
    cJSON_Delete(x);
    cJSON_Delete(y);
    return eq;
}

/* metadata.architecture of e = keep(new, old) when more than collected_at changes. */
static int set_arch(cJSON *e, oreg *c)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    if (!cJSON_IsObject(m)) {
        if (!put(e, "metadata", cJSON_CreateObject()))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        m = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    }
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(m, "architecture");
    cJSON *na = iw_arch_to_json_keep(c->a, cJSON_IsObject(old) ? old : NULL);
    if (!na)
        return IW_ENOMEM;
    if (cJSON_IsObject(old) && same_ignoring_stamp(na, old)) {
        cJSON_Delete(na);
        return 0;
    }
    if (!put(m, "architecture", na))
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    c->changed = true;
    return 0;
}

/* Context Ollama serves by default: the params' num_ctx, else the
 * original's seed min(max(2048, 0.6 ctx), ctx), else 4096. */
static int64_t num_ctx_of(const iw_arch *a)
{
    if (a->ollama_num_ctx > 0)
        return a->ollama_num_ctx;
    int64_t ctx = iw_arch_context(a);
    if (ctx <= 0)
        return 4096;
    int64_t n = (int64_t)(0.6 * (double)ctx);
    if (n < 2048)
        n = 2048;
    return n > ctx ? ctx : n;
}

/* The family/slug base: "qwen3" for library models, "ns-name" for other
 * namespaces on registry.ollama.ai (the original's "aqualaguna-gemma-..."),
 * the repo name for other registries (hf.co/<owner>/<repo>). */
static void base_name(const iw_ollama_ref *r, char *out, size_t n)
{
    if (strcasecmp(r->registry, IW_OLLAMA_DEFAULT_REGISTRY) == 0 && strcasecmp(r->ns, IW_OLLAMA_DEFAULT_NAMESPACE) != 0)
        snprintf(out, n, "%s-%s", r->ns, r->name);
    else
        snprintf(out, n, "%s", r->name);
}

static int new_entry(cJSON *e, oreg *c)
{
    char base[2 * IW_OLLAMA_MAX_PART + 2], qbuf[64], disp[2 * IW_OLLAMA_MAX_PART + 80];
    base_name(&c->ref, base, sizeof base);
    const char *q = iw_registry_quant_label(c->a, qbuf, sizeof qbuf);
    char ql[64] = "";
    if (q) {
        snprintf(ql, sizeof ql, "%s", q);
        for (char *p = ql; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        char spaced[64];
        snprintf(spaced, sizeof spaced, "%s", q);
        for (char *p = spaced; *p; p++)
            if (*p == '_')
                *p = ' ';
        snprintf(disp, sizeof disp, "%s (%s)", base, spaced);
    } else {
        snprintf(disp, sizeof disp, "%s", base);
    }
    char fam[sizeof base];
    snprintf(fam, sizeof fam, "%s", base);
    for (char *p = fam; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    char nc[32];
    snprintf(nc, sizeof nc, "%" PRId64, num_ctx_of(c->a));

    cJSON *bc = cJSON_CreateObject(), *args = cJSON_CreateArray();
    bool ok = bc && args && cJSON_AddItemToArray(args, cJSON_CreateString("--num-ctx")) &&
              cJSON_AddItemToArray(args, cJSON_CreateString(nc)) &&
              cJSON_AddNumberToObject(bc, "port", iw_registry_default_port("ollama")) &&
              cJSON_AddStringToObject(bc, "model_path", c->path) && cJSON_AddItemToObject(bc, "extra_args", args);
    if (!ok) {
        if (!bc || !cJSON_GetObjectItemCaseSensitive(bc, "extra_args"))
            cJSON_Delete(args);
        cJSON_Delete(bc);
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    }
    cJSON *caps = cJSON_CreateObject(), *art = cJSON_CreateObject(), *ct = cJSON_CreateObject();
    cJSON *vl = cJSON_CreateObject(), *perf = cJSON_CreateObject(), *probes = cJSON_CreateObject();
    ok = caps && cJSON_AddTrueToObject(caps, "text") && cJSON_AddBoolToObject(caps, "vision", c->a->has_vision) &&
         cJSON_AddFalseToObject(caps, "audio") && cJSON_AddFalseToObject(caps, "embedding") &&
         art && cJSON_AddStringToObject(art, "aggregate_sha256", "") && cJSON_AddArrayToObject(art, "files") &&
         ct && cJSON_AddStringToObject(ct, "source", "embedded") && cJSON_AddNullToObject(ct, "path") &&
         cJSON_AddNullToObject(ct, "sha256") &&
         vl && cJSON_AddFalseToObject(vl, "locked") && cJSON_AddNullToObject(vl, "expected_aggregate_sha256") &&
         cJSON_AddNullToObject(vl, "last_verified") &&
         perf && cJSON_AddNumberToObject(perf, "rolling_samples", 0) && cJSON_AddNullToObject(perf, "ttft_ms_avg") &&
         cJSON_AddNullToObject(perf, "throughput_toks_per_s_avg") && cJSON_AddNullToObject(perf, "last_sample") &&
         probes && cJSON_AddNullToObject(probes, "vision");
    if (!ok) {
        cJSON_Delete(bc);
        cJSON_Delete(caps);
        cJSON_Delete(art);
        cJSON_Delete(ct);
        cJSON_Delete(vl);
        cJSON_Delete(perf);
        cJSON_Delete(probes);
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    }
    /* in the original's key order; put() takes each item, so after a
     * failure the rest are freed here */
    static const char *const KEYS[] = { "backend_config", "capabilities", "artifacts", "chat_template",
                                        "version_lock", "performance", "probes" };
    cJSON *items[] = { bc, caps, art, ct, vl, perf, probes };
    ok = put_str(e, "display_name", disp) && put_str(e, "backend", "ollama");
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (ok)
            ok = put(e, KEYS[i], items[i]);
        else
            cJSON_Delete(items[i]);
    }
    if (!ok)
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    ok = put(e, "profiles_placeholder", cJSON_CreateNull()) && put(e, "metadata", cJSON_CreateObject()) &&
         put_str(e, "served_model_id", c->fmt) && put(e, "model_aliases", cJSON_CreateArray()) &&
         put(e, "roles", cJSON_CreateArray()) && put(e, "license", cJSON_CreateNull()) &&
         put(e, "source", cJSON_CreateNull()) && put(e, "deprecated", cJSON_CreateFalse()) &&
         put_str(e, "family", fam) && put_str(e, "source_provider", "ollama") &&
         put_str(e, "quantization", q ? ql : NULL) && put(e, "backend_alternatives", cJSON_CreateArray()) &&
         put(e, "role_priority", cJSON_CreateObject()) && put_str(e, "download_format", "gguf") &&
         put_str(e, "download_location", c->location ? c->location : "linux_wsl") &&
         put_str(e, "download_path", c->path) &&
         put(e, "download_size_bytes", c->size >= 0 ? cJSON_CreateNumber((double)c->size) : cJSON_CreateNull()) &&
         put(e, "download_files", cJSON_CreateArray()) && put_str(e, "download_directory_checksum", "") &&
         put_str(e, "downloaded_at", c->downloaded_at[0] ? c->downloaded_at : NULL) &&
         put(e, "last_accessed", cJSON_CreateNull());
    if (!ok)
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    c->changed = true;
    return set_arch(e, c);
}

/* An entry that already names this model: architecture, size, and the
 * keys it lacks; everything else (name, curated choices, extra_args) stays. */
static int update_entry(cJSON *e, oreg *c)
{
    char qbuf[64];
    const char *q = iw_registry_quant_label(c->a, qbuf, sizeof qbuf);
    struct { const char *key, *val; } fill[] = {
        { "backend", "ollama" }, { "served_model_id", c->fmt }, { "download_path", c->path },
        { "source_provider", "ollama" }, { "download_format", "gguf" }, { "quantization", NULL },
    };
    char ql[64] = "";
    if (q) {
        snprintf(ql, sizeof ql, "%s", q);
        for (char *p = ql; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        fill[5].val = ql;
    }
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++) {
        if (!fill[i].val || !lacks(e, fill[i].key))
            continue;
        if (!put_str(e, fill[i].key, fill[i].val))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        c->changed = true;
    }
    int64_t have;
    if (c->size >= 0 && !(iw_json_get_i64(e, "download_size_bytes", &have) && have == c->size)) {
        if (!put(e, "download_size_bytes", cJSON_CreateNumber((double)c->size)))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        c->changed = true;
    }
    return set_arch(e, c);
}

static int register_txn(cJSON *disc, cJSON *cur, void *p)
{
    oreg *c = p;
    int rc;
    c->changed = false;
    free(c->name);
    c->name = NULL;
    cJSON *e = find_model(disc, &c->ref);
    if (e) {
        if (!(c->name = strdup(iw_json_get_str(e, "name"))))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        if ((rc = update_entry(e, c)) < 0)
            return rc;
        return c->changed ? 1 << IW_REG_DISCOVERED : 0;
    }
    const cJSON *ce = find_model(cur, &c->ref);
    if (ce) {
        /* named by a curated entry: the discovered entry of that name (a
         * thin {name, metadata} one, created as migrate-architecture does)
         * carries the architecture; the curated keys win in the merge */
        const char *n = iw_json_get_str(ce, "name");
        if (!(c->name = strdup(n)))
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        if ((e = find_name(disc, n))) {
            if ((rc = set_arch(e, c)) < 0)
                return rc;
            return c->changed ? 1 << IW_REG_DISCOVERED : 0;
        }
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", n)) {
            cJSON_Delete(e);
            return iw_error_set(IW_ENOMEM, "scan: out of memory");
        }
        if ((rc = set_arch(e, c)) < 0) {
            cJSON_Delete(e);
            return rc;
        }
        cJSON_AddItemToArray(disc, e);
        return 1 << IW_REG_DISCOVERED;
    }
    char base[2 * IW_OLLAMA_MAX_PART + 2], qbuf[64];
    base_name(&c->ref, base, sizeof base);
    char *slug = NULL;
    if ((rc = iw_registry_slug(base, iw_registry_quant_label(c->a, qbuf, sizeof qbuf), c->a->parameters.total,
                               &slug)) < 0)
        return rc;
    c->name = slug;
    for (int k = 2; find_name(disc, c->name) || find_name(cur, c->name); k++) {
        if (c->name != slug)
            free(c->name);
        if (k > 10000 || asprintf(&c->name, "%s-%d", slug, k) < 0) {
            c->name = slug;
            return iw_error_set(IW_EEXISTS, "scan: no free registry name for '%s'", slug);
        }
    }
    if (c->name != slug)
        free(slug);
    e = cJSON_CreateObject();
    if (!e || !cJSON_AddStringToObject(e, "name", c->name)) {
        cJSON_Delete(e);
        return iw_error_set(IW_ENOMEM, "scan: out of memory");
    }
    if ((rc = new_entry(e, c)) < 0) {
        cJSON_Delete(e);
        return rc;
    }
    cJSON_AddItemToArray(disc, e);
    return 1 << IW_REG_DISCOVERED;
}

int cli_ollama_register(iw_registry *r, const char *ref, const char *root, const iw_arch *a,
                        const char *location, char **name_out, bool *changed)
{
    oreg c;
    iw_ollama_manifest m;
    int rc;
    memset(&c, 0, sizeof c);
    *name_out = NULL;
    *changed = false;
    c.a = a;
    c.location = location;
    c.size = IW_UNKNOWN;
    if ((rc = iw_ollama_parse_ref(ref, &c.ref)) < 0 ||
        (rc = iw_ollama_ref_format(&c.ref, c.fmt, sizeof c.fmt)) < 0)
        return rc;
    snprintf(c.path, sizeof c.path, "ollama:/%s", c.fmt);   /* the original importer's single slash */
    if ((rc = iw_ollama_resolve(&c.ref, root, &m)) < 0)
        return rc;
    c.size = 0;
    for (size_t i = 0; i < m.n_layers; i++) {
        struct stat st;
        if (m.layers[i].size >= 0)
            c.size += m.layers[i].size;
        else if (m.layers[i].path && stat(m.layers[i].path, &st) == 0)
            c.size += st.st_size;
    }
    struct stat ms;
    struct tm tm;
    if (stat(m.manifest_path, &ms) == 0 && gmtime_r(&ms.st_mtim.tv_sec, &tm)) {
        char t[32];
        strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(c.downloaded_at, sizeof c.downloaded_at, "%s.%06ld+00:00", t, (long)(ms.st_mtim.tv_nsec / 1000));
    }
    iw_ollama_manifest_free(&m);
    rc = iw_registry_update(r, register_txn, &c);
    if (rc < 0) {
        free(c.name);
        return rc;
    }
    *name_out = c.name;
    *changed = rc > 0;
    return 0;
}

bool cli_entry_installed(const cJSON *e)
{
    const char *ref = NULL, *alt = NULL;
    if (cli_ollama_entry_refs(e, &ref, &alt)) {
        const char *try[2] = {ref, alt};
        for (int i = 0; i < 2; i++) {
            iw_ollama_ref r;
            iw_ollama_manifest m;
            if (!try[i] || iw_ollama_parse_ref(try[i], &r) < 0)
                continue;
            if (iw_ollama_resolve(&r, NULL, &m) == 0) {
                iw_ollama_manifest_free(&m);
                return true;
            }
        }
        iw_error_clear();
        return false;
    }
    const char *dp = iw_json_get_str(e, "download_path");
    return dp && *dp && iw_path_exists(dp);
}
