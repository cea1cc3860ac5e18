/* reconcile.c - reconcile-architecture: newest runtime metrics per model
 * from the vLLM manager's JSONL log into metadata.architecture.runtime. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "iwdl/registry.h"
#include "iwdl/enginelog.h"
#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "nameindex.h"

const char *iw_registry_default_metrics_log(void)
{
    const char *e = getenv("IMAGEWORKS_METRICS_LOG");
    return (e && *e) ? e : "logs/model_loader_metrics.jsonl";
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int iw_parse_iso8601(const char *s, int64_t *sec, int32_t *usec)
{
    int Y, M, D, h, m, S;
    if (!s || strlen(s) < 19 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &S))
        return iw_error_set(IW_EFORMAT, "timestamp '%.40s' is not ISO-8601", s ? s : "");
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || S > 60)
        return iw_error_set(IW_EFORMAT, "timestamp '%.40s' is out of range", s);
    const char *p = s + 19;
    int32_t us = 0;
    if (*p == '.') {
        int nd = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (nd < 6) {
                us = us * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
        if (nd == 0)
            return iw_error_set(IW_EFORMAT, "timestamp '%.40s' has an empty fraction", s);
        while (nd++ < 6)
            us *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return iw_error_set(IW_EFORMAT, "timestamp '%.40s' has a bad zone offset", s);
        off = sign * (oh * 3600 + om * 60);
        p += 6;
    }
    if (*p)
        return iw_error_set(IW_EFORMAT, "timestamp '%.40s' has trailing characters", s);
    struct tm tm = { 0 };
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = S;
    time_t t = timegm(&tm);
    *sec = (int64_t)t - off;
    *usec = us;
    return 0;
}

/* ---------------------------------------------------------- model table */

typedef struct best {
    char   *model;      /* NULL = empty slot */
    int64_t sec;
    int32_t usec;
    size_t  line;
    cJSON  *root;       /* the parsed line */
} best;

typedef struct table { best *v; size_t cap, n; } table;

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static best *slot(table *t, const char *model)
{
    size_t i = (size_t)fnv(model) & (t->cap - 1);
    while (t->v[i].model && strcmp(t->v[i].model, model) != 0)
        i = (i + 1) & (t->cap - 1);
    return &t->v[i];
}

static int grow(table *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    best *nv = calloc(ncap, sizeof *nv), *old = t->v;
    size_t ocap = t->cap;
    if (!nv)
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    t->v = nv;
    t->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].model)
            *slot(t, old[i].model) = old[i];
    free(old);
    return 0;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        free(t->v[i].model);
        cJSON_Delete(t->v[i].root);
    }
    free(t->v);
}

/* One line: returns 1 accepted, 0 malformed (*why says why), <0 fatal (ENOMEM). */
static int take_line(table *t, const char *text, size_t len, size_t lineno, const char **why)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    int64_t sec;
    int32_t usec;
    if (!root) {
        *why = "not JSON";
        return 0;
    }
    const char *model = iw_json_get_str(root, "model");
    const char *ts = iw_json_get_str(root, "timestamp");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(root, "payload");
    *why = !cJSON_IsObject(root) ? "not an object"
         : !model || !*model ? "no model name"
         : strlen(model) > IW_REGISTRY_MAX_NAME ? "model name too long"
         : !ts ? "no timestamp"
         : !cJSON_IsObject(payload) ? "payload is not an object"
         : iw_parse_iso8601(ts, &sec, &usec) < 0 ? "timestamp is not ISO 8601" : NULL;
    if (*why) {
        iw_error_clear();
        cJSON_Delete(root);
        return 0;
    }
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(payload, "metrics");
    const cJSON *xa = cJSON_GetObjectItemCaseSensitive(payload, "extra_args");
    if ((metrics && !cJSON_IsObject(metrics) && !cJSON_IsNull(metrics)) ||
        (xa && !cJSON_IsArray(xa) && !cJSON_IsNull(xa))) {
        *why = metrics && !cJSON_IsObject(metrics) && !cJSON_IsNull(metrics) ? "payload.metrics is not an object"
                                                                             : "payload.extra_args is not an array";
        cJSON_Delete(root);
        return 0;
    }
    if ((t->n + 1) * 2 > t->cap) {
        if (t->n >= IW_METRICS_MAX_MODELS) {
            *why = "too many models in the log";
            cJSON_Delete(root);
            return 0;
        }
        int rc = grow(t);
        if (rc < 0) {
            cJSON_Delete(root);
            return rc;
        }
    }
    best *b = slot(t, model);
    if (!b->model) {
        if (!(b->model = strdup(model))) {
            cJSON_Delete(root);
            return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
        }
        t->n++;
    } else if (sec < b->sec || (sec == b->sec && usec < b->usec)) {
        cJSON_Delete(root);    /* older than what we have; ties: later line wins */
        return 1;
    }
    cJSON_Delete(b->root);
    b->root = root;
    b->sec = sec;
    b->usec = usec;
    b->line = lineno;
    return 1;
}

