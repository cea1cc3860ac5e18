/* reconcile.c - reconcile-architecture: newest runtime metrics per model
 * from the vLLM manager's JSONL log into metadata.architecture.runtime. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iwdl/registry.h"
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

static int reconcile_txn(cJSON *disc, cJSON *cur, void *p)
{
    rec_ctx *c = p;
    iw_reconcile_report *rep = c->rep;
    int mask = 0;
    /* with no curated entries the merged view is the discovered array */
    cJSON *merged = cJSON_GetArraySize(cur) ? iw_registry_merge(disc, cur) : NULL;
    if (cJSON_GetArraySize(cur) && !merged)
        return iw_error_set(IW_ENOMEM, "reconcile: out of memory");
    iw_name_index mix, dix, cix = { NULL, 0 };
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
        cJSON *e = iw_name_index_find(&dix, b->model);
        if (!e) {
            e = cJSON_CreateObject();
            if (!e || !cJSON_AddStringToObject(e, "name", b->model)) {
                cJSON_Delete(e);
                goto oom;
            }
            cJSON_AddItemToArray(disc, e);
        }
        cJSON *meta = obj_child(e, "metadata");
        bool fresh = meta && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(meta, "architecture"));
        cJSON *arch = meta ? obj_child(meta, "architecture") : NULL;
        /* a new discovered record is partial (runtime only): the merged view
         * fills the rest from curated; keep curated's sources listed too */
        const cJSON *msrc = cJSON_GetObjectItemCaseSensitive(march, "sources");
        if (arch && fresh && cJSON_IsArray(msrc))
            cJSON_AddItemToObject(arch, "sources", cJSON_Duplicate(msrc, 1));
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
    if (dry_run) {
        cJSON *d = cJSON_Duplicate(iw_registry_entries(r, IW_REG_DISCOVERED), 1);
        cJSON *cu = cJSON_Duplicate(iw_registry_entries(r, IW_REG_CURATED), 1);
        rc = (d && cu) ? reconcile_txn(d, cu, &c) : iw_error_set(IW_ENOMEM, "reconcile: out of memory");
        cJSON_Delete(d);
        cJSON_Delete(cu);
    } else {
        rc = iw_registry_update(r, reconcile_txn, &c);
    }
    if (rc > 0)
        rc = 0;
done:
    free(real);
    table_free(&t);
    return rc;
}
