/* server.c - the hub and CDN request handlers (libmicrohttpd, one thread per
 * connection).  Request paths are parsed from the raw URI so that a
 * percent-encoded '/' inside a revision stays inside its segment; every
 * decoded segment is checked before it can name anything on disk. */
#include "fakehub.h"
#include "iwdl/buf.h"
#include "iwdl/fs.h"

#include <microhttpd.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#define FH_MAX_SEGS   512
#define FH_BLOCK      (128u * 1024u)

struct fh_req;

typedef struct fh_reader {
    struct fh_req *q;         /* owning request, NULL once it completed */
    int      fd;
    uint64_t start, len;      /* file offset of the body and its length */
    uint64_t sent;            /* body bytes handed to MHD */
    fh_body_fault f;
    struct timespec t0;
    uint64_t rate_base;       /* body offset at t0 */
    bool     stalled;
    int      refs;            /* response + request */
} fh_reader;

typedef struct fh_req {
    int      host;
    char    *path;            /* raw path of the URI */
    char    *query;           /* raw query ("" when none) */
    char     method[16];
    char    *range;
    bool     auth;
    bool     started;
    bool     control;
    iw_buf   body;
    bool     body_overflow;
    bool     logged;
    unsigned status;
    uint64_t static_bytes;
    fh_reader *rd;
    uint64_t conn;
    int      fault;
    bool     in_flight;       /* counted by fh_body_begin until it completes */
} fh_req;

static int g_host_ids[2] = { FH_HUB, FH_CDN };
static int g_stopping;          /* set before the daemons stop: end slow bodies */

void fh_server_stopping(void)
{
    __atomic_store_n(&g_stopping, 1, __ATOMIC_RELEASE);
}
static uint64_t g_conn_counter[2];

/* ---------- small helpers ---------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into a new string; '+' becomes ' ' when form is
 * set.  Fails on a bad escape or a decoded NUL. */
static char *pct_decode(const char *s, size_t n, bool form)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) {
                free(o);
                return NULL;
            }
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) {
                free(o);
                return NULL;
            }
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && form) {
            c = ' ';
        }
        if (c == 0) {
            free(o);
            return NULL;
        }
        o[k++] = c;
    }
    o[k] = 0;
    return o;
}