static int read_log(const char *path, table *t, iw_reconcile_report *rep)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) {
            rep->missing_file = true;
            return 0;
        }
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open metrics log '%s'", path);
    }
    iw_buf line = IW_BUF_INIT(IW_METRICS_MAX_LINE);
    char chunk[65536];
    size_t lineno = 0;
    bool too_long = false, pending = false;
    int rc = 0;
    for (;;) {
        bool eof = fgets(chunk, sizeof chunk, f) == NULL;
        size_t n = eof ? 0 : strlen(chunk);
        bool nl = n > 0 && chunk[n - 1] == '\n';
        if (!eof) {
            pending = true;
            if (!too_long && iw_buf_append(&line, chunk, nl ? n - 1 : n) < 0) {
                too_long = true;
                iw_error_clear();
            }
        }
        if ((nl || eof) && pending) {
            lineno++;
            rep->lines++;
            const char *s = line.data ? line.data : "";
            size_t len = line.len;
            while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
            size_t k = 0;
            while (k < len && (s[k] == ' ' || s[k] == '\t'))
                k++;
            const char *why = NULL;
            if (too_long) {
                why = "longer than 1 MiB";
            } else if (k == len) {
                rep->lines--;          /* blank lines are not counted */
            } else {
                int r = take_line(t, s + k, len - k, lineno, &why);
                if (r < 0) {
                    rc = r;
                    break;
                }
            }
            if (why) {
                if (rep->n_bad < IW_RECONCILE_MAX_BAD) {
                    rep->bad[rep->n_bad].line = lineno;
                    snprintf(rep->bad[rep->n_bad].why, sizeof rep->bad[0].why, "%s", why);
                    rep->n_bad++;
                }
                rep->malformed++;
            }
            iw_buf_clear(&line);
            too_long = false;
            pending = false;
        }
        if (eof)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = iw_error_set(IW_EIO, "cannot read metrics log '%s'", path);
    fclose(f);
    iw_buf_free(&line);
    return rc;
}

/* ---------------------------------------------------------- apply */

typedef struct rec_ctx {
    table *t;
    const char *file;
    bool dry_run;
    iw_reconcile_report *rep;
} rec_ctx;

static cJSON *runtime_of(const best *b, const char *file)
{
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(b->root, "payload");
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(payload, "metrics");
    const cJSON *xa = cJSON_GetObjectItemCaseSensitive(payload, "extra_args");
    const cJSON *producer = cJSON_GetObjectItemCaseSensitive(payload, "source");
    cJSON *rt = cJSON_CreateObject(), *lg;
    if (!rt)
        return NULL;
    if (cJSON_IsObject(metrics))
        for (const cJSON *m = metrics->child; m; m = m->next)
            if (m->string && !cJSON_GetObjectItemCaseSensitive(rt, m->string))
                cJSON_AddItemToObject(rt, m->string, cJSON_Duplicate(m, 1));
    if (cJSON_IsArray(xa))
        cJSON_AddItemToObject(rt, "extra_args_snapshot", cJSON_Duplicate(xa, 1));
    cJSON_DeleteItemFromObjectCaseSensitive(rt, "observed_at");
    cJSON_AddStringToObject(rt, "observed_at", iw_json_get_str(b->root, "timestamp"));
    /* source as the original's merge_runtime_payload writes it:
     * payload.get("source", "runtime-log"), replacing a metric of that
     * name; where the line came from goes in "log" */
    cJSON_DeleteItemFromObjectCaseSensitive(rt, "source");
    cJSON_AddItemToObject(rt, "source", producer ? cJSON_Duplicate(producer, 1) : cJSON_CreateString("runtime-log"));
    cJSON_DeleteItemFromObjectCaseSensitive(rt, "log");
    if (!(lg = cJSON_AddObjectToObject(rt, "log")) ||
        !cJSON_AddStringToObject(lg, "file", file) ||
        !cJSON_AddNumberToObject(lg, "line", (double)b->line) ||
        !cJSON_GetObjectItemCaseSensitive(rt, "source")) {
        cJSON_Delete(rt);
        return NULL;
    }
    return rt;
}

