/* control.c - fault table, request log and counters behind /_control/. */
#include "fakehub.h"
#include "iwdl/glob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fh_fault {
    int      id;
    char    *path_glob;       /* over the repo file path, or NULL */
    char    *url_glob;        /* over the raw request path, or NULL */
    int      host;            /* -1 any */
    long     times;           /* remaining uses; -1 forever */
    unsigned status;          /* 0 = not a status fault */
    long     retry_after;     /* -1 none */
    char    *location;        /* Location header of a status fault, or NULL */
    uint64_t cut_after;       /* UINT64_MAX none */
    int64_t  corrupt_offset;  /* -1 none */
    uint64_t rate_bps;        /* 0 none */
    bool     ignore_range;
    uint64_t stall_after;     /* UINT64_MAX none */
    uint64_t stall_ms;
    bool     no_length;
    uint64_t max_active;      /* 0 none: refuse a body when this many are in flight */
    uint64_t from_offset;     /* body faults: only answers starting at or beyond this offset */
    fh_bucket *shared;        /* shared_rate_bps, or NULL */
    struct fh_fault *next;
} fh_fault;

struct fh_bucket {
    pthread_mutex_t mu;
    uint64_t rate;            /* bytes per second, all answers together */
    double   next;            /* s (CLOCK_MONOTONIC): when the next bytes may go */
    int      refs;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static fh_bucket *bucket_new(uint64_t rate)
{
    fh_bucket *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->rate = rate;
    b->refs = 1;
    return b;
}

static void bucket_ref(fh_bucket *b)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_ACQ_REL);
}

void fh_bucket_unref(fh_bucket *b)
{
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        pthread_mutex_destroy(&b->mu);
        free(b);
    }
}

uint64_t fh_bucket_rate(const fh_bucket *b)
{
    return b->rate;
}

/* Each send reserves the next n / rate seconds of the shared timeline and
 * waits for its start; an idle bucket starts again from now (no burst is
 * saved up). */
