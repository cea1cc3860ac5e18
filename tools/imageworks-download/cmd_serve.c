/* cmd_serve.c - `serve [--listen ADDR:PORT] [--token T | --token-file F]`:
 * the registry and the estimator over HTTP (libmicrohttpd), and one web page.
 *
 *   GET  /healthz                 {"status":"ok","version"}
 *   GET  /models[?format=&quantization=&backend=]   list
 *   GET  /models/{name}           the merged entry (metadata.architecture included)
 *   POST /estimate                the estimate command's inputs -> its --json output
 *   POST /models/{name}/apply     estimate + --apply
 *   GET  /profiles                estimator profiles and GPUs (for the page)
 *   GET  /, /app.js, /app.css     the page (embedded, no network fetch)
 *
 * Safety (docs/api.md): listening beyond loopback requires a token, then
 * every API request needs "Authorization: Bearer <token>" (compared in
 * constant time); POST bodies must be application/json (a cross-site form
 * cannot send that without a CORS preflight, which is never granted) and
 * at most 64 KiB; on loopback the Host header must be a loopback host and our
 * port (DNS rebinding); names are looked up in the registry, never used as paths.
 * Each request reads the registry itself, so nothing is shared between
 * threads but read-only configuration.
 */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/catalog.h"
#include "serve_assets.h"

#ifndef IW_VERSION
#define IW_VERSION "0.1.0"
#endif

#define BODY_MAX   (64u << 10)
#define TOKEN_MAX  256

typedef struct serve_cfg {
    const char *registry_dir;
    iw_models_cache *models;     /* GET /models, kept between registry changes */
    char     token[TOKEN_MAX];
    bool     loopback;
    unsigned port;
} serve_cfg;

typedef struct req {
    bool   started;
    bool   overflow;
    iw_buf body;
} req;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ------------------------------------------------------------ responses */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *ctype, const void *data,
                                 size_t len, bool copy)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data,
                                                             copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (!strncmp(ctype, "text/html", 9)) {
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    if (!s)
        return send_text(c, 500, "application/json", "{\"error\":\"out of memory\",\"status\":500}", 38, false);
    enum MHD_Result r = send_text(c, status, "application/json", s, strlen(s), true);
    free(s);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject();
    if (j) {
        cJSON_AddStringToObject(j, "error", msg);
        cJSON_AddNumberToObject(j, "status", status);
    }
    enum MHD_Result r = send_json(c, status, j);
    cJSON_Delete(j);
    return r;
}

/* ------------------------------------------------------------ request checks */