/* Percent-encode everything but unreserved characters (and '/' if keep_slash). */
static int pct_encode(iw_buf *b, const char *s, bool keep_slash)
{
    static const char hx[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        int rc = ok ? iw_buf_putc(b, (char)c)
                    : iw_buf_printf(b, "%%%c%c", hx[c >> 4], hx[c & 15]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* First value of key in a raw query string (decoded, malloc'd) or NULL. */
static char *query_get(const char *query, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len >= kl && strncmp(p, key, kl) == 0 && (len == kl || p[kl] == '='))
            return len == kl ? strdup("") : pct_decode(p + kl + 1, len - kl - 1, true);
        p = amp ? amp + 1 : p + len;
    }
    return NULL;
}

static bool query_bool(const char *query, const char *key)
{
    char *v = query_get(query, key);
    bool t = v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
    free(v);
    return t;
}

typedef struct fh_segs {
    char  *seg[FH_MAX_SEGS];
    size_t n;
} fh_segs;

static void segs_free(fh_segs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->seg[i]);
    s->n = 0;
}

/* Split a raw path ("/a/b%2Fc/d") into decoded segments. A single trailing
 * '/' is ignored. Returns 0, or -1 for a bad escape / NUL / too many. */
static int segs_parse(fh_segs *s, const char *raw)
{
    s->n = 0;
    if (raw[0] != '/')
        return -1;
    const char *p = raw + 1;
    while (*p) {
        const char *sl = strchr(p, '/');
        size_t len = sl ? (size_t)(sl - p) : strlen(p);
        if (s->n == FH_MAX_SEGS)
            goto fail;
        if (!(s->seg[s->n] = pct_decode(p, len, false)))
            goto fail;
        s->n++;
        if (!sl)
            break;
        p = sl + 1;
    }
    return 0;
fail:
    segs_free(s);
    return -1;
}

static bool seg_ok(const char *seg)
{
    return iw_path_check_relative(seg, strlen(seg)) == 0;
}

/* Join segs[from..] with '/' and check the result as a relative path. */
static char *segs_join(const fh_segs *s, size_t from)
{
    iw_buf b = IW_BUF_INIT(8192);
    for (size_t i = from; i < s->n; i++)
        if ((i > from && iw_buf_putc(&b, '/') < 0) || iw_buf_puts(&b, s->seg[i]) < 0) {
            iw_buf_free(&b);
            return NULL;
        }
    char *out = iw_buf_detach(&b);
    if (out && iw_path_check_relative(out, strlen(out)) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The raw path after its first k segments (starting with '/' or ""). */
static const char *raw_after(const char *raw, size_t k)
{
    const char *p = raw;
    for (size_t i = 0; i < k && p; i++) {
        p = strchr(p + 1, '/');
    }
    return p ? p : "";
}

/* ---------- request log ---------- */

/* Record the request once.  Called when the last body byte is handed to MHD
 * (or at queue time for bodiless/in-memory answers), i.e. BEFORE the client
 * can have read the whole answer, so a test that fetches /_control/log right
 * after a response always finds it.  Aborted transfers are logged when the
 * connection ends. */
static void req_log(struct fh_req *q, uint64_t bytes)
{
    if (!q || q->logged || q->control || !q->started)
        return;
    q->logged = true;
    fh_logrec rec = {
        .host = q->host, .method = q->method, .path = q->path, .query = q->query,
        .range = q->range, .auth = q->auth, .status = q->status,
        .bytes = strcmp(q->method, "HEAD") == 0 ? 0 : bytes,
        .conn = q->conn, .fault = q->fault,
    };
    fh_log_request(&rec);
}

/* ---------- responses ---------- */

static enum MHD_Result queue(struct MHD_Connection *c, fh_req *q, unsigned status,
                             struct MHD_Response *resp, size_t body_len)
{
    if (!resp)
        return MHD_NO;
    q->status = status;
    if (strcmp(q->method, "HEAD") != 0)
        q->static_bytes = body_len;
    if (!q->rd || strcmp(q->method, "HEAD") == 0)
        req_log(q, q->static_bytes);
    enum MHD_Result r = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static struct MHD_Response *buf_response(char *data, size_t len)
{
    if (!data)
        return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    return MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result send_json_text(struct MHD_Connection *c, fh_req *q, unsigned status, char *text)
{
    size_t len = text ? strlen(text) : 0;
    struct MHD_Response *r = buf_response(text, len);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    return queue(c, q, status, r, len);
}

static enum MHD_Result send_json(struct MHD_Connection *c, fh_req *q, unsigned status, cJSON *j,
                                 const char *link)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    struct MHD_Response *r = buf_response(text, len);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (link)
        MHD_add_response_header(r, "Link", link);
    return queue(c, q, status, r, len);
}

static enum MHD_Result send_error(struct MHD_Connection *c, fh_req *q, unsigned status,
                                  const char *code, const char *msg, const char *commit)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t len = text ? strlen(text) : 0;
    struct MHD_Response *r = buf_response(text, len);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (code)
        MHD_add_response_header(r, "X-Error-Code", code);
    /* header values must stay on one line */
    char safe[512];
    snprintf(safe, sizeof safe, "%s", msg);
    for (char *p = safe; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    MHD_add_response_header(r, "X-Error-Message", safe);
    if (commit)
        MHD_add_response_header(r, "X-Repo-Commit", commit);
    return queue(c, q, status, r, len);
}

static enum MHD_Result send_fault_status(struct MHD_Connection *c, fh_req *q, int id, const fh_status_fault *sf)
{
    unsigned status = sf->status;
    long retry_after = sf->retry_after;
    char *text = NULL;
    if (asprintf(&text, "{\"error\":\"fakehub fault %d\"}", id) < 0)
        return MHD_NO;
    size_t len = strlen(text);
    struct MHD_Response *r = buf_response(text, len);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    q->fault = id;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-Error-Code", "FakehubFault");
    char msg[64];
    snprintf(msg, sizeof msg, "fakehub fault %d", id);
    MHD_add_response_header(r, "X-Error-Message", msg);
    if (retry_after >= 0) {
        char ra[32];
        snprintf(ra, sizeof ra, "%ld", retry_after);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    if (sf->location[0])
        MHD_add_response_header(r, "Location", sf->location);
    return queue(c, q, status, r, len);
}

/* ---------- file bodies ---------- */

static void reader_unref(fh_reader *rd)
{
    if (rd && __atomic_sub_fetch(&rd->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (rd->fd >= 0)
            close(rd->fd);
        fh_bucket_unref(rd->f.shared);
        free(rd);
    }
}

static void reader_free_cb(void *cls)
{
    reader_unref(cls);
}

static ssize_t reader_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    fh_reader *rd = cls;
    if (pos >= rd->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (pos >= rd->f.cut_after || __atomic_load_n(&g_stopping, __ATOMIC_ACQUIRE)) {
        req_log(rd->q, pos);
        return MHD_CONTENT_READER_END_WITH_ERROR;   /* drop the connection */
    }
    uint64_t n = rd->len - pos;
    if (n > max)
        n = max;
    if (rd->f.cut_after != UINT64_MAX && pos + n > rd->f.cut_after)
        n = rd->f.cut_after - pos;
    if (rd->f.stall_after != UINT64_MAX && !rd->stalled) {
        if (pos >= rd->f.stall_after) {
            /* hold the connection open without sending, in short naps so a
             * shutdown is not delayed */
            rd->stalled = true;
            for (uint64_t slept = 0; slept < rd->f.stall_ms; slept += 50) {
                if (__atomic_load_n(&g_stopping, __ATOMIC_ACQUIRE))
                    break;
                uint64_t ms = rd->f.stall_ms - slept < 50 ? rd->f.stall_ms - slept : 50;
                struct timespec ts = { 0, (long)ms * 1000000L };
                nanosleep(&ts, NULL);
            }
            if (rd->t0.tv_sec || rd->t0.tv_nsec) {   /* the pause does not count against the rate */
                clock_gettime(CLOCK_MONOTONIC, &rd->t0);
                rd->rate_base = pos;
            }
        } else if (pos + n > rd->f.stall_after) {
            n = rd->f.stall_after - pos;
        }
    }
    if (rd->f.rate_bps) {
        uint64_t chunk = rd->f.rate_bps / 20;
        if (chunk == 0)
            chunk = 1;
        if (n > chunk)
            n = chunk;
        if (rd->t0.tv_sec == 0 && rd->t0.tv_nsec == 0)
            clock_gettime(CLOCK_MONOTONIC, &rd->t0);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - rd->t0.tv_sec) + (double)(now.tv_nsec - rd->t0.tv_nsec) / 1e9;
        double target = (double)(pos + n - rd->rate_base) / (double)rd->f.rate_bps;
        if (target > el) {
            double d = target - el;
            struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        }
    }
    if (rd->f.shared) {
        /* one rate for every answer of the fault: a link, not a connection;
         * sends of 5 ms worth, so answers interleave finely as on a link */
        uint64_t chunk = fh_bucket_rate(rd->f.shared) / 200;
        if (chunk == 0)
            chunk = 1;
        if (n > chunk)
            n = chunk;
        fh_bucket_wait(rd->f.shared, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(rd->fd, buf + got, (size_t)n - got, (off_t)(rd->start + pos + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == 0) {
        req_log(rd->q, pos);
        return MHD_CONTENT_READER_END_WITH_ERROR;   /* file shrank under us */
    }
    if (rd->f.corrupt_offset >= 0) {
        uint64_t off = (uint64_t)rd->f.corrupt_offset, base = rd->start + pos;
        if (off >= base && off < base + got)
            buf[off - base] ^= (char)0xff;
    }
    rd->sent = pos + got;
    if (rd->sent == rd->len)
        req_log(rd->q, rd->sent);
    return (ssize_t)got;
}

/* Parse a Range header against size. 0 = serve whole, 1 = [*a, *b], -1 = 416. */
static int parse_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b)
{
    if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    uint64_t x = 0, y = 0;
    bool hx = false, hy = false;
    while (*p >= '0' && *p <= '9') {
        if (x > (UINT64_MAX - 9) / 10)
            return 0;
        x = x * 10 + (uint64_t)(*p++ - '0');
        hx = true;
    }
    if (*p++ != '-')
        return 0;
    while (*p >= '0' && *p <= '9') {
        if (y > (UINT64_MAX - 9) / 10)
            return 0;
        y = y * 10 + (uint64_t)(*p++ - '0');
        hy = true;
    }
    if (*p || (!hx && !hy))
        return 0;
    if (!hx) {                      /* suffix: last y bytes */
        if (y == 0 || size == 0)
            return -1;
        *a = y >= size ? 0 : size - y;
        *b = size - 1;
        return 1;
    }
    if (hy && y < x)
        return 0;                   /* invalid: ignored */
    if (x >= size)
        return -1;
    *a = x;
    *b = (!hy || y >= size) ? size - 1 : y;
    return 1;
}

/* Serve one repo file (hub inline or CDN) with Range, faults and headers. */
static enum MHD_Result serve_file(struct MHD_Connection *c, fh_req *q, const fh_repo *r,
                                  const fh_entry *e, const char *etag, const char *commit)
{
    char *abs = NULL;
    if (iw_path_join(&abs, r->dir, e->path) < 0)
        return send_error(c, q, 400, "BadRequest", "unsafe path", NULL);
    int fd = open(abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    free(abs);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return send_error(c, q, 404, "EntryNotFound", "file vanished", commit);
    }
    uint64_t size = (uint64_t)st.st_size, a = 0, b = size ? size - 1 : 0;
    int rk = parse_range(q->range, size, &a, &b);
    /* If-Range with another validator: the client's partial copy is stale,
     * so the answer is the whole file (RFC 9110 13.1.5) */
    const char *ifr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Range");
    if (rk != 0 && ifr && strcmp(ifr, etag) != 0)
        rk = 0;
    char hdr[128];
    /* body faults are taken only by GETs that will carry file bytes */
    fh_body_fault bf = { 0, UINT64_MAX, -1, 0, false, UINT64_MAX, 0, false, NULL };
    if (strcmp(q->method, "GET") == 0 && size > 0 && rk >= 0) {
        fh_status_fault cf;
        int cid = fh_body_begin(q->host, e->path, q->path, &cf);
        if (cid) {
            close(fd);
            return send_fault_status(c, q, cid, &cf);
        }
        q->in_flight = true;
        fh_fault_take_body(q->host, e->path, q->path, rk ? a : 0, rk ? b : size - 1, &bf);
        q->fault = bf.id;
        if (bf.ignore_range)
            rk = 0;   /* answer 200 with the whole file, as a gzip-ing CDN does */
    }
    if (rk < 0) {
        close(fd);
        fh_bucket_unref(bf.shared);
        struct MHD_Response *resp = buf_response(NULL, 0);
        if (!resp)
            return MHD_NO;
        snprintf(hdr, sizeof hdr, "bytes */%llu", (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", hdr);
        MHD_add_response_header(resp, "ETag", etag);
        MHD_add_response_header(resp, "Accept-Ranges", "bytes");
        if (commit)
            MHD_add_response_header(resp, "X-Repo-Commit", commit);
        return queue(c, q, 416, resp, 0);
    }
    uint64_t len = rk ? b - a + 1 : size;
    if (len == 0) {                 /* empty file: nothing to stream */
        close(fd);
        fh_bucket_unref(bf.shared);
        struct MHD_Response *resp = buf_response(NULL, 0);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "ETag", etag);
        MHD_add_response_header(resp, "Accept-Ranges", "bytes");
        if (commit)
            MHD_add_response_header(resp, "X-Repo-Commit", commit);
        return queue(c, q, 200, resp, 0);
    }
    fh_reader *rd = calloc(1, sizeof *rd);
    if (!rd) {
        close(fd);
        fh_bucket_unref(bf.shared);
        return MHD_NO;
    }
    rd->fd = fd;
    rd->start = rk ? a : 0;
    rd->len = len;
    rd->refs = 2;
    rd->f = bf;
    /* no_length: HTTP/1.1 chunked, no Content-Length (like the Hub's gzip-ed text) */
    struct MHD_Response *resp = MHD_create_response_from_callback(
        bf.no_length ? MHD_SIZE_UNKNOWN : len, FH_BLOCK, reader_cb, rd, reader_free_cb);
    if (!resp) {
        close(fd);
        fh_bucket_unref(bf.shared);
        free(rd);
        return MHD_NO;
    }
    q->rd = rd;
    rd->q = q;
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    if (commit)
        MHD_add_response_header(resp, "X-Repo-Commit", commit);
    if (rk) {
        snprintf(hdr, sizeof hdr, "bytes %llu-%llu/%llu", (unsigned long long)a,
                 (unsigned long long)b, (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", hdr);
    }
    return queue(c, q, rk ? 206 : 200, resp, 0);
}

/* ---------- hub routes ---------- */

static bool meta_true(const cJSON *meta, const char *key)
{
    const cJSON *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
    return cJSON_IsTrue(v) || (cJSON_IsString(v) && strcmp(v->valuestring, "false") != 0);
}

/* 0 = allowed; else fills the error to send. */
static int check_access(const fh_repo *r, struct MHD_Connection *c, unsigned *status,
                        const char **code, const char **msg)
{
    bool gated = meta_true(r->meta, "gated"), priv = meta_true(r->meta, "private");
    if (!gated && !priv)
        return 0;
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        const cJSON *toks = cJSON_GetObjectItemCaseSensitive(r->meta, "tokens"), *t;
        cJSON_ArrayForEach(t, toks) {
            if (cJSON_IsString(t) && strcmp(t->valuestring, tok) == 0)
                return 0;
        }
    }
    *status = 401;
    if (priv) {
        *code = "RepoNotFound";
        *msg = "Repository Not Found";
    } else if (!authz) {
        *code = "GatedRepo";
        *msg = "Access to this model is restricted. You must have access to it and be authenticated to access it. Please log in.";
    } else {
        *code = "GatedRepo";
        *msg = "Invalid credentials in Authorization header";
    }
    return -1;
}

/* Common repo prelude: rename redirect, existence, access. Returns 1 when a
 * response was queued (*ret holds the result), 0 to continue. */
static int repo_prelude(struct MHD_Connection *c, fh_req *q, fh_repo *r, const char *org,
                        const char *name, bool api, enum MHD_Result *ret)
{
    char msg[512];
    if (!seg_ok(org) || !seg_ok(name) || strchr(org, '/') || strchr(name, '/')) {
        *ret = send_error(c, q, 400, "BadRequest", "bad repo id", NULL);
        return 1;
    }
    if (fh_repo_open(r, org, name, msg, sizeof msg) < 0) {
        *ret = send_error(c, q, 500, "InternalError", msg, NULL);
        return 1;
    }
    const cJSON *ren = r->meta ? cJSON_GetObjectItemCaseSensitive(r->meta, "renamed_to") : NULL;
    if (cJSON_IsString(ren)) {
        iw_buf b = IW_BUF_INIT(16384);
        const char *rest = raw_after(q->path, api ? 4 : 2);
        int rc = iw_buf_puts(&b, api ? "/api/models/" : "/");
        if (rc == 0) rc = pct_encode(&b, ren->valuestring, true);
        if (rc == 0) rc = iw_buf_puts(&b, rest);
        if (rc == 0 && q->query[0]) rc = iw_buf_printf(&b, "?%s", q->query);
        if (rc < 0) {
            iw_buf_free(&b);
            *ret = MHD_NO;
            return 1;
        }
        struct MHD_Response *resp = buf_response(NULL, 0);
        if (resp)
            MHD_add_response_header(resp, "Location", b.data);
        iw_buf_free(&b);
        *ret = queue(c, q, 307, resp, 0);
        return 1;
    }
    if (!r->exists) {
        snprintf(msg, sizeof msg, "Repository %s not found", r->id);
        *ret = send_error(c, q, 404, "RepoNotFound", msg, NULL);
        return 1;
    }
    unsigned st;
    const char *code, *m;
    if (check_access(r, c, &st, &code, &m) < 0) {
        *ret = send_error(c, q, st, code, m, NULL);
        return 1;
    }
    return 0;
}

static int resolve_commit(struct MHD_Connection *c, fh_req *q, fh_repo *r, const char *rev,
                          char commit[41], enum MHD_Result *ret)
{
    char msg[512];
    if (fh_repo_list(r, msg, sizeof msg) < 0 || fh_repo_hash_all(r, msg, sizeof msg) < 0) {
        *ret = send_error(c, q, 500, "InternalError", msg, NULL);
        return 1;
    }
    if (fh_repo_resolve_rev(r, rev, commit, msg, sizeof msg) < 0) {
        *ret = send_error(c, q, 404, "RevisionNotFound", msg, NULL);
        return 1;
    }
    return 0;
}

static enum MHD_Result route_info(struct MHD_Connection *c, fh_req *q, fh_repo *r, const char *rev)
{
    enum MHD_Result ret;
    char commit[41];
    if (resolve_commit(c, q, r, rev, commit, &ret))
        return ret;
    bool blobs = query_bool(q->query, "blobs");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "_id", commit);
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "modelId", r->id);
    cJSON_AddStringToObject(o, "author", r->org);
    cJSON_AddStringToObject(o, "sha", commit);
    cJSON_AddStringToObject(o, "lastModified", "2024-01-01T00:00:00.000Z");
    cJSON_AddBoolToObject(o, "private", meta_true(r->meta, "private"));
    cJSON_AddBoolToObject(o, "disabled", false);
    const cJSON *g = r->meta ? cJSON_GetObjectItemCaseSensitive(r->meta, "gated") : NULL;
    if (cJSON_IsString(g) && strcmp(g->valuestring, "false") != 0)
        cJSON_AddStringToObject(o, "gated", g->valuestring);
    else if (cJSON_IsTrue(g))
        cJSON_AddStringToObject(o, "gated", "manual");
    else
        cJSON_AddBoolToObject(o, "gated", false);
    cJSON_AddArrayToObject(o, "tags");
    const cJSON *card = r->meta ? cJSON_GetObjectItemCaseSensitive(r->meta, "card") : NULL;
    if (card)
        cJSON_AddItemToObject(o, "cardData", cJSON_Duplicate(card, true));
    cJSON *sib = cJSON_AddArrayToObject(o, "siblings");
    uint64_t total = 0;
    for (size_t i = 0; i < r->n; i++) {
        const fh_entry *e = &r->entries[i];
        if (e->is_dir)
            continue;
        total += e->size;
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "rfilename", e->path);
        if (blobs) {
            cJSON_AddNumberToObject(s, "size", (double)e->size);
            cJSON_AddStringToObject(s, "blobId", e->oid);
            if (e->lfs) {
                cJSON *l = cJSON_AddObjectToObject(s, "lfs");
                cJSON_AddStringToObject(l, "sha256", e->sha256);
                cJSON_AddNumberToObject(l, "size", (double)e->size);
                cJSON_AddNumberToObject(l, "pointerSize", (double)e->pointer_size);
            }
        }
        cJSON_AddItemToArray(sib, s);
    }
    const cJSON *extra = r->meta ? cJSON_GetObjectItemCaseSensitive(r->meta, "extra_tree_entries") : NULL, *x;
    cJSON_ArrayForEach(x, extra) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(x, "path");
        if (cJSON_IsString(p)) {
            cJSON *sb = cJSON_CreateObject();
            cJSON_AddStringToObject(sb, "rfilename", p->valuestring);
            cJSON_AddItemToArray(sib, sb);
        }
    }
    if (blobs)
        cJSON_AddNumberToObject(o, "usedStorage", (double)total);
    return send_json(c, q, 200, o, NULL);
}

static enum MHD_Result route_tree(struct MHD_Connection *c, fh_req *q, fh_repo *r,
                                  const char *rev, const char *dir)
{
    enum MHD_Result ret;
    char commit[41];
    if (resolve_commit(c, q, r, rev, commit, &ret))
        return ret;
    size_t dl = dir ? strlen(dir) : 0;
    if (dir) {
        const fh_entry *d = fh_repo_find(r, dir);
        if (!d || !d->is_dir) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s does not exist on \"%s\"", dir, rev);
            return send_error(c, q, 404, "EntryNotFound", msg, commit);
        }
    }
    bool recursive = query_bool(q->query, "recursive"), expand = query_bool(q->query, "expand");
    uint64_t cursor = 0;
    char *cur = query_get(q->query, "cursor");
    if (cur) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(cur, &end, 10);
        bool bad = !*cur || *end || errno || cur[0] == '-' || cur[0] == '+';
        free(cur);
        if (bad)
            return send_error(c, q, 400, "BadRequest", "invalid cursor", NULL);
        if (v > FH_MAX_ENTRIES)
            return send_error(c, q, 400, "BadRequest", "cursor past the end", NULL);
        cursor = v;
    }
    /* matching entries, in path order */
    cJSON *arr = cJSON_CreateArray();
    uint64_t idx = 0;
    bool more = false;
    for (size_t i = 0; i < r->n; i++) {
        const fh_entry *e = &r->entries[i];
        const char *rel = e->path;
        if (dl) {
            if (strncmp(rel, dir, dl) != 0 || rel[dl] != '/')
                continue;
            rel += dl + 1;
        }
        if (!recursive && strchr(rel, '/'))
            continue;
        if (idx >= cursor) {
            if (idx >= cursor + g_fh.page_size) {
                more = true;
                break;
            }
            cJSON_AddItemToArray(arr, fh_entry_json(r, e, expand, commit));
        }
        idx++;
    }
    /* hostile-server simulation: raw entries from the metadata are appended
     * to the last page of the root listing, unchecked (docs/fakehub.md) */
    const cJSON *extra = r->meta ? cJSON_GetObjectItemCaseSensitive(r->meta, "extra_tree_entries") : NULL;
    if (!more && !dir && cJSON_IsArray(extra)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, extra)
            cJSON_AddItemToArray(arr, cJSON_Duplicate(x, true));
    }
    if (cursor > idx && !more) {
        cJSON_Delete(arr);
        return send_error(c, q, 400, "BadRequest", "cursor past the end", NULL);
    }
    char *link = NULL;
    if (more) {
        if (asprintf(&link, "<%s%s?%s%scursor=%llu>; rel=\"next\"", g_fh.hub_url, q->path,
                     recursive ? "recursive=true&" : "", expand ? "expand=true&" : "",
                     (unsigned long long)(cursor + g_fh.page_size)) < 0)
            link = NULL;
    }
    ret = send_json(c, q, 200, arr, link);
    free(link);
    return ret;
}

static int add_path_entry(cJSON *arr, fh_repo *r, const char *p, bool expand, const char *commit)
{
    if (iw_path_check_relative(p, strlen(p)) < 0)
        return 0;
    const fh_entry *e = fh_repo_find(r, p);
    if (!e)
        return 0;
    cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *pp = cJSON_GetObjectItemCaseSensitive(it, "path");
        if (cJSON_IsString(pp) && strcmp(pp->valuestring, p) == 0)
            return 0;
    }
    cJSON_AddItemToArray(arr, fh_entry_json(r, e, expand, commit));
    return 0;
}