void fh_bucket_wait(fh_bucket *b, uint64_t n)
{
    pthread_mutex_lock(&b->mu);
    double now = mono_s();
    if (b->next < now)
        b->next = now;
    double at = b->next;
    b->next += (double)n / (double)b->rate;
    pthread_mutex_unlock(&b->mu);
    double d = at - now;
    if (d > 0) {
        struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static fh_fault *g_faults;
static int g_next_id = 1;
static cJSON *g_log;
static FILE *g_logf;
static uint64_t g_requests[2], g_bytes[2], g_conns[2];
static uint64_t g_active[2], g_peak[2];   /* file bodies in flight, and the most at once */

int fh_control_init(const char *log_path, char *msg, size_t msgn)
{
    g_log = cJSON_CreateArray();
    if (!g_log) {
        snprintf(msg, msgn, "out of memory");
        return -1;
    }
    if (log_path) {
        g_logf = fopen(log_path, "a");
        if (!g_logf) {
            snprintf(msg, msgn, "cannot open log %s: %s", log_path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void faults_clear_locked(void)
{
    while (g_faults) {
        fh_fault *f = g_faults;
        g_faults = f->next;
        free(f->path_glob);
        free(f->url_glob);
        free(f->location);
        fh_bucket_unref(f->shared);
        free(f);
    }
}

void fh_control_shutdown(void)
{
    pthread_mutex_lock(&g_mu);
    faults_clear_locked();
    cJSON_Delete(g_log);
    g_log = NULL;
    if (g_logf)
        fclose(g_logf);
    g_logf = NULL;
    pthread_mutex_unlock(&g_mu);
}

static bool fault_matches(const fh_fault *f, int host, const char *file_path, const char *url_path)
{
    if (f->host >= 0 && f->host != host)
        return false;
    if (f->url_glob)
        return url_path && iw_glob_match(f->url_glob, url_path);
    if (!file_path)
        return false;
    return iw_glob_match(f->path_glob ? f->path_glob : "*", file_path);
}

/* Count one use down; unlink and free the fault when it is used up. */
static void fault_use_locked(fh_fault *f)
{
    if (f->times < 0)
        return;
    if (--f->times > 0)
        return;
    for (fh_fault **pp = &g_faults; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            free(f->path_glob);
            free(f->url_glob);
            free(f->location);
            fh_bucket_unref(f->shared);
            free(f);
            return;
        }
    }
}

/* Fill *out from status fault f and consume one use; returns its id. */
static int take_status_locked(fh_fault *f, fh_status_fault *out)
{
    int id = f->id;
    out->status = f->status;
    out->retry_after = f->retry_after;
    snprintf(out->location, sizeof out->location, "%s", f->location ? f->location : "");
    fault_use_locked(f);
    return id;
}

int fh_fault_take_status(int host, const char *file_path, const char *url_path, fh_status_fault *out)
{
    int id = 0;
    pthread_mutex_lock(&g_mu);
    for (fh_fault *f = g_faults; f; f = f->next) {
        if (f->status && !f->max_active && fault_matches(f, host, file_path, url_path)) {
            id = take_status_locked(f, out);
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return id;
}

int fh_body_begin(int host, const char *file_path, const char *url_path, fh_status_fault *out)
{
    int id = 0;
    pthread_mutex_lock(&g_mu);
    for (fh_fault *f = g_faults; f; f = f->next) {
        if (f->max_active && g_active[host] >= f->max_active && fault_matches(f, host, file_path, url_path)) {
            id = take_status_locked(f, out);
            break;
        }
    }
    if (!id && ++g_active[host] > g_peak[host])
        g_peak[host] = g_active[host];
    pthread_mutex_unlock(&g_mu);
    return id;
}

void fh_body_end(int host)
{
    pthread_mutex_lock(&g_mu);
    if (g_active[host])
        g_active[host]--;
    pthread_mutex_unlock(&g_mu);
}

void fh_fault_take_body(int host, const char *file_path, const char *url_path,
                        uint64_t lo, uint64_t hi, fh_body_fault *out)
{
    out->id = 0;
    out->cut_after = UINT64_MAX;
    out->corrupt_offset = -1;
    out->rate_bps = 0;
    out->ignore_range = false;
    out->stall_after = UINT64_MAX;
    out->stall_ms = 0;
    out->no_length = false;
    out->shared = NULL;
    pthread_mutex_lock(&g_mu);
    fh_fault *f = g_faults;
    while (f) {
        fh_fault *next = f->next;
        bool body = f->cut_after != UINT64_MAX || f->corrupt_offset >= 0 || f->rate_bps ||
                    f->ignore_range || f->stall_after != UINT64_MAX || f->no_length || f->shared;
        /* a corruption is only used up by an answer that carries its byte */
        bool misses = (f->corrupt_offset >= 0 && !f->ignore_range &&
                       ((uint64_t)f->corrupt_offset < lo || (uint64_t)f->corrupt_offset > hi)) ||
                      lo < f->from_offset;
        if (!f->status && body && !misses && fault_matches(f, host, file_path, url_path)) {
            if (!out->id)
                out->id = f->id;
            if (f->cut_after < out->cut_after)
                out->cut_after = f->cut_after;
            if (out->corrupt_offset < 0)
                out->corrupt_offset = f->corrupt_offset;
            if (f->rate_bps && (!out->rate_bps || f->rate_bps < out->rate_bps))
                out->rate_bps = f->rate_bps;
            if (f->ignore_range)
                out->ignore_range = true;
            if (f->no_length)
                out->no_length = true;
            if (f->shared && !out->shared) {
                bucket_ref(f->shared);
                out->shared = f->shared;
            }
            if (f->stall_after != UINT64_MAX && out->stall_after == UINT64_MAX) {
                out->stall_after = f->stall_after;
                out->stall_ms = f->stall_ms;
            }
            fault_use_locked(f);
        }
        f = next;
    }
    pthread_mutex_unlock(&g_mu);
}

void fh_stats_connection(int host)
{
    pthread_mutex_lock(&g_mu);
    g_conns[host]++;
    pthread_mutex_unlock(&g_mu);
}

void fh_log_request(const fh_logrec *rec)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddStringToObject(o, "host", rec->host == FH_CDN ? "cdn" : "hub");
    cJSON_AddStringToObject(o, "method", rec->method ? rec->method : "");
    cJSON_AddStringToObject(o, "path", rec->path ? rec->path : "");
    cJSON_AddStringToObject(o, "query", rec->query ? rec->query : "");
    if (rec->range)
        cJSON_AddStringToObject(o, "range", rec->range);
    else
        cJSON_AddNullToObject(o, "range");
    cJSON_AddBoolToObject(o, "auth", rec->auth);
    cJSON_AddNumberToObject(o, "status", rec->status);
    cJSON_AddNumberToObject(o, "bytes", (double)rec->bytes);
    cJSON_AddNumberToObject(o, "conn", (double)rec->conn);
    if (rec->fault > 0)
        cJSON_AddNumberToObject(o, "fault", rec->fault);
    else
        cJSON_AddNullToObject(o, "fault");
    char *line = cJSON_PrintUnformatted(o);
    pthread_mutex_lock(&g_mu);
    g_requests[rec->host]++;
    g_bytes[rec->host] += rec->bytes;
    if (g_logf && line) {
        fprintf(g_logf, "%s\n", line);
        fflush(g_logf);
    }
    if (g_log)
        cJSON_AddItemToArray(g_log, o);
    else
        cJSON_Delete(o);
    pthread_mutex_unlock(&g_mu);
    free(line);
}

static char *json_err(unsigned *status, unsigned code, const char *msg)
{
    *status = code;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static bool get_u64(const cJSON *o, const char *key, uint64_t *out, bool *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return false;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9.0e15 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble) {
        *bad = true;
        return false;
    }
    *out = (uint64_t)v->valuedouble;
    return true;
}

static char *add_fault(const char *body, size_t len, unsigned *status)
{
    cJSON *j = cJSON_ParseWithLength(body ? body : "", len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return json_err(status, 400, "fault body must be a JSON object");
    }
    fh_fault *f = calloc(1, sizeof *f);
    if (!f) {
        cJSON_Delete(j);
        return json_err(status, 500, "out of memory");
    }
    f->host = -1;
    f->times = 1;
    f->retry_after = -1;
    f->cut_after = UINT64_MAX;
    f->corrupt_offset = -1;
    f->stall_after = UINT64_MAX;
    const char *err = NULL;
    bool bad = false;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "path")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) err = "path must be a string";
        else f->path_glob = strdup(v->valuestring);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "url")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) err = "url must be a string";
        else f->url_glob = strdup(v->valuestring);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "host")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) err = "host must be hub, cdn or any";
        else if (strcmp(v->valuestring, "hub") == 0) f->host = FH_HUB;
        else if (strcmp(v->valuestring, "cdn") == 0) f->host = FH_CDN;
        else if (strcmp(v->valuestring, "any") != 0) err = "host must be hub, cdn or any";
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "times")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
            (v->valuedouble < 1 && v->valuedouble != -1))
            err = "times must be a positive integer or -1";
        else
            f->times = (long)v->valuedouble;
    }
    uint64_t u;
    if (get_u64(j, "status", &u, &bad)) {
        if (u < 100 || u > 599) err = "status must be 100..599";
        else f->status = (unsigned)u;
    }
    if (get_u64(j, "retry_after", &u, &bad))
        f->retry_after = (long)u;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "location")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= 1024) err = "location must be a string (< 1024 bytes)";
        else if (!(f->location = strdup(v->valuestring))) err = "out of memory";
    }
    if (f->location && !err && (f->status < 300 || f->status > 399))
        err = "location goes with a 3xx status";
    get_u64(j, "cut_after", &f->cut_after, &bad);
    if (get_u64(j, "corrupt_offset", &u, &bad))
        f->corrupt_offset = (int64_t)u;
    get_u64(j, "rate_bps", &f->rate_bps, &bad);
    get_u64(j, "stall_after", &f->stall_after, &bad);
    get_u64(j, "stall_ms", &f->stall_ms, &bad);
    get_u64(j, "max_active", &f->max_active, &bad);
    get_u64(j, "from_offset", &f->from_offset, &bad);
    uint64_t shared = 0;
    if (get_u64(j, "shared_rate_bps", &shared, &bad) && shared) {
        if (!(f->shared = bucket_new(shared)) && !err)
            err = "out of memory";
    }
    if (f->stall_ms > 600000 && !err)
        err = "stall_ms is capped at 600000";
    if ((f->stall_after != UINT64_MAX) != (f->stall_ms != 0) && !err)
        err = "stall_after and stall_ms go together";
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "no_length")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) err = "no_length must be a boolean";
        else f->no_length = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "ignore_range")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) err = "ignore_range must be a boolean";
        else f->ignore_range = cJSON_IsTrue(v);
    }
    if (bad && !err)
        err = "numeric fields must be non-negative integers";
    bool has_body = f->cut_after != UINT64_MAX || f->corrupt_offset >= 0 || f->rate_bps ||
                    f->ignore_range || f->stall_after != UINT64_MAX || f->no_length || f->shared;
    if (!err && f->from_offset && !has_body)
        err = "from_offset applies to body faults only";
    if (!err && f->max_active) {
        /* a connection cap: its status (503 unless given) answers the
         * bodies beyond max_active */
        if (has_body)
            err = "max_active cannot also carry body faults; post two faults";
        else if (!f->status)
            f->status = 503;
    }
    if (!err && !f->status && !has_body)
        err = "a fault needs one of status, max_active, cut_after, corrupt_offset, rate_bps, shared_rate_bps, "
              "ignore_range, stall_after, no_length";
    if (!err && f->status && has_body)
        err = "a status fault cannot also carry body faults; post two faults";
    cJSON_Delete(j);
    if (err) {
        free(f->path_glob);
        free(f->url_glob);
        free(f->location);
        fh_bucket_unref(f->shared);
        free(f);
        return json_err(status, 400, err);
    }
    pthread_mutex_lock(&g_mu);
    f->id = g_next_id++;
    fh_fault **pp = &g_faults;
    while (*pp)
        pp = &(*pp)->next;
    *pp = f;
    int id = f->id;
    pthread_mutex_unlock(&g_mu);
    char *out = NULL;
    if (asprintf(&out, "{\"id\":%d}", id) < 0)
        out = NULL;
    *status = 200;
    return out;
}