static bool const_time_eq(const char *a, size_t la, const char *b, size_t lb)
{
    unsigned char d = (unsigned char)(la != lb);
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static bool authorized(struct MHD_Connection *c, const serve_cfg *cfg)
{
    if (!cfg->token[0])
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return false;
    h += 7;
    return const_time_eq(h, strlen(h), cfg->token, strlen(cfg->token));
}

/* A loopback host as a browser writes it in Host: an IPv4 literal in
 * 127.0.0.0/8, an IPv6 literal [::1], or exactly "localhost". */
static bool loopback_host(const char *h, size_t n)
{
    char lit[INET6_ADDRSTRLEN];
    struct in_addr a4;
    struct in6_addr a6;
    if (n == 9 && !strncasecmp(h, "localhost", 9))
        return true;
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        if (n - 2 >= sizeof lit)
            return false;
        memcpy(lit, h + 1, n - 2);
        lit[n - 2] = 0;
        return inet_pton(AF_INET6, lit, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
    if (n >= sizeof lit)
        return false;
    memcpy(lit, h, n);
    lit[n] = 0;
    return inet_pton(AF_INET, lit, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* On loopback the Host header must be a loopback host and this server's
 * port (DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends
 * Host: evil.example).  No port is port 80. */
static bool host_ok(struct MHD_Connection *c, const serve_cfg *cfg)
{
    if (!cfg->loopback)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!h)
        return false;
    const char *end = h[0] == '[' ? strchr(h, ']') : strchr(h, ':');
    end = !end ? h + strlen(h) : h[0] == '[' ? end + 1 : end;
    if (!loopback_host(h, (size_t)(end - h)))
        return false;
    unsigned long port = 80;
    if (*end) {
        if (end[0] != ':' || !end[1] || strspn(end + 1, "0123456789") != strlen(end + 1) || strlen(end + 1) > 5)
            return false;
        port = strtoul(end + 1, NULL, 10);
    }
    return port == __atomic_load_n(&cfg->port, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ handlers */

static int open_registry(const serve_cfg *cfg, iw_registry **reg)
{
    return iw_registry_open(reg, cfg->registry_dir);
}

static enum MHD_Result h_models(struct MHD_Connection *c, const serve_cfg *cfg)
{
    iw_models_filter f = {
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "quantization"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "backend"),
    };
    char *body = NULL;
    if (iw_catalog_models_cached(cfg->models, &f, &body) < 0)
        return send_error(c, 500, "%s", iw_error_last());
    enum MHD_Result r = send_text(c, 200, "application/json", body, strlen(body), true);
    free(body);
    return r;
}

static enum MHD_Result h_model(struct MHD_Connection *c, const serve_cfg *cfg, const char *name)
{
    iw_registry *reg = NULL;
    if (open_registry(cfg, &reg) < 0)
        return send_error(c, 500, "registry: %s", iw_error_last());
    const cJSON *ent = iw_registry_get(reg, name);
    enum MHD_Result r = ent ? send_json(c, 200, ent) : send_error(c, 404, "no registry entry named '%s'", name);
    iw_registry_close(reg);
    return r;
}

static enum MHD_Result h_profiles(struct MHD_Connection *c)
{
    iw_est_profiles *ps = NULL;
    if (iw_est_profiles_load(&ps, NULL) < 0)
        return send_error(c, 500, "profiles: %s", iw_error_last());
    cJSON *out = iw_est_profiles_to_json(ps);
    enum MHD_Result r = send_json(c, 200, out);
    cJSON_Delete(out);
    iw_est_profiles_free(ps);
    return r;
}

static enum MHD_Result h_estimate(struct MHD_Connection *c, const serve_cfg *cfg, const iw_buf *body,
                                  const char *apply_name)
{
    cJSON *j = NULL;
    iw_estimate_request rq;
    iw_catalog_estimate_request_init(&rq);
    rq.names_only = true;   /* never a path or a network fetch from a request */
    if (iw_catalog_estimate_request_parse(body->data, body->len, apply_name == NULL, &rq, &j) < 0)
        return send_error(c, 400, "%s", iw_error_last());
    if (apply_name) {
        rq.target = apply_name;
        rq.apply = true;
        if (rq.opts.vram_bytes == IW_UNKNOWN && !rq.gpu) {
            cJSON_Delete(j);
            return send_error(c, 400, "apply needs a budget: 'vram' or 'gpu'");
        }
    }
    iw_registry *reg = NULL;
    if (open_registry(cfg, &reg) < 0) {
        cJSON_Delete(j);
        return send_error(c, 500, "registry: %s", iw_error_last());
    }
    if (!iw_registry_get(reg, rq.target)) {
        enum MHD_Result r = send_error(c, 404, "no registry entry named '%s'", rq.target);
        iw_registry_close(reg);
        cJSON_Delete(j);
        return r;
    }
    iw_estimate_answer res;
    iw_catalog_estimate(reg, &rq, &res);
    int rc = res.status;
    enum MHD_Result r;
    if (rc == IW_EXIT_USAGE) {
        r = send_error(c, 400, "%s", res.error ? res.error : "invalid request");
    } else if (res.apply_error) {
        /* it fits, but the registry could not be written: the server's fault */
        r = send_error(c, res.apply_error == IW_ELOCKED ? 503 : 500, "%s", res.error ? res.error : "apply failed");
    } else if (!res.json) {
        r = send_error(c, 422, "%s", res.error ? res.error : "cannot estimate this model");
    } else {
        if (res.error)
            cJSON_AddStringToObject(res.json, "error", res.error);
        if (res.apply_warning)
            cJSON_AddStringToObject(res.json, "apply_warning", res.apply_warning);
        /* apply that could not apply (does not fit) is a conflict; an
         * estimate that does not fit is still an answer */
        r = send_json(c, rc == 0 ? 200 : apply_name ? 409 : 200, res.json);
    }
    iw_catalog_estimate_answer_free(&res);
    iw_registry_close(reg);
    cJSON_Delete(j);
    return r;
}

/* ---- routing ------------------------------------------------------------ */

/* MHD decodes %00 into a NUL, which ends the path early: /models/a%00b would
 * name entry 'a'.  Decode it as DEL instead, so route() refuses it with the
 * other control characters. */
static size_t unescape_url(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls; (void)c;
    for (char *p = strstr(s, "%00"); p; p = strstr(p + 3, "%00"))
        memcpy(p, "%7F", 3);
    return MHD_http_unescape(s);
}

static enum MHD_Result route(struct MHD_Connection *c, const serve_cfg *cfg, const char *method, const char *url,
                             const iw_buf *body)
{
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool post = !strcmp(method, "POST");
    if (!host_ok(c, cfg))
        return send_error(c, 421, "the Host header must name this loopback server");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return send_error(c, 400, "the URL holds a control character or %%00");
    /* the page and the health check need no token */
    const serve_asset *as = serve_asset_find(!strcmp(url, "/") ? "/index.html" : url);
    if (as) {
        if (!get)
            return send_error(c, 405, "%s allows GET", url);
        return send_text(c, 200, as->content_type, as->data, as->size, false);
    }
    if (!strcmp(url, "/healthz")) {
        if (!get)
            return send_error(c, 405, "/healthz allows GET");
        const char *ok = "{\"status\":\"ok\",\"version\":\"" IW_VERSION "\"}";
        return send_text(c, 200, "application/json", ok, strlen(ok), false);
    }
    if (!authorized(c, cfg))
        return send_error(c, 401, "missing or wrong bearer token");
    if (post) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (!ct || strncasecmp(ct, "application/json", 16))
            return send_error(c, 415, "POST bodies must be Content-Type: application/json");
    }
    if (!strcmp(url, "/models") || !strcmp(url, "/models/")) {
        if (!get)
            return send_error(c, 405, "/models allows GET");
        return h_models(c, cfg);
    }
    if (!strcmp(url, "/profiles")) {
        if (!get)
            return send_error(c, 405, "/profiles allows GET");
        return h_profiles(c);
    }
    if (!strcmp(url, "/estimate")) {
        if (!post)
            return send_error(c, 405, "/estimate allows POST");
        return h_estimate(c, cfg, body, NULL);
    }
    if (!strncmp(url, "/models/", 8) && url[8]) {
        const char *name = url + 8;
        size_t nl = strlen(name);
        if (nl > 6 && !strcmp(name + nl - 6, "/apply")) {
            if (!post)
                return send_error(c, 405, "/models/{name}/apply allows POST");
            char n[1024];
            if (nl - 6 >= sizeof n)
                return send_error(c, 414, "name too long");
            memcpy(n, name, nl - 6);
            n[nl - 6] = 0;
            return h_estimate(c, cfg, body, n);
        }
        if (!get)
            return send_error(c, 405, "/models/{name} allows GET");
        return h_model(c, cfg, name);
    }
    return send_error(c, 404, "no such endpoint: %s %s", method, url);
}

/* ------------------------------------------------------------ slow clients
 *
 * MHD's timeout counts inactivity, so a client sending a header byte every
 * few seconds (slowloris) keeps a connection forever, and 256 of them took
 * every slot.  Now each client address gets at most SERVE_PER_CLIENT
 * connections (MHD_OPTION_PER_IP_CONNECTION_LIMIT), a connection idle for
 * SERVE_IDLE_S closes, and a watchdog shuts down a connection whose request
 * has not arrived whole SERVE_REQUEST_S after it began (when the
 * connection opened or its previous answer was sent).  A request being
 * answered is never cut. */
#define SERVE_MAX_CONN    256
#define SERVE_PER_CLIENT  32
#define SERVE_IDLE_S      10
#define SERVE_REQUEST_S   30

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct conn_watch {
    struct conn_watch *next, *prev;
    int      fd;
    uint64_t since_ms;    /* the request being received began */
    bool     handling;    /* it arrived whole: a handler is answering it */
} conn_watch;

static struct {
    pthread_mutex_t mu;
    conn_watch     *head;
} g_conns = { PTHREAD_MUTEX_INITIALIZER, NULL };

static void on_connection(void *cls, struct MHD_Connection *c, void **sock_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    conn_watch *w = *sock_ctx;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(w = calloc(1, sizeof *w)))
            return;   /* unwatched: the idle timeout still applies */
        w->fd = ci->connect_fd;
        w->since_ms = now_ms();
        pthread_mutex_lock(&g_conns.mu);
        w->next = g_conns.head;
        if (w->next)
            w->next->prev = w;
        g_conns.head = w;
        pthread_mutex_unlock(&g_conns.mu);
        *sock_ctx = w;
    } else if (w) {   /* closed: before MHD closes the socket */
        pthread_mutex_lock(&g_conns.mu);
        if (w->prev)
            w->prev->next = w->next;
        else
            g_conns.head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        pthread_mutex_unlock(&g_conns.mu);
        free(w);
        *sock_ctx = NULL;
    }
}

/* The request on c arrived whole (handling) or was answered (a new one may begin). */
static void watch_set(struct MHD_Connection *c, bool handling)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_watch *w = ci ? ci->socket_context : NULL;
    if (!w)
        return;
    pthread_mutex_lock(&g_conns.mu);
    w->handling = handling;
    if (!handling)
        w->since_ms = now_ms();
    pthread_mutex_unlock(&g_conns.mu);
}