static bool has_runtime_log(const cJSON *arch)
{
    const cJSON *s, *srcs = cJSON_GetObjectItemCaseSensitive(arch, "sources");
    cJSON_ArrayForEach(s, srcs)
        if (cJSON_IsString(s) && strcmp(s->valuestring, "runtime-log") == 0)
            return true;
    return false;
}

/* arch.runtime = rt (owned), "runtime-log" listed once in arch.sources. */
static bool set_runtime(cJSON *arch, cJSON *rt)
{
    if (cJSON_GetObjectItemCaseSensitive(arch, "runtime"))
        cJSON_ReplaceItemInObjectCaseSensitive(arch, "runtime", rt);
    else
        cJSON_AddItemToObject(arch, "runtime", rt);
    if (has_runtime_log(arch))
        return true;
    cJSON *srcs = cJSON_GetObjectItemCaseSensitive(arch, "sources");
    if (!cJSON_IsArray(srcs)) {
        cJSON_DeleteItemFromObjectCaseSensitive(arch, "sources");
        srcs = cJSON_AddArrayToObject(arch, "sources");
    }
    return srcs && cJSON_AddItemToArray(srcs, cJSON_CreateString("runtime-log"));
}

static cJSON *obj_child(cJSON *parent, const char *key)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);
    if (cJSON_IsObject(o))
        return o;
    cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
    return cJSON_AddObjectToObject(parent, key);
}

/* The discovered entry's metadata.architecture object for `name`, created
 * (entry and objects) when absent.  A new discovered record is partial: the
 * merged view fills the rest from curated, so it starts with the merged
 * record's sources (`march`).  NULL on ENOMEM.  The index is not updated: a
 * name is looked up once per transaction. */
static cJSON *discovered_arch(cJSON *disc, const iw_name_index *dix, const char *name, const cJSON *march)
{
    cJSON *e = iw_name_index_find(dix, name);
    if (!e) {
        e = cJSON_CreateObject();
        if (!e || !cJSON_AddStringToObject(e, "name", name)) {
            cJSON_Delete(e);
            return NULL;
        }
        cJSON_AddItemToArray(disc, e);
    }
    cJSON *meta = obj_child(e, "metadata");
    bool fresh = meta && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(meta, "architecture"));
    cJSON *arch = meta ? obj_child(meta, "architecture") : NULL;
    const cJSON *msrc = cJSON_GetObjectItemCaseSensitive(march, "sources");
    if (arch && fresh && cJSON_IsArray(msrc))
        cJSON_AddItemToObject(arch, "sources", cJSON_Duplicate(msrc, 1));
    return arch;
}