static enum MHD_Result route_paths_info(struct MHD_Connection *c, fh_req *q, fh_repo *r,
                                        const char *rev)
{
    enum MHD_Result ret;
    char commit[41];
    if (strcmp(q->method, "POST") != 0)
        return send_error(c, q, 405, "BadRequest", "paths-info needs POST", NULL);
    if (resolve_commit(c, q, r, rev, commit, &ret))
        return ret;
    const char *body = q->body.data ? q->body.data : "";
    size_t blen = q->body.len;
    size_t k = 0;
    while (k < blen && (body[k] == ' ' || body[k] == '\n' || body[k] == '\r' || body[k] == '\t'))
        k++;
    cJSON *arr = cJSON_CreateArray();
    if (k < blen && body[k] == '{') {
        cJSON *j = cJSON_ParseWithLength(body, blen);
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(j, "paths");
        if (!cJSON_IsArray(paths) && !cJSON_IsString(paths)) {
            cJSON_Delete(j);
            cJSON_Delete(arr);
            return send_error(c, q, 400, "BadRequest", "body needs \"paths\": [...]", NULL);
        }
        bool expand = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "expand"));
        if (cJSON_IsString(paths)) {
            add_path_entry(arr, r, paths->valuestring, expand, commit);
        } else {
            const cJSON *p;
            cJSON_ArrayForEach(p, paths) {
                if (cJSON_IsString(p))
                    add_path_entry(arr, r, p->valuestring, expand, commit);
            }
        }
        cJSON_Delete(j);
    } else {
        bool expand = query_bool(body, "expand");
        for (const char *p = body; *p;) {
            const char *amp = strchr(p, '&');
            size_t len = amp ? (size_t)(amp - p) : strlen(p);
            if (len > 6 && strncmp(p, "paths=", 6) == 0) {
                char *v = pct_decode(p + 6, len - 6, true);
                if (v)
                    add_path_entry(arr, r, v, expand, commit);
                free(v);
            }
            p = amp ? amp + 1 : p + len;
        }
    }
    return send_json(c, q, 200, arr, NULL);
}