static void *watchdog(void *arg)
{
    (void)arg;
    while (!g_stop) {
        struct timespec ts = { 0, 500 * 1000000L };
        nanosleep(&ts, NULL);
        uint64_t now = now_ms();
        pthread_mutex_lock(&g_conns.mu);
        for (conn_watch *w = g_conns.head; w; w = w->next)
            if (!w->handling && now - w->since_ms > SERVE_REQUEST_S * 1000u) {
                shutdown(w->fd, SHUT_RDWR);   /* MHD sees the end and closes it */
                w->since_ms = now;
            }
        pthread_mutex_unlock(&g_conns.mu);
    }
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    const serve_cfg *cfg = cls;
    req *q = *req_cls;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        iw_buf_init(&q->body, BODY_MAX);
        *req_cls = q;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!q->overflow && iw_buf_append(&q->body, upload_data, *upload_data_size) < 0)
            q->overflow = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    watch_set(c, true);
    if (q->overflow)
        return send_error(c, 413, "request body larger than %u bytes", BODY_MAX);
    return route(c, cfg, method, url, &q->body);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)toe;
    watch_set(c, false);
    req *q = *req_cls;
    if (q) {
        iw_buf_free(&q->body);
        free(q);
        *req_cls = NULL;
    }
}

static void quiet_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    if (strstr(line, "Connection reset by peer") || strstr(line, "Broken pipe") ||
        strstr(line, "no longer available for sending"))
        return;
    size_t n = strlen(line);
    fprintf(stderr, "imageworks-download: serve: %s%s", line, n && line[n - 1] == '\n' ? "" : "\n");
}