static int reconcile_txn(cJSON *disc, cJSON *cur, void *p)
{
    rec_ctx *c = p;
    iw_reconcile_report *rep = c->rep;
    int mask = 0;
    /* with no curated entries the merged view is the discovered array */
    cJSON *merged = cJSON_GetArraySize(cur) ? iw_registry_merge(disc, cur) : NULL;
    if (cJSON_GetArraySize(cur) && !merged)
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    /* all three empty first: a failed build stops the others, and every
     * one is freed */
    iw_name_index mix = { NULL, 0 }, dix = { NULL, 0 }, cix = { NULL, 0 };
    if (!iw_name_index_build(&mix, merged ? merged : disc) || !iw_name_index_build(&dix, disc) ||
        !iw_name_index_build(&cix, cur)) {
        iw_name_index_free(&mix);
        iw_name_index_free(&dix);
        iw_name_index_free(&cix);
        cJSON_Delete(merged);
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    }
    rep->updated = rep->unchanged = rep->unknown = 0;
    cJSON_Delete(rep->changes);
    cJSON_Delete(rep->unknown_models);
    rep->changes = cJSON_CreateArray();
    rep->unknown_models = cJSON_CreateArray();
    cJSON *rt = NULL;
    for (size_t i = 0; i < c->t->cap; i++) {
        const best *b = &c->t->v[i];
        if (!b->model)
            continue;
        const cJSON *me = iw_name_index_find(&mix, b->model);
        if (!me) {
            rep->unknown++;
            cJSON_AddItemToArray(rep->unknown_models, cJSON_CreateString(b->model));
            continue;
        }
        rt = runtime_of(b, c->file);
        if (!rt)
            goto oom;
        const cJSON *march = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(me, "metadata"), "architecture");
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(march, "runtime");
        if (old && cJSON_Compare(old, rt, 1) && has_runtime_log(march)) {
            rep->unchanged++;
            cJSON_Delete(rt);
            continue;
        }
        rep->updated++;
        cJSON *ch = cJSON_CreateObject();
        if (ch) {
            cJSON_AddStringToObject(ch, "name", b->model);
            cJSON_AddStringToObject(ch, "status", "updated");
            cJSON_AddItemToObject(ch, "before", old ? cJSON_Duplicate(old, 1) : cJSON_CreateNull());
            cJSON_AddItemToObject(ch, "after", cJSON_Duplicate(rt, 1));
            cJSON_AddItemToArray(rep->changes, ch);
        }
        if (c->dry_run) {
            cJSON_Delete(rt);
            continue;
        }
        cJSON *arch = discovered_arch(disc, &dix, b->model, march);
        if (!arch) {
            goto oom;
        }
        /* a curated entry with its own metadata.architecture shows its
         * runtime and sources over discovered's in the merged view (the
         * original's merge): write the runtime there too */
        cJSON *ce = cix.n ? iw_name_index_find(&cix, b->model) : NULL;
        cJSON *cm = ce ? cJSON_GetObjectItemCaseSensitive(ce, "metadata") : NULL;
        cJSON *carch = cJSON_IsObject(cm) ? cJSON_GetObjectItemCaseSensitive(cm, "architecture") : NULL;
        if (cJSON_IsObject(carch)) {
            cJSON *rt2 = cJSON_Duplicate(rt, 1);
            if (!rt2 || !set_runtime(carch, rt2)) {
                goto oom;
            }
            mask |= 1 << IW_REG_CURATED;
        }
        set_runtime(arch, rt);
        mask |= 1 << IW_REG_DISCOVERED;
    }
    cJSON_Delete(merged);
    iw_name_index_free(&mix);
    iw_name_index_free(&dix);
    iw_name_index_free(&cix);
    return c->dry_run ? 0 : mask;
oom:
    cJSON_Delete(rt);
    cJSON_Delete(merged);
    iw_name_index_free(&mix);
    iw_name_index_free(&dix);
    iw_name_index_free(&cix);
    return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
}

/* A reconcile transaction: under the registry's lock, or for a dry run over
 * copies of the layers (nothing written).  0 or a negative error. */
static int run_txn(iw_registry *r, iw_registry_txn_fn fn, void *ctx, bool dry_run)
{
    int rc;
    if (dry_run) {
        cJSON *d = cJSON_Duplicate(iw_registry_entries(r, IW_REG_DISCOVERED), 1);
        cJSON *cu = cJSON_Duplicate(iw_registry_entries(r, IW_REG_CURATED), 1);
        rc = (d && cu) ? fn(d, cu, ctx) : iw_error_set(IW_ENOMEM, "reconcile: out of memory");
        cJSON_Delete(d);
        cJSON_Delete(cu);
    } else {
        rc = iw_registry_update(r, fn, ctx);
    }
    return rc > 0 ? 0 : rc;
}

int iw_registry_reconcile(iw_registry *r, const char *log_path, bool dry_run, iw_reconcile_report *rep)
{
    table t = { NULL, 0, 0 };
    char *real = NULL;
    int rc;
    if (!r || !rep)
        return iw_error_set(IW_EINVAL, "reconcile: no registry or report");
    memset(rep, 0, sizeof *rep);
    if (!log_path)
        log_path = iw_registry_default_metrics_log();
    if ((rc = grow(&t)) < 0)
        return rc;
    if ((rc = read_log(log_path, &t, rep)) < 0)
        goto done;
    rep->models = t.n;
    if (rep->missing_file || t.n == 0)
        goto done;
    real = realpath(log_path, NULL);
    rec_ctx c = { &t, real ? real : log_path, dry_run, rep };
    rc = run_txn(r, reconcile_txn, &c, dry_run);
done:
    free(real);
    table_free(&t);
    return rc;
}