char *fh_control_handle(const char *method, const char *what, const char *body, size_t body_len,
                        unsigned *status)
{
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (strcmp(what, "fault") == 0) {
        if (!post)
            return json_err(status, 405, "use POST");
        return add_fault(body, body_len, status);
    }
    if (strcmp(what, "reset") == 0) {
        if (!post)
            return json_err(status, 405, "use POST");
        pthread_mutex_lock(&g_mu);
        faults_clear_locked();
        cJSON_Delete(g_log);
        g_log = cJSON_CreateArray();
        memset(g_requests, 0, sizeof g_requests);
        memset(g_bytes, 0, sizeof g_bytes);
        memset(g_conns, 0, sizeof g_conns);
        memcpy(g_peak, g_active, sizeof g_peak);
        pthread_mutex_unlock(&g_mu);
        *status = 200;
        return strdup("{\"ok\":true}");
    }
    if (strcmp(what, "log") == 0) {
        if (!get)
            return json_err(status, 405, "use GET");
        pthread_mutex_lock(&g_mu);
        char *s = g_log ? cJSON_PrintUnformatted(g_log) : strdup("[]");
        pthread_mutex_unlock(&g_mu);
        *status = 200;
        return s;
    }
    if (strcmp(what, "stats") == 0) {
        if (!get)
            return json_err(status, 405, "use GET");
        char *s = NULL;
        pthread_mutex_lock(&g_mu);
        int rc = asprintf(&s,
            "{\"requests\":{\"hub\":%llu,\"cdn\":%llu},\"bytes\":{\"hub\":%llu,\"cdn\":%llu},"
            "\"connections\":{\"hub\":%llu,\"cdn\":%llu},\"active\":{\"hub\":%llu,\"cdn\":%llu},"
            "\"peak_active\":{\"hub\":%llu,\"cdn\":%llu}}",
            (unsigned long long)g_requests[0], (unsigned long long)g_requests[1],
            (unsigned long long)g_bytes[0], (unsigned long long)g_bytes[1],
            (unsigned long long)g_conns[0], (unsigned long long)g_conns[1],
            (unsigned long long)g_active[0], (unsigned long long)g_active[1],
            (unsigned long long)g_peak[0], (unsigned long long)g_peak[1]);
        pthread_mutex_unlock(&g_mu);
        *status = 200;
        return rc < 0 ? NULL : s;
    }
    return NULL;
}