/* ------------------------------------------------------------ command */

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download serve [--listen ADDR:PORT] [--token T | --token-file FILE]\n"
        "\n"
        "Serve the registry and the estimator over HTTP, with a web page at /\n"
        "(docs/api.md).  Default 127.0.0.1:8765; port 0 picks a free one.\n"
        "\n"
        "  --listen ADDR:PORT  IPv4 address, or [IPv6]:PORT; beyond loopback a token is required\n"
        "  --token T           API requests need 'Authorization: Bearer T' (also $IMAGEWORKS_SERVE_TOKEN)\n"
        "  --token-file FILE   read the token from FILE (first line)\n"
        "\n"
        "Prints 'serving on http://ADDR:PORT/' and runs until SIGINT or SIGTERM.\n");
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl, bool *loopback, unsigned *port)
{
    char host[128];
    const char *p;
    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host)
            return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        p = e + 2;
    } else {
        const char *e = strrchr(s, ':');
        if (!e || (size_t)(e - s) >= sizeof host)
            return -1;
        memcpy(host, s, (size_t)(e - s));
        host[e - s] = 0;
        p = e + 1;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || *end || v < 0 || v > 65535)
        return -1;
    *port = (unsigned)v;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)v);
        *sl = sizeof *a4;
        *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)v);
        *sl = sizeof *a6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
    return -1;
}