/* ================================================= engine start-up logs */

void iw_registry_time_iso(int64_t sec, int32_t usec, char out[40])
{
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 40, "1970-01-01T00:00:00.000000+00:00");
        return;
    }
    snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(usec >= 0 && usec < 1000000 ? usec : 0));
}

typedef struct eng_ctx {
    cJSON *starts;        /* every start of every log, with source.file absolute */
    const char *name;     /* --name */
    bool dry_run;
    iw_engine_reconcile_report *rep;
} eng_ctx;

static size_t trimmed_len(const char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        n--;
    return n;
}

/* Does identity `id` (a served name, repo id or path the log names) name
 * the entry value `v`?  Equal strings, equal paths (trailing '/' ignored),
 * or a file inside the folder v. */
static bool names(const char *id, const char *v)
{
    if (!id || !*id || !v || !*v || !strcmp(v, "None"))
        return false;
    if (!strcmp(id, v))
        return true;
    size_t a = trimmed_len(id), b = trimmed_len(v);
    if (a == b && !strncmp(id, v, a))
        return true;
    return v[0] == '/' && a > b && !strncmp(id, v, b) && id[b] == '/';
}

/* An Ollama blob path ".../blobs/sha256-<hex>" names the entry whose
 * architecture was read from that blob (sources "gguf:<path to the blob>"). */
static bool names_blob(const char *id, const cJSON *arch)
{
    const char *b = id ? strstr(id, "/blobs/sha256-") : NULL;
    if (!b)
        return false;
    b += 7;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(arch, "sources")) {
        if (!cJSON_IsString(s))
            continue;
        size_t n = strlen(s->valuestring), m = strlen(b);
        if (n >= m && !strcmp(s->valuestring + n - m, b))
            return true;
    }
    return false;
}

static bool entry_matches(const cJSON *e, const cJSON *start)
{
    const char *ids[2] = { iw_json_get_str(start, "served_name"), iw_json_get_str(start, "model") };
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    const cJSON *bc = cJSON_GetObjectItemCaseSensitive(e, "backend_config");
    const char *vals[5] = { iw_json_get_str(e, "name"), iw_json_get_str(e, "served_model_id"),
                            iw_json_get_str(md, "hf_repo_id"), iw_json_get_str(e, "download_path"),
                            iw_json_get_str(bc, "model_path") };
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < 5; k++)
            if (names(ids[i], vals[k]))
                return true;
        if (names_blob(ids[i], cJSON_GetObjectItemCaseSensitive(md, "architecture")))
            return true;
    }
    return false;
}

/* The stored form of a start: what the log said, without the parser's
 * bookkeeping. */
static cJSON *stored_start(const cJSON *st)
{
    static const char *const keys[] = { "engine", "engine_version", "model", "served_name", "model_name",
                                        "observed_at", "observed_from", "settings", "measured", "resolution",
                                        "source", NULL };
    cJSON *o = cJSON_CreateObject();
    for (const char *const *k = keys; o && *k; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, *k);
        if (v && !cJSON_AddItemToObject(o, *k, cJSON_Duplicate(v, 1))) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* The same start-up: the same place in the same log with the same figures
 * (observed_at may differ when the file was touched). */
static bool same_start(const cJSON *a, const cJSON *b)
{
    static const char *const keys[] = { "engine", "source", "settings", "measured", NULL };
    for (const char *const *k = keys; *k; k++)
        if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, *k), cJSON_GetObjectItemCaseSensitive(b, *k), 1))
            return false;
    return true;
}

static void start_time(const cJSON *s, int64_t *sec, int32_t *usec)
{
    *sec = 0;
    *usec = 0;
    const char *t = iw_json_get_str(s, "observed_at");
    if (!t || iw_parse_iso8601(t, sec, usec) < 0) {
        iw_error_clear();
        *sec = 0;
        *usec = 0;
    }
}