static enum MHD_Result route_resolve(struct MHD_Connection *c, fh_req *q, fh_repo *r,
                                     const char *rev, const char *path)
{
    enum MHD_Result ret;
    char commit[41], msg[512];
    if (resolve_commit(c, q, r, rev, commit, &ret))
        return ret;
    fh_entry *e = fh_repo_find(r, path);
    if (!e || e->is_dir) {
        snprintf(msg, sizeof msg, "Entry not found: %s", path);
        return send_error(c, q, 404, "EntryNotFound", msg, commit);
    }
    if (fh_repo_hash_entry(r, e, msg, sizeof msg) < 0)
        return send_error(c, q, 500, "InternalError", msg, commit);
    char etag[80];
    if (!e->lfs) {
        snprintf(etag, sizeof etag, "\"%s\"", e->oid);
        return serve_file(c, q, r, e, etag, commit);
    }
    iw_buf loc = IW_BUF_INIT(16384);
    int rc = iw_buf_printf(&loc, "%s/cdn/", g_fh.cdn_url);
    if (rc == 0) rc = pct_encode(&loc, r->org, false);
    if (rc == 0) rc = iw_buf_putc(&loc, '/');
    if (rc == 0) rc = pct_encode(&loc, r->name, false);
    if (rc == 0) rc = iw_buf_printf(&loc, "/%s?path=", e->sha256);
    if (rc == 0) rc = pct_encode(&loc, e->path, false);
    struct MHD_Response *resp = rc == 0 ? buf_response(NULL, 0) : NULL;
    if (!resp) {
        iw_buf_free(&loc);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Location", loc.data);
    iw_buf_free(&loc);
    snprintf(etag, sizeof etag, "\"%s\"", e->sha256);
    MHD_add_response_header(resp, "X-Linked-Etag", etag);
    char sz[32];
    snprintf(sz, sizeof sz, "%llu", (unsigned long long)e->size);
    MHD_add_response_header(resp, "X-Linked-Size", sz);
    MHD_add_response_header(resp, "X-Repo-Commit", commit);
    snprintf(etag, sizeof etag, "\"%s\"", e->oid);
    MHD_add_response_header(resp, "ETag", etag);
    return queue(c, q, 302, resp, 0);
}

static enum MHD_Result handle_hub(struct MHD_Connection *c, fh_req *q)
{
    fh_segs s;
    if (segs_parse(&s, q->path) < 0)
        return send_error(c, q, 400, "BadRequest", "malformed request path", NULL);
    enum MHD_Result ret;
    fh_repo repo;
    memset(&repo, 0, sizeof repo);
    char *file = NULL;
    const char *org = NULL, *name = NULL, *rev = "main";
    enum { R_NONE, R_INFO, R_TREE, R_PATHS, R_RESOLVE, R_CONTROL } route = R_NONE;

    if (s.n == 2 && strcmp(s.seg[0], "_control") == 0) {
        route = R_CONTROL;
    } else if (s.n >= 4 && strcmp(s.seg[0], "api") == 0 && strcmp(s.seg[1], "models") == 0) {
        org = s.seg[2];
        name = s.seg[3];
        if (s.n == 4) {
            route = R_INFO;
        } else if (s.n == 6 && strcmp(s.seg[4], "revision") == 0) {
            route = R_INFO;
            rev = s.seg[5];
        } else if (s.n >= 6 && strcmp(s.seg[4], "tree") == 0) {
            route = R_TREE;
            rev = s.seg[5];
            if (s.n > 6 && !(file = segs_join(&s, 6))) {
                ret = send_error(c, q, 400, "BadRequest", "unsafe path", NULL);
                goto done;
            }
        } else if (s.n == 6 && strcmp(s.seg[4], "paths-info") == 0) {
            route = R_PATHS;
            rev = s.seg[5];
        }
    } else if (s.n >= 5 && strcmp(s.seg[2], "resolve") == 0) {
        org = s.seg[0];
        name = s.seg[1];
        rev = s.seg[3];
        route = R_RESOLVE;
        if (!(file = segs_join(&s, 4))) {
            ret = send_error(c, q, 400, "BadRequest", "unsafe path", NULL);
            goto done;
        }
    }

    if (route == R_CONTROL) {
        q->control = true;
        unsigned st = 404;
        char *out = fh_control_handle(q->method, s.seg[1], q->body.data, q->body.len, &st);
        ret = out ? send_json_text(c, q, st, out)
                  : send_error(c, q, 404, "NotFound", "unknown control endpoint", NULL);
        goto done;
    }
    if (route == R_NONE) {
        ret = send_error(c, q, 404, "NotFound", "no such endpoint", NULL);
        goto done;
    }
    if (!seg_ok(rev)) {
        ret = send_error(c, q, 400, "BadRequest", "bad revision", NULL);
        goto done;
    }
    fh_status_fault sf;
    int fid = fh_fault_take_status(FH_HUB, route == R_RESOLVE ? file : NULL, q->path, &sf);
    if (fid) {
        ret = send_fault_status(c, q, fid, &sf);
        goto done;
    }
    if (repo_prelude(c, q, &repo, org, name, route != R_RESOLVE, &ret))
        goto done;
    switch (route) {
    case R_INFO:    ret = route_info(c, q, &repo, rev); break;
    case R_TREE:    ret = route_tree(c, q, &repo, rev, file); break;
    case R_PATHS:   ret = route_paths_info(c, q, &repo, rev); break;
    case R_RESOLVE: ret = route_resolve(c, q, &repo, rev, file); break;
    default:        ret = MHD_NO; break;
    }
done:
    free(file);
    fh_repo_free(&repo);
    segs_free(&s);
    return ret;
}

static enum MHD_Result handle_cdn(struct MHD_Connection *c, fh_req *q)
{
    fh_segs s;
    if (segs_parse(&s, q->path) < 0)
        return send_error(c, q, 400, "BadRequest", "malformed request path", NULL);
    enum MHD_Result ret;
    fh_repo repo;
    memset(&repo, 0, sizeof repo);
    char *file = NULL, msg[512];
    if (s.n != 4 || strcmp(s.seg[0], "cdn") != 0 || !seg_ok(s.seg[1]) || !seg_ok(s.seg[2]) ||
        strchr(s.seg[1], '/') || strchr(s.seg[2], '/')) {
        ret = send_error(c, q, 404, "NotFound", "no such object", NULL);
        goto done;
    }
    file = query_get(q->query, "path");
    if (!file || iw_path_check_relative(file, strlen(file)) < 0) {
        ret = send_error(c, q, 400, "BadRequest", "missing or unsafe ?path=", NULL);
        goto done;
    }
    fh_status_fault sf;
    int fid = fh_fault_take_status(FH_CDN, file, q->path, &sf);
    if (fid) {
        ret = send_fault_status(c, q, fid, &sf);
        goto done;
    }
    if (fh_repo_open(&repo, s.seg[1], s.seg[2], msg, sizeof msg) < 0 ||
        fh_repo_list(&repo, msg, sizeof msg) < 0) {
        ret = send_error(c, q, 404, "EntryNotFound", "no such object", NULL);
        goto done;
    }
    fh_entry *e = fh_repo_find(&repo, file);
    if (!e || e->is_dir || fh_repo_hash_entry(&repo, e, msg, sizeof msg) < 0 ||
        strcmp(e->sha256, s.seg[3]) != 0) {
        ret = send_error(c, q, 404, "EntryNotFound", "no such object (content changed?)", NULL);
        goto done;
    }
    char etag[80];
    snprintf(etag, sizeof etag, "\"%s\"", e->sha256);
    ret = serve_file(c, q, &repo, e, etag, NULL);
done:
    free(file);
    fh_repo_free(&repo);
    segs_free(&s);
    return ret;
}

/* ---------- MHD callbacks ---------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)con;
    fh_req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->host = *(const int *)cls;
    iw_buf_init(&q->body, FH_MAX_BODY);
    const char *qm = strchr(uri, '?');
    size_t pl = qm ? (size_t)(qm - uri) : strlen(uri);
    q->path = strndup(uri, pl);
    q->query = strdup(qm ? qm + 1 : "");
    return q;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    (void)url; (void)version;
    fh_req *q = *req_cls;
    if (!q || !q->path || !q->query)
        return MHD_NO;
    if (!q->started) {
        q->started = true;
        snprintf(q->method, sizeof q->method, "%s", method);
        const char *rg = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
        q->range = rg ? strdup(rg) : NULL;
        q->auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization") != NULL;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        q->conn = ci ? (uint64_t)(uintptr_t)ci->socket_context : 0;
        /* answering on the first call (before MHD knows whether a body
         * follows) makes MHD close the connection: wait for the next call */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!q->body_overflow && iw_buf_append(&q->body, upload_data, *upload_data_size) < 0)
            q->body_overflow = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (q->body_overflow)
        return send_error(c, q, 413, "BadRequest", "request body larger than 1 MiB", NULL);
    (void)cls;
    return q->host == FH_CDN ? handle_cdn(c, q) : handle_hub(c, q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    fh_req *q = *req_cls;
    if (!q)
        return;
    req_log(q, q->rd ? q->rd->sent : q->static_bytes);
    if (q->in_flight)
        fh_body_end(q->host);
    if (q->rd)
        q->rd->q = NULL;
    reader_unref(q->rd);
    iw_buf_free(&q->body);
    free(q->path);
    free(q->query);
    free(q->range);
    free(q);
    *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)c;
    int host = *(const int *)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        uint64_t id = __atomic_add_fetch(&g_conn_counter[host], 1, __ATOMIC_ACQ_REL);
        *socket_context = (void *)(uintptr_t)id;
        fh_stats_connection(host);
    }
}

/* MHD's own messages, minus the ones every injected cut or client abort
 * produces (they would only clutter test output). */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    if (strstr(line, "application reported error generating data") ||
        strstr(line, "no longer available for sending") ||
        strstr(line, "Connection reset by peer") || strstr(line, "Broken pipe") ||
        strstr(line, "forcibly closed by remote peer"))
        return;
    size_t n = strlen(line);
    fprintf(stderr, "fakehub: %s%s", line, n && line[n - 1] == '\n' ? "" : "\n");
}

struct MHD_Daemon *fh_server_start(int host, const char *addr, unsigned port, unsigned *bound_port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return NULL;
    int *hid = &g_host_ids[host];
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
        MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, hid,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,   /* must come first */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, hid,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, hid,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, hid,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(512 * 1024),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)256,
        MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = di ? di->port : port;
    return d;
}