static int read_token_file(const char *path, char *out, size_t n)
{
    iw_buf b;
    iw_buf_init(&b, 4096);
    int rc = iw_read_file(path, 4096, &b);
    if (rc == 0) {
        size_t l = strcspn(b.data ? b.data : "", "\r\n");
        if (l == 0 || l >= n)
            rc = iw_error_set(IW_EINVAL, "token file '%s': expected one line of 1-%zu characters", path, n - 1);
        else
            snprintf(out, n, "%.*s", (int)l, b.data);
    }
    iw_buf_free(&b);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"token", required_argument, NULL, 't'},
        {"token-file", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *listen = "127.0.0.1:8765", *token = NULL, *token_file = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 't': token = optarg; break;
        case 'f': token_file = optarg; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("serve", "serve: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage("serve", "serve: unexpected argument '%s'", argv[optind]);
    serve_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (parse_listen(listen, &ss, &sl, &cfg.loopback, &cfg.port) < 0)
        return cli_usage("serve", "serve: --listen '%s': expected ADDR:PORT (127.0.0.1:8765, [::1]:8765)", listen);
    if (token && token_file)
        return cli_usage("serve", "serve: give --token or --token-file, not both");
    if (!token && !token_file) {
        const char *env = getenv("IMAGEWORKS_SERVE_TOKEN");
        if (env && *env)
            token = env;
    }
    if (token_file) {
        if (read_token_file(token_file, cfg.token, sizeof cfg.token) < 0)
            return cli_fail("serve");
    } else if (token) {
        if (!*token || strlen(token) >= sizeof cfg.token)
            return cli_usage("serve", "serve: the token must be 1-%zu characters", sizeof cfg.token - 1);
        snprintf(cfg.token, sizeof cfg.token, "%s", token);
    }
    if (!cfg.loopback && !cfg.token[0])
        return cli_usage("serve", "serve: listening on %s (beyond loopback) needs --token or --token-file", listen);
    /* the registry must be readable now, not at the first request */
    if (iw_catalog_models_cache_new(&cfg.models, NULL) < 0)
        return cli_fail("serve: registry");
    cfg.registry_dir = iw_catalog_models_cache_dir(cfg.models);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)cfg.port, NULL, NULL, on_request, &cfg,
        MHD_OPTION_EXTERNAL_LOGGER, quiet_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)SERVE_MAX_CONN,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)SERVE_PER_CLIENT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)SERVE_IDLE_S,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)256,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "imageworks-download: serve: cannot listen on %s: %s\n", listen, strerror(errno));
        iw_catalog_models_cache_free(cfg.models);
        return IW_EXIT_FAIL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : cfg.port;
    __atomic_store_n(&cfg.port, port, __ATOMIC_RELAXED);   /* port 0: the one picked, for host_ok */
    char shown[160];
    if (ss.ss_family == AF_INET6) {
        char h[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, h, sizeof h);
        snprintf(shown, sizeof shown, "[%s]:%u", h, port);
    } else {
        char h[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, h, sizeof h);
        snprintf(shown, sizeof shown, "%s:%u", h, port);
    }
    pthread_t wd;
    bool wd_on = pthread_create(&wd, NULL, watchdog, NULL) == 0;
    printf("serving on http://%s/ (registry %s%s)\n", shown, cfg.registry_dir,
           cfg.token[0] ? ", bearer token required" : "");
    fflush(stdout);
    while (!g_stop)
        pause();
    if (wd_on)
        pthread_join(wd, NULL);
    MHD_stop_daemon(d);
    iw_catalog_models_cache_free(cfg.models);
    fprintf(stderr, "imageworks-download: serve: stopped\n");
    return IW_EXIT_OK;
}