static int newest_first(const void *pa, const void *pb)
{
    const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
    int64_t sa, sb;
    int32_t ua, ub;
    start_time(a, &sa, &ua);
    start_time(b, &sb, &ub);
    if (sa != sb)
        return sa > sb ? -1 : 1;
    if (ua != ub)
        return ua > ub ? -1 : 1;
    int64_t la = 0, lb = 0;
    iw_json_get_i64(cJSON_GetObjectItemCaseSensitive(a, "source"), "line", &la);
    iw_json_get_i64(cJSON_GetObjectItemCaseSensitive(b, "source"), "line", &lb);
    return la > lb ? -1 : la < lb ? 1 : 0;
}

/* Merge `add` (stored starts for one entry) into arch.measured_starts:
 * returns how many were new, <0 on ENOMEM. */
static int merge_starts(cJSON *arch, cJSON *add)
{
    cJSON *old = cJSON_GetObjectItemCaseSensitive(arch, "measured_starts");
    size_t n_old = cJSON_IsArray(old) ? (size_t)cJSON_GetArraySize(old) : 0;
    size_t n_add = (size_t)cJSON_GetArraySize(add);
    cJSON **v = calloc(n_old + n_add + 1, sizeof *v);
    if (!v)
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    size_t n = 0;
    int fresh = 0;
    for (size_t i = 0; i < n_old; i++) {
        cJSON *it = cJSON_GetArrayItem(old, (int)i);
        if (cJSON_IsObject(it))
            v[n++] = cJSON_Duplicate(it, 1);
    }
    for (size_t i = 0; i < n_add; i++) {
        const cJSON *it = cJSON_GetArrayItem(add, (int)i);
        bool dup = false;
        for (size_t k = 0; k < n && !dup; k++)
            dup = same_start(v[k], it);
        if (!dup) {
            v[n++] = cJSON_Duplicate(it, 1);
            fresh++;
        }
    }
    if (fresh == 0) {
        for (size_t i = 0; i < n; i++)
            cJSON_Delete(v[i]);
        free(v);
        return 0;
    }
    qsort(v, n, sizeof *v, newest_first);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        if (arr && i < IW_MEASURED_STARTS_MAX && v[i])
            cJSON_AddItemToArray(arr, v[i]);
        else
            cJSON_Delete(v[i]);
    }
    free(v);
    if (!arr)
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    /* new starts older than the kept ones fall off the end: count those kept */
    int kept = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        bool was = false;
        for (int k = 0; k < (int)n_old && !was; k++)
            was = same_start(cJSON_GetArrayItem(old, k), it);
        kept += !was;
    }
    if (old)
        cJSON_ReplaceItemInObjectCaseSensitive(arch, "measured_starts", arr);
    else
        cJSON_AddItemToObject(arch, "measured_starts", arr);
    return kept;
}

static void skip_start(iw_engine_reconcile_report *rep, const cJSON *st, const char *reason)
{
    rep->skipped++;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(st, "source");
    cJSON_AddStringToObject(o, "file", iw_json_get_str(src, "file") ? iw_json_get_str(src, "file") : "");
    int64_t line = 0;
    iw_json_get_i64(src, "line", &line);
    cJSON_AddNumberToObject(o, "line", (double)line);
    const char *m = iw_json_get_str(st, "served_name");
    if (!m)
        m = iw_json_get_str(st, "model");
    if (m)
        cJSON_AddStringToObject(o, "model", m);
    else
        cJSON_AddNullToObject(o, "model");
    cJSON_AddStringToObject(o, "reason", reason);
    cJSON_AddItemToArray(rep->skipped_starts, o);
}

static int engine_txn(cJSON *disc, cJSON *cur, void *p)
{
    eng_ctx *c = p;
    iw_engine_reconcile_report *rep = c->rep;
    cJSON *merged = cJSON_GetArraySize(cur) ? iw_registry_merge(disc, cur) : NULL;
    if (cJSON_GetArraySize(cur) && !merged)
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    const cJSON *view = merged ? merged : disc;
    iw_name_index mix, dix;
    if (!iw_name_index_build(&mix, view) || !iw_name_index_build(&dix, disc)) {
        iw_name_index_free(&mix);
        cJSON_Delete(merged);
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    }
    int rc = 0;
    rep->stored = rep->unchanged = rep->skipped = 0;
    cJSON_Delete(rep->changes);
    cJSON_Delete(rep->skipped_starts);
    rep->changes = cJSON_CreateArray();
    rep->skipped_starts = cJSON_CreateArray();
    /* each start's entry: by --name, else by what the log calls the model */
    size_t ns = (size_t)cJSON_GetArraySize(c->starts);
    const char **owner = calloc(ns + 1, sizeof *owner);
    if (!owner || !rep->changes || !rep->skipped_starts) {
        rc = iw_error_set(IW_ENOMEM, "reconcile: out of memory");
        goto out;
    }
    if (c->name && !iw_name_index_find(&mix, c->name)) {
        rc = iw_error_set(IW_ENOTFOUND, "no registry entry named '%s'", c->name);
        goto out;
    }
    for (size_t i = 0; i < ns; i++) {
        const cJSON *st = cJSON_GetArrayItem(c->starts, (int)i);
        if (c->name) {
            owner[i] = iw_name_index_find(&mix, c->name) ? iw_json_get_str(iw_name_index_find(&mix, c->name), "name") : NULL;
            continue;
        }
        const char *hit = NULL;
        int nhit = 0;
        char names_seen[512] = "";
        for (size_t k = 0; k < mix.n; k++) {
            if (!entry_matches(mix.v[k].e, st))
                continue;
            if (nhit < 3) {
                size_t l = strlen(names_seen);
                snprintf(names_seen + l, sizeof names_seen - l, "%s'%s'", nhit ? ", " : "", mix.v[k].name);
            }
            nhit++;
            hit = mix.v[k].name;
        }
        if (nhit == 1) {
            owner[i] = hit;
        } else if (nhit == 0) {
            skip_start(rep, st, "no registry entry has this served name, name, repo or path; give --name");
        } else {
            char why[700];
            snprintf(why, sizeof why, "%d registry entries match (%s%s); give --name", nhit, names_seen,
                     nhit > 3 ? ", ..." : "");
            skip_start(rep, st, why);
        }
    }
    int mask = 0;
    for (size_t i = 0; i < ns; i++) {
        if (!owner[i])
            continue;
        const char *nm = owner[i];
        bool first = true;      /* group this entry's starts */
        for (size_t k = 0; k < i; k++)
            if (owner[k] && !strcmp(owner[k], nm))
                first = false;
        if (!first)
            continue;
        cJSON *add = cJSON_CreateArray();
        for (size_t k = i; add && k < ns; k++)
            if (owner[k] && !strcmp(owner[k], nm)) {
                cJSON *s = stored_start(cJSON_GetArrayItem(c->starts, (int)k));
                if (!s) {
                    cJSON_Delete(add);
                    add = NULL;
                    break;
                }
                cJSON_AddItemToArray(add, s);
            }
        if (!add) {
            rc = iw_error_set(IW_ENOMEM, "reconcile: out of memory");
            goto out;
        }
        const cJSON *me = iw_name_index_find(&mix, nm);
        const cJSON *march = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(me, "metadata"), "architecture");
        /* what is new against the merged view (a dry run writes nothing) */
        cJSON *probe = cJSON_CreateObject();
        const cJSON *mold = cJSON_GetObjectItemCaseSensitive(march, "measured_starts");
        if (probe && mold)
            cJSON_AddItemToObject(probe, "measured_starts", cJSON_Duplicate(mold, 1));
        int fresh = probe ? merge_starts(probe, add) : iw_error_set(IW_ENOMEM, "reconcile: out of memory");
        if (fresh < 0) {
            cJSON_Delete(probe);
            cJSON_Delete(add);
            rc = fresh;
            goto out;
        }
        const cJSON *kept = cJSON_GetObjectItemCaseSensitive(probe, "measured_starts");
        int n_add = cJSON_GetArraySize(add);
        rep->stored += (size_t)fresh;
        rep->unchanged += (size_t)(n_add - fresh);
        if (fresh > 0) {
            const cJSON *it;
            cJSON_ArrayForEach(it, add) {
                bool was = false, now = false;
                const cJSON *o;
                cJSON_ArrayForEach(o, mold)
                    if (same_start(o, it))
                        was = true;
                cJSON_ArrayForEach(o, kept)
                    if (same_start(o, it))
                        now = true;
                if (was || !now)
                    continue;
                cJSON *ch = cJSON_CreateObject();
                if (ch) {
                    cJSON_AddStringToObject(ch, "name", nm);
                    cJSON_AddItemToObject(ch, "start", cJSON_Duplicate(it, 1));
                    cJSON_AddItemToArray(rep->changes, ch);
                }
            }
        }
        cJSON_Delete(probe);
        if (fresh > 0 && !c->dry_run) {
            cJSON *arch = discovered_arch(disc, &dix, nm, march);
            int w = arch ? merge_starts(arch, add) : iw_error_set(IW_ENOMEM, "reconcile: out of memory");
            if (w < 0) {
                cJSON_Delete(add);
                rc = w;
                goto out;
            }
            if (w > 0)
                mask |= 1 << IW_REG_DISCOVERED;
            /* a curated entry with its own metadata.architecture shows that
             * record in the merged view (the original's merge, docs/registry.md):
             * the history goes there too, as the runtime does */
            cJSON *ce = NULL;
            const cJSON *it;
            cJSON_ArrayForEach(it, cur)
                if (!ce && iw_json_get_str(it, "name") && !strcmp(iw_json_get_str(it, "name"), nm))
                    ce = (cJSON *)it;
            cJSON *cm = ce ? cJSON_GetObjectItemCaseSensitive(ce, "metadata") : NULL;
            cJSON *carch = cJSON_IsObject(cm) ? cJSON_GetObjectItemCaseSensitive(cm, "architecture") : NULL;
            if (cJSON_IsObject(carch)) {
                int cw = merge_starts(carch, add);
                if (cw < 0) {
                    cJSON_Delete(add);
                    rc = cw;
                    goto out;
                }
                if (cw > 0)
                    mask |= 1 << IW_REG_CURATED;
            }
            /* a new discovered entry is in disc now: index it for later names */
            iw_name_index_free(&dix);
            if (!iw_name_index_build(&dix, disc)) {
                cJSON_Delete(add);
                rc = iw_error_set(IW_ENOMEM, "reconcile: out of memory");
                goto out;
            }
        }
        cJSON_Delete(add);
    }
    rc = c->dry_run ? 0 : mask;
out:
    free(owner);
    iw_name_index_free(&mix);
    iw_name_index_free(&dix);
    cJSON_Delete(merged);
    return rc;
}

int iw_registry_reconcile_engine_logs(iw_registry *r, const char *const *paths, size_t n_paths, const char *name,
                                      bool dry_run, iw_engine_reconcile_report *rep)
{
    if (!r || !rep || (!paths && n_paths))
        return iw_error_set(IW_EINVAL, "reconcile: no registry, logs or report");
    memset(rep, 0, sizeof *rep);
    cJSON *all = cJSON_CreateArray();
    if (!all)
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    int rc = 0;
    for (size_t i = 0; i < n_paths && rc == 0; i++) {
        cJSON *starts = NULL;
        iw_engine_log_report lr;
        if ((rc = iw_engine_log_read(paths[i], &starts, &lr)) < 0)
            break;
        rep->files++;
        rep->lines += lr.lines;
        rep->long_lines += lr.long_lines;
        rep->starts += lr.starts;
        char *real = realpath(paths[i], NULL);
        struct stat st;
        char when[40] = "";
        if (stat(paths[i], &st) == 0)
            iw_registry_time_iso((int64_t)st.st_mtim.tv_sec, (int32_t)(st.st_mtim.tv_nsec / 1000), when);
        cJSON *s;
        while ((s = cJSON_DetachItemFromArray(starts, 0)) != NULL) {
            cJSON *src = cJSON_GetObjectItemCaseSensitive(s, "source");
            if (real && src)
                cJSON_ReplaceItemInObjectCaseSensitive(src, "file", cJSON_CreateString(real));
            if (!cJSON_GetObjectItemCaseSensitive(s, "observed_at")) {
                cJSON_AddStringToObject(s, "observed_at", when[0] ? when : "1970-01-01T00:00:00.000000+00:00");
                cJSON_AddStringToObject(s, "observed_from", "log file modification time");
            } else {
                cJSON_AddStringToObject(s, "observed_from", "log timestamps");
            }
            cJSON_AddItemToArray(all, s);
        }
        free(real);
        cJSON_Delete(starts);
    }
    if (rc == 0 && cJSON_GetArraySize(all) > 0) {
        eng_ctx c = { all, name, dry_run, rep };
        rc = run_txn(r, engine_txn, &c, dry_run);
    }
    cJSON_Delete(all);
    return rc;
}
