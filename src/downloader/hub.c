/* hub.c - Hugging Face Hub API client (see include/iwdl/hub.h). */
#include "hub_internal.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "iwdl/download.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"

#define IW_USER_AGENT "imageworks-download/0.1 (libcurl)"
#define IW_TOKEN_MAX  4096

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

uint64_t iw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool iw_is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (!strcasecmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
                 !strcasecmp(v, "true"));
}

/* Strip CR/LF/spaces around the token; refuse embedded control chars or spaces
 * (they would split the header). */
static int clean_token(const char *in, size_t len, char **out)
{
    *out = NULL;
    while (len && isspace((unsigned char)*in)) { in++; len--; }
    while (len && isspace((unsigned char)in[len - 1])) len--;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f)
            return iw_error_set(IW_EINVAL, "the Hugging Face token contains a space or control character");
    *out = strndup(in, len);
    return *out ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
}

static int load_token(char **out)
{
    *out = NULL;
    const char *t = getenv("HF_TOKEN");
    if (!t || !*t)
        t = getenv("HUGGING_FACE_HUB_TOKEN");
    if (t && *t)
        return clean_token(t, strlen(t), out);
    char path[4096];
    const char *tp = getenv("HF_TOKEN_PATH");
    if (tp && *tp) {
        snprintf(path, sizeof path, "%s", tp);
    } else {
        const char *home = getenv("HF_HOME");
        if (home && *home)
            snprintf(path, sizeof path, "%s/token", home);
        else {
            const char *h = getenv("HOME");
            if (!h)
                return 0;
            snprintf(path, sizeof path, "%s/.cache/huggingface/token", h);
        }
    }
    if (!iw_path_is_file(path))
        return 0;
    iw_buf b = IW_BUF_INIT(IW_TOKEN_MAX);
    int rc = iw_read_file(path, IW_TOKEN_MAX, &b);
    if (rc < 0) {
        iw_buf_free(&b);
        return iw_error_prefix("token file %s", path);
    }
    rc = clean_token(b.data ? b.data : "", b.len, out);
    iw_buf_free(&b);
    return rc;
}

int iw_hub_new(iw_hub **out, const iw_hub_options *opts)
{
    iw_hub_options def = IW_HUB_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    *out = NULL;
    if (iw_opts_version_check(opts->version, IW_HUB_OPTIONS_VERSION, "iw_hub_new") < 0)
        return IW_EINVAL;
    pthread_once(&g_curl_once, curl_init_once);
    iw_hub *h = calloc(1, sizeof *h);
    if (!h)
        return iw_error_set(IW_ENOMEM, "out of memory");
    int rc = 0;
    const char *ep = opts->endpoint;
    if (!ep) ep = getenv("HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) {
        rc = iw_error_set(IW_EINVAL, "HF_ENDPOINT '%s' must start with http:// or https://", ep);
        goto fail;
    }
    h->endpoint = strdup(ep);
    if (!h->endpoint) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto fail; }
    size_t n = strlen(h->endpoint);
    while (n > 8 && h->endpoint[n - 1] == '/')
        h->endpoint[--n] = 0;

    if (opts->token) {
        if ((rc = clean_token(opts->token, strlen(opts->token), &h->token)) < 0)
            goto fail;
    } else if ((rc = load_token(&h->token)) < 0) {
        goto fail;
    }
    if (h->token) {
        size_t l = strlen(h->token) + 32;
        h->auth_header = malloc(l);
        if (!h->auth_header) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto fail; }
        snprintf(h->auth_header, l, "Authorization: Bearer %s", h->token);
    }
    h->offline = opts->offline >= 0 ? opts->offline != 0
                                    : (env_true("HF_HUB_OFFLINE") || env_true("TRANSFORMERS_OFFLINE"));
    h->timeout_s = opts->timeout_s;
    if (h->timeout_s <= 0) {
        const char *t = getenv("HF_HUB_DOWNLOAD_TIMEOUT");
        long v = t ? strtol(t, NULL, 10) : 0;
        h->timeout_s = v > 0 && v < 86400 ? v : 10;
    }
    h->retry_base_ms = 1000;
    const char *ca = getenv("CURL_CA_BUNDLE");
    if (!ca || !*ca) ca = getenv("SSL_CERT_FILE");
    if (ca && *ca && !(h->cainfo = strdup(ca))) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto fail; }
    const char *cp = getenv("SSL_CERT_DIR");
    if (cp && *cp && !(h->capath = strdup(cp))) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto fail; }
    h->share = curl_share_init();
    if (h->share) {
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    *out = h;
    return 0;
fail:
    iw_hub_free(h);
    return rc;
}

void iw_hub_free(iw_hub *h)
{
    if (!h)
        return;
    if (h->share)
        curl_share_cleanup(h->share);
    free(h->endpoint);
    if (h->token) { memset(h->token, 0, strlen(h->token)); free(h->token); }
    if (h->auth_header) { memset(h->auth_header, 0, strlen(h->auth_header)); free(h->auth_header); }
    free(h->cainfo);
    free(h->capath);
    free(h);
}

const char *iw_hub_endpoint(const iw_hub *h) { return h->endpoint; }
bool iw_hub_is_offline(const iw_hub *h) { return h->offline; }
bool iw_hub_has_token(const iw_hub *h) { return h->token != NULL; }
long iw_hub_timeout(const iw_hub *h) { return h->timeout_s; }

void iw_hub_setup_easy(const iw_hub *hub, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_USERAGENT, IW_USER_AGENT);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, hub->timeout_s);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, hub->timeout_s);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (hub->cainfo)
        curl_easy_setopt(e, CURLOPT_CAINFO, hub->cainfo);
    if (hub->capath)
        curl_easy_setopt(e, CURLOPT_CAPATH, hub->capath);
    if (hub->share)
        curl_easy_setopt(e, CURLOPT_SHARE, hub->share);
}

static int url_origin(const char *url, char **scheme, char **host, char **port)
{
    *scheme = *host = *port = NULL;
    CURLU *u = curl_url();
    if (!u)
        return -1;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, scheme, CURLU_DEFAULT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        rc = 0;
    curl_url_cleanup(u);
    return rc;
}

char *iw_hub_origin_key(const char *url)
{
    char *s, *h, *p, *out = NULL;
    if (url_origin(url, &s, &h, &p) == 0) {
        for (char *c = s; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        for (char *c = h; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (asprintf(&out, "%s://%s:%s", s, h, p) < 0)
            out = NULL;
    }
    curl_free(s); curl_free(h); curl_free(p);
    return out;
}

bool iw_hub_same_origin(const iw_hub *hub, const char *url)
{
    char *s1, *h1, *p1, *s2, *h2, *p2;
    bool same = false;
    int a = url_origin(hub->endpoint, &s1, &h1, &p1);
    int b = url_origin(url, &s2, &h2, &p2);
    if (a == 0 && b == 0)
        same = !strcasecmp(s1, s2) && !strcasecmp(h1, h2) && !strcmp(p1, p2);
    curl_free(s1); curl_free(h1); curl_free(p1);
    curl_free(s2); curl_free(h2); curl_free(p2);
    return same;
}

struct curl_slist *iw_hub_headers(const iw_hub *hub, const char *url, const char *x1, const char *x2)
{
    struct curl_slist *l = NULL, *t;
    if (hub->auth_header && iw_hub_same_origin(hub, url)) {
        if (!(t = curl_slist_append(l, hub->auth_header))) goto fail;
        l = t;
    }
    if (x1) { if (!(t = curl_slist_append(l, x1))) goto fail; l = t; }
    if (x2) { if (!(t = curl_slist_append(l, x2))) goto fail; l = t; }
    if (!(t = curl_slist_append(l, "Expect:"))) goto fail;
    return t;
fail:
    curl_slist_free_all(l);
    return NULL;
}

char *iw_hub_resolve_location(const char *base, const char *location)
{
    CURLU *u = curl_url();
    char *res = NULL, *out = NULL;
    if (!u)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &res, 0) == CURLUE_OK &&
        (!strncmp(res, "http://", 7) || !strncmp(res, "https://", 8)))
        out = strdup(res);
    curl_free(res);
    curl_url_cleanup(u);
    return out;
}

/* ---- response headers ---- */

void iw_hdrs_reset(iw_hdrs *h)
{
    free(h->location); free(h->x_error_code); free(h->x_error_message); free(h->link);
    free(h->etag); free(h->linked_etag); free(h->linked_size); free(h->repo_commit);
    free(h->content_range);
    memset(h, 0, sizeof *h);
    h->retry_after = -1;
}

static void set_hdr(char **slot, const char *v, size_t n)
{
    free(*slot);
    *slot = strndup(v, n > 8192 ? 8192 : n);
}

size_t iw_hdrs_cb(char *p, size_t sz, size_t n, void *ud)
{
    iw_hdrs *h = ud;
    size_t len = sz * n;
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
        /* a new response: forget the previous one's headers */
        long st = 0;
        const char *sp = memchr(p, ' ', len);
        if (sp && (size_t)(sp - p) + 4 <= len)
            st = strtol(sp + 1, NULL, 10);
        iw_hdrs_reset(h);
        h->status = st;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t kl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = len - kl - 1;
    while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
#define IS(name) (kl == sizeof(name) - 1 && !strncasecmp(p, name, kl))
    if (IS("location")) set_hdr(&h->location, v, vl);
    else if (IS("x-error-code")) set_hdr(&h->x_error_code, v, vl);
    else if (IS("x-error-message")) set_hdr(&h->x_error_message, v, vl);
    else if (IS("link")) set_hdr(&h->link, v, vl);
    else if (IS("etag")) set_hdr(&h->etag, v, vl);
    else if (IS("x-linked-etag")) set_hdr(&h->linked_etag, v, vl);
    else if (IS("x-linked-size")) set_hdr(&h->linked_size, v, vl);
    else if (IS("x-repo-commit")) set_hdr(&h->repo_commit, v, vl);
    else if (IS("content-range")) set_hdr(&h->content_range, v, vl);
    else if (IS("retry-after")) {
        char tmp[32];
        size_t m = vl < sizeof tmp - 1 ? vl : sizeof tmp - 1;
        memcpy(tmp, v, m); tmp[m] = 0;
        char *end;
        long s = strtol(tmp, &end, 10);
        if (end != tmp && *end == 0 && s >= 0)
            h->retry_after = s;
    }
#undef IS
    return len;
}

const char *iw_hdrs_etag(const iw_hdrs *h, char *buf, size_t bufsz)
{
    const char *e = h->linked_etag ? h->linked_etag : h->etag;
    if (!e)
        return NULL;
    if (!strncmp(e, "W/", 2))
        e += 2;
    while (*e == '"') e++;
    size_t n = strlen(e);
    while (n && e[n - 1] == '"') n--;
    if (n >= bufsz)
        return NULL;
    memcpy(buf, e, n);
    buf[n] = 0;
    return buf;
}

int iw_parse_content_range(const char *v, uint64_t *a, uint64_t *b, uint64_t *total)
{
    unsigned long long x, y, t;
    char c;
    if (!v || sscanf(v, "bytes %llu-%llu/%llu%c", &x, &y, &t, &c) != 3 || y < x || y >= t)
        return -1;
    *a = x; *b = y; *total = t;
    return 0;
}

/* ---- URL building ---- */

static int pct_append(iw_buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            if (iw_buf_putc(b, (char)c) < 0) return IW_ENOMEM;
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            if (iw_buf_append(b, e, 3) < 0) return IW_ENOMEM;
        }
    }
    return 0;
}

int iw_hub_check_repo_id(const char *repo)
{
    if (!repo || !*repo)
        return iw_error_set(IW_EINVAL, "empty repo id");
    size_t n = strlen(repo), slashes = 0, part = 0;
    if (n > 200)
        return iw_error_set(IW_EINVAL, "repo id '%.40s...' is too long", repo);
    for (size_t i = 0; i < n; i++) {
        char c = repo[i];
        if (c == '/') {
            if (++slashes > 1 || part == 0)
                return iw_error_set(IW_EINVAL, "repo id '%s' must look like org/name", repo);
            part = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.')
            return iw_error_set(IW_EINVAL, "repo id '%s' contains '%c'", repo, c);
        if (++part > 96)
            return iw_error_set(IW_EINVAL, "repo id '%s' has a part longer than 96 characters", repo);
    }
    if (part == 0 || strstr(repo, "..") || repo[0] == '.' || strstr(repo, "/."))
        return iw_error_set(IW_EINVAL, "repo id '%s' is not valid", repo);
    return 0;
}

int iw_hub_check_revision(const char *rev)
{
    if (!rev || !*rev)
        return iw_error_set(IW_EINVAL, "empty revision");
    size_t n = strlen(rev);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)rev[i] < 0x20 || rev[i] == 0x7f)
            return iw_error_set(IW_EUNSAFE, "revision refused: control character 0x%02x at byte %zu",
                                (unsigned char)rev[i], i);
    /* it names a file under refs/ in the HF cache: a safe relative path */
    if (iw_path_check_relative(rev, n) < 0)
        return iw_error_prefix("revision refused");
    return 0;
}

int iw_hub_file_url(const iw_hub *hub, const char *repo, const char *rev, const char *path, char **out)
{
    iw_buf b = IW_BUF_INIT(IW_BUF_UNCAPPED);
    int rc = 0;
    if (iw_buf_printf(&b, "%s/%s/resolve/", hub->endpoint, repo) < 0 ||
        pct_append(&b, rev ? rev : "main", false) < 0 || iw_buf_putc(&b, '/') < 0 ||
        pct_append(&b, path, true) < 0)
        rc = iw_error_set(IW_ENOMEM, "out of memory");
    if (rc < 0) { iw_buf_free(&b); *out = NULL; return rc; }
    *out = iw_buf_detach(&b);
    return 0;
}

/* ---- errors ---- */

int iw_hub_http_error(const iw_hub *hub, long status, const char *xec, const char *what, const char *url)
{
    if (xec && !strcmp(xec, "GatedRepo"))
        return iw_error_set(IW_EAUTH, "%s is gated: %s", what,
                            hub->token ? "the token (HF_TOKEN) was refused; request access on the Hub page"
                                       : "accept its terms on the Hub and set HF_TOKEN");
    if (xec && !strcmp(xec, "RepoNotFound"))
        return iw_error_set(IW_ENOTFOUND, "%s: repository not found%s", what,
                            hub->token ? "" : " (if it is private, set HF_TOKEN)");
    if (xec && !strcmp(xec, "RevisionNotFound"))
        return iw_error_set(IW_ENOTFOUND, "%s: revision not found", what);
    if (xec && !strcmp(xec, "EntryNotFound"))
        return iw_error_set(IW_ENOTFOUND, "%s: file not found in the repository", what);
    if (status == 401 || status == 403)
        return iw_error_set(IW_EAUTH, "%s: access refused (HTTP %ld); %s", what, status,
                            hub->token ? "check that HF_TOKEN is valid and has access" : "set HF_TOKEN");
    if (status == 404)
        return iw_error_set(IW_ENOTFOUND, "%s: not found (HTTP 404 from %s)", what, url);
    return iw_error_set(IW_EHTTP, "%s: HTTP %ld from %s", what, status, url);
}

static bool retryable_status(long st)
{
    return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

/* ---- blocking request with manual redirects and retries ---- */

typedef struct hub_resp {
    iw_hdrs hdrs;
    iw_buf  body;
    char   *final_url;
    CURLcode cc;
} hub_resp;

static void hub_resp_free(hub_resp *r)
{
    iw_hdrs_reset(&r->hdrs);
    iw_buf_free(&r->body);
    free(r->final_url);
    memset(r, 0, sizeof *r);
}

/* Where a body goes; stops the transfer at the first byte of a 200 to a
 * Range request (the whole file may follow) and on overflow. */
typedef struct body_sink {
    iw_buf        *b;
    const iw_hdrs *h;
    bool           range, range_ignored, overflow;
} body_sink;

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
    body_sink *k = ud;
    if (k->range && k->h->status == 200) {
        k->range_ignored = true;
        return 0;
    }
    if (iw_buf_append(k->b, p, sz * n) < 0) {
        k->overflow = true;
        return 0;
    }
    return sz * n;
}

int iw_hub_redirect_refused(const char *what, const char *from, const char *location)
{
    size_t sl = strcspn(location, ":/?#");
    if (location[sl] == ':' && sl > 0 && sl < 16 && strncasecmp(location, "http", sl) &&
        strncasecmp(location, "https", sl))
        return iw_error_set(IW_EUNSAFE, "%s: %s redirected to a %.*s: URL, which is refused (only http and https "
                            "are followed)", what, from, (int)sl, location);
    return iw_error_set(IW_ENET, "%s: bad redirect Location from %s", what, from);
}

/* One logical request: follows up to IW_HUB_MAX_REDIRECTS redirects itself
 * (Authorization only on the hub origin), retries network errors and
 * retryable statuses 3 times with backoff.  r->hdrs.status is the final status. */
static int hub_request(iw_hub *hub, const char *method, const char *url, const char *post,
                       const char *range, size_t max_body, const char *what, hub_resp *r)
{
    memset(r, 0, sizeof *r);
    r->hdrs.retry_after = -1;
    if (hub->offline)
        return iw_error_set(IW_EOFFLINE, "%s: HF_HUB_OFFLINE is set, not contacting %s", what, hub->endpoint);
    char *cur = strdup(url);
    if (!cur)
        return iw_error_set(IW_ENOMEM, "out of memory");
    CURL *e = curl_easy_init();
    if (!e) { free(cur); return iw_error_set(IW_ENOMEM, "curl_easy_init failed"); }
    int rc = 0, redirects = 0, attempt = 0;
    char rbuf[64];
    if (range)
        snprintf(rbuf, sizeof rbuf, "Range: bytes=%s", range);
    for (;;) {
        curl_easy_reset(e);
        iw_hub_setup_easy(hub, e);
        iw_hdrs_reset(&r->hdrs);
        iw_buf_free(&r->body);
        iw_buf_init(&r->body, max_body);
        struct curl_slist *hl = iw_hub_headers(hub, cur, range ? rbuf : NULL,
                                               post ? "Content-Type: application/json" : NULL);
        if (!hl) { rc = iw_error_set(IW_ENOMEM, "out of memory"); break; }
        curl_easy_setopt(e, CURLOPT_URL, cur);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, iw_hdrs_cb);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &r->hdrs);
        body_sink sink = { &r->body, &r->hdrs, range != NULL, false, false };
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, hub->timeout_s * 6);
        if (!strcmp(method, "HEAD"))
            curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        if (post) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
        }
        r->cc = curl_easy_perform(e);
        curl_slist_free_all(hl);
        long st = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
        r->hdrs.status = st;
        if (sink.overflow) {
            rc = iw_error_set(IW_ELIMIT, "%s: answer from %s is larger than %zu bytes", what, cur, max_body);
            break;
        }
        if (sink.range_ignored) {   /* no retry: it would send the whole file again */
            rc = iw_error_set(IW_EUNSUPPORTED, "%s: %s ignored the Range request for bytes %s (answered 200 with "
                              "the whole file); reading headers remotely needs Range support", what, cur, range);
            break;
        }
        bool retry = false;
        long wait_ms = hub->retry_base_ms << (attempt < 3 ? attempt : 3);
        if (r->cc != CURLE_OK) {
            retry = true;
        } else if (retryable_status(st)) {
            retry = true;
            if (r->hdrs.retry_after >= 0) {
                long ra = r->hdrs.retry_after > IW_HUB_RETRY_AFTER_CAP ? IW_HUB_RETRY_AFTER_CAP : r->hdrs.retry_after;
                wait_ms = ra * 1000;
            }
        } else if (st >= 300 && st < 400 && st != 304 && r->hdrs.location) {
            if (++redirects > IW_HUB_MAX_REDIRECTS) {
                rc = iw_error_set(IW_ENET, "%s: more than %d redirects from %s", what, IW_HUB_MAX_REDIRECTS, url);
                break;
            }
            char *next = iw_hub_resolve_location(cur, r->hdrs.location);
            if (!next) {
                rc = iw_hub_redirect_refused(what, cur, r->hdrs.location);
                break;
            }
            free(cur);
            cur = next;
            continue;
        }
        if (retry && attempt < 3) {
            attempt++;
            usleep((useconds_t)wait_ms * 1000);
            continue;
        }
        if (r->cc != CURLE_OK)
            rc = iw_error_set(IW_ENET, "%s: %s (%s)", what, curl_easy_strerror(r->cc), cur);
        break;
    }
    curl_easy_cleanup(e);
    r->final_url = cur;
    if (rc < 0)
        hub_resp_free(r);
    return rc;
}

/* GET /api/models/{repo}/revision/{rev} and parse the JSON object. */
static int model_info(iw_hub *hub, const char *repo, const char *rev, cJSON **out, char *what, size_t whatn)
{
    *out = NULL;
    int rc = iw_hub_check_repo_id(repo);
    if (rc < 0)
        return rc;
    if (!rev) rev = "main";
    iw_buf url = IW_BUF_INIT(IW_BUF_UNCAPPED);
    hub_resp r;
    snprintf(what, whatn, "repo %s revision %s", repo, rev);
    if (iw_buf_printf(&url, "%s/api/models/%s/revision/", hub->endpoint, repo) < 0 ||
        pct_append(&url, rev, false) < 0) {
        iw_buf_free(&url);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    rc = hub_request(hub, "GET", url.data, NULL, NULL, IW_HUB_MAX_API_BYTES, what, &r);
    if (rc < 0)
        goto done;
    if (r.hdrs.status != 200) {
        rc = iw_hub_http_error(hub, r.hdrs.status, r.hdrs.x_error_code, what, url.data);
        hub_resp_free(&r);
        goto done;
    }
    rc = iw_json_parse(r.body.data ? r.body.data : "", r.body.len, url.data, out, NULL);
    if (rc == 0 && !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        rc = iw_error_set(IW_EFORMAT, "%s: answer from %s is not a JSON object", what, url.data);
    }
    hub_resp_free(&r);
done:
    iw_buf_free(&url);
    return rc;
}

int iw_hub_resolve_revision(iw_hub *hub, const char *repo, const char *rev, char commit[41])
{
    char what[512];
    cJSON *j = NULL;
    int rc = rev ? iw_hub_check_revision(rev) : 0;
    if (rc == 0)
        rc = model_info(hub, repo, rev, &j, what, sizeof what);
    if (rc < 0)
        return rc;
    const char *sha = iw_json_get_str(j, "sha");
    if (!iw_is_hex(sha, 40))
        rc = iw_error_set(IW_EFORMAT, "%s: the model info has no valid \"sha\"", what);
    else
        memcpy(commit, sha, 41);
    cJSON_Delete(j);
    return rc;
}

int iw_hub_card_base_models(iw_hub *hub, const char *repo, const char *rev, iw_strlist *out)
{
    char what[512];
    cJSON *j = NULL;
    int rc = model_info(hub, repo, rev, &j, what, sizeof what);
    if (rc < 0)
        return rc;
    const cJSON *card = cJSON_GetObjectItemCaseSensitive(j, "cardData");
    const cJSON *bm = cJSON_IsObject(card) ? cJSON_GetObjectItemCaseSensitive(card, "base_model") : NULL;
    const cJSON *it;
    size_t seen = 0;
    if (cJSON_IsString(bm)) {
        if (iw_hub_check_repo_id(bm->valuestring) == 0 && strchr(bm->valuestring, '/'))
            rc = iw_strlist_push_unique(out, bm->valuestring);
    } else if (cJSON_IsArray(bm)) {
        cJSON_ArrayForEach(it, bm) {
            if (++seen > IW_HUB_MAX_BASE_MODELS || rc < 0)
                break;
            if (cJSON_IsString(it) && iw_hub_check_repo_id(it->valuestring) == 0 && strchr(it->valuestring, '/'))
                rc = iw_strlist_push_unique(out, it->valuestring);
        }
    }
    iw_error_clear();   /* ids that failed the check are skipped, not errors */
    if (rc < 0)
        rc = iw_error_set(IW_ENOMEM, "out of memory");
    cJSON_Delete(j);
    return rc;
}

/* ---- tree listing ---- */

static int listing_push(iw_hub_listing *l, iw_hub_file *f)
{
    if (l->n >= IW_HUB_MAX_FILES)
        return iw_error_set(IW_ELIMIT, "repo listing has more than %d files", IW_HUB_MAX_FILES);
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        iw_hub_file *nf = realloc(l->files, nc * sizeof *nf);
        if (!nf)
            return iw_error_set(IW_ENOMEM, "out of memory");
        l->files = nf;
        l->cap = nc;
    }
    l->files[l->n++] = *f;
    return 0;
}

/* Why a listed path may not be written into a download folder, or NULL: a
 * .git component (a served .git/config can run commands through
 * core.fsmonitor when the user runs git there; any case, for
 * case-insensitive filesystems) or the tool's state folder at the root. */
static const char *reserved_path(const char *path)
{
    size_t first = strcspn(path, "/");
    if (first == strlen(IW_DL_STATE_DIR) && !strncmp(path, IW_DL_STATE_DIR, first))
        return "inside the tool's state folder " IW_DL_STATE_DIR "/";
    for (const char *c = path; *c; ) {
        size_t n = strcspn(c, "/");
        if (n == 4 && !strncasecmp(c, ".git", 4))
            return "inside a .git folder";
        c += n + (c[n] == '/');
    }
    return NULL;
}

int iw_hub_parse_tree_page(const char *json, size_t len, const char *what, iw_hub_listing *out)
{
    cJSON *j = NULL;
    /* cJSON would cut a name at an escaped NUL, silently turning it into
     * another name: refuse the page instead. */
    if (iw_json_has_nul_escape(json, len))
        return iw_error_set(IW_EUNSAFE, "%s: a file name contains a NUL character", what);
    int rc = iw_json_parse(json, len, what, &j, NULL);
    if (rc < 0)
        return rc;
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return iw_error_set(IW_EFORMAT, "%s: tree listing is not a JSON array", what);
    }
    cJSON *it;
    size_t idx = 0;
    cJSON_ArrayForEach(it, j) {
        const char *type = iw_json_get_str(it, "type");
        cJSON *pj = cJSON_GetObjectItemCaseSensitive(it, "path");
        if (!type || !cJSON_IsString(pj)) {
            rc = iw_error_set(IW_EFORMAT, "%s: entry %zu lacks \"type\" or \"path\"", what, idx);
            break;
        }
        const char *path = pj->valuestring;
        if ((rc = iw_path_check_relative(path, strlen(path))) < 0) {
            iw_error_prefix("%s: entry %zu refused", what, idx);
            break;
        }
        const char *why = reserved_path(path);
        if (why) {
            rc = iw_error_set(IW_EUNSAFE, "%s: entry %zu refused: unsafe path '%s': %s", what, idx, path, why);
            break;
        }
        if (strcmp(type, "file") != 0) { idx++; continue; }
        iw_hub_file f;
        memset(&f, 0, sizeof f);
        int64_t size;
        const char *oid = iw_json_get_str(it, "oid");
        if (!iw_json_get_i64(it, "size", &size) || size < 0 || !iw_is_hex(oid, 40)) {
            rc = iw_error_set(IW_EFORMAT, "%s: file '%s' lacks a valid size or oid", what, path);
            break;
        }
        f.size = (uint64_t)size;
        memcpy(f.oid, oid, 41);
        cJSON *lfs = cJSON_GetObjectItemCaseSensitive(it, "lfs");
        if (cJSON_IsObject(lfs)) {
            const char *lo = iw_json_get_str(lfs, "oid");
            int64_t ls;
            if (!iw_is_hex(lo, 64)) {
                rc = iw_error_set(IW_EFORMAT, "%s: file '%s' has an invalid lfs.oid", what, path);
                break;
            }
            if (iw_json_get_i64(lfs, "size", &ls) && ls != size) {
                rc = iw_error_set(IW_EFORMAT, "%s: file '%s' size %lld differs from lfs.size %lld", what,
                                  path, (long long)size, (long long)ls);
                break;
            }
            memcpy(f.sha256, lo, 65);
            f.lfs = true;
        }
        for (size_t k = 0; k < out->n; k++)
            if (!strcmp(out->files[k].path, path)) {
                rc = iw_error_set(IW_EFORMAT, "%s: file '%s' listed twice", what, path);
                goto out;
            }
        if (!(f.path = strdup(path))) { rc = iw_error_set(IW_ENOMEM, "out of memory"); break; }
        if ((rc = listing_push(out, &f)) < 0) { free(f.path); break; }
        idx++;
    }
out:
    cJSON_Delete(j);
    return rc;
}

void iw_hub_listing_free(iw_hub_listing *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->files[i].path);
    free(l->files);
    memset(l, 0, sizeof *l);
}

char *iw_hub_link_next(const char *link)
{
    if (!link)
        return NULL;
    const char *p = link;
    while ((p = strchr(p, '<')) != NULL) {
        const char *e = strchr(p, '>');
        if (!e)
            return NULL;
        const char *params = e + 1;
        const char *next = strchr(params, '<');
        size_t plen = next ? (size_t)(next - params) : strlen(params);
        char tmp[256];
        size_t m = plen < sizeof tmp - 1 ? plen : sizeof tmp - 1;
        memcpy(tmp, params, m);
        tmp[m] = 0;
        if (strstr(tmp, "rel=\"next\"") || strstr(tmp, "rel=next"))
            return strndup(p + 1, (size_t)(e - p - 1));
        p = e + 1;
    }
    return NULL;
}

int iw_hub_list_files(iw_hub *hub, const char *repo, const char *commit, iw_hub_listing *out)
{
    memset(out, 0, sizeof *out);
    int rc = iw_hub_check_repo_id(repo);
    if (rc < 0)
        return rc;
    iw_buf first = IW_BUF_INIT(IW_BUF_UNCAPPED);
    if (iw_buf_printf(&first, "%s/api/models/%s/tree/", hub->endpoint, repo) < 0 ||
        pct_append(&first, commit, false) < 0 || iw_buf_puts(&first, "?recursive=true&expand=false") < 0) {
        iw_buf_free(&first);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    char *url = iw_buf_detach(&first);
    char what[512];
    snprintf(what, sizeof what, "listing %s@%.12s", repo, commit);
    for (int page = 0; url; page++) {
        if (page >= IW_HUB_MAX_PAGES) {
            rc = iw_error_set(IW_ELIMIT, "%s: more than %d pages", what, IW_HUB_MAX_PAGES);
            break;
        }
        if (!iw_hub_same_origin(hub, url)) {
            rc = iw_error_set(IW_EUNSAFE, "%s: next page %s is not on %s", what, url, hub->endpoint);
            break;
        }
        hub_resp r;
        if ((rc = hub_request(hub, "GET", url, NULL, NULL, IW_HUB_MAX_API_BYTES, what, &r)) < 0)
            break;
        if (r.hdrs.status != 200) {
            rc = iw_hub_http_error(hub, r.hdrs.status, r.hdrs.x_error_code, what, url);
            hub_resp_free(&r);
            break;
        }
        rc = iw_hub_parse_tree_page(r.body.data ? r.body.data : "", r.body.len, url, out);
        char *next = rc == 0 ? iw_hub_link_next(r.hdrs.link) : NULL;
        hub_resp_free(&r);
        free(url);
        url = next;
        if (rc < 0)
            break;
    }
    free(url);
    if (rc < 0)
        iw_hub_listing_free(out);
    return rc;
}

/* ---- remote source ---- */

#define SRC_CACHE (64u << 10)

typedef struct remote_src {
    iw_hub  *hub;
    char    *url;          /* resolved location (after redirects) */
    uint8_t *cache;
    uint64_t cache_off;
    size_t   cache_len;
    uint64_t transferred;
    uint64_t size;
    char     what[512];
} remote_src;

static int remote_fetch(remote_src *s, uint64_t off, size_t len, uint8_t *dst, size_t *got)
{
    char range[64];
    snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)off, (unsigned long long)(off + len - 1));
    hub_resp r;
    int rc = hub_request(s->hub, "GET", s->url, NULL, range, len + 1, s->what, &r);
    if (rc < 0)
        return rc;
    if (r.hdrs.status == 416) {
        *got = 0;
        hub_resp_free(&r);
        return 0;
    }
    if (r.hdrs.status != 206 && r.hdrs.status != 200) {
        rc = iw_hub_http_error(s->hub, r.hdrs.status, r.hdrs.x_error_code, s->what, s->url);
        hub_resp_free(&r);
        return rc;
    }
    uint64_t a, b, t;
    if (r.hdrs.status == 206) {
        if (iw_parse_content_range(r.hdrs.content_range, &a, &b, &t) < 0 || a != off ||
            r.body.len != b - a + 1 || r.body.len > len) {
            hub_resp_free(&r);
            return iw_error_set(IW_EFORMAT, "%s: bad Content-Range answer for bytes %s", s->what, range);
        }
        if (s->size == IW_SIZE_UNKNOWN)
            s->size = t;
    } else {
        /* server ignored Range: it sent from 0 (capped by max_body) */
        hub_resp_free(&r);
        return iw_error_set(IW_EUNSUPPORTED, "%s: server ignored the Range request", s->what);
    }
    s->transferred += r.body.len;
    memcpy(dst, r.body.data, r.body.len);
    if (r.final_url && strcmp(r.final_url, s->url)) {
        /* remember the CDN location so later reads skip the redirect */
        free(s->url);
        s->url = r.final_url;
        r.final_url = NULL;
    }
    *got = r.body.len;
    hub_resp_free(&r);
    return 0;
}

static int remote_read_at(void *ctx, uint64_t off, void *dst, size_t len, size_t *got)
{
    remote_src *s = ctx;
    *got = 0;
    if (len == 0)
        return 0;
    if (s->size != IW_SIZE_UNKNOWN) {
        if (off >= s->size)
            return 0;
        if (len > s->size - off)
            len = (size_t)(s->size - off);
    }
    if (s->cache_len && off >= s->cache_off && off + len <= s->cache_off + s->cache_len) {
        memcpy(dst, s->cache + (off - s->cache_off), len);
        *got = len;
        return 0;
    }
    if (len >= SRC_CACHE)
        return remote_fetch(s, off, len, dst, got);
    size_t want = SRC_CACHE;
    if (s->size != IW_SIZE_UNKNOWN && s->size - off < want)
        want = (size_t)(s->size - off);
    size_t g = 0;
    s->cache_len = 0;
    int rc = remote_fetch(s, off, want, s->cache, &g);
    if (rc < 0)
        return rc;
    s->cache_off = off;
    s->cache_len = g;
    size_t n = g < len ? g : len;
    memcpy(dst, s->cache, n);
    *got = n;
    return 0;
}

static void remote_close(void *ctx)
{
    remote_src *s = ctx;
    if (!s)
        return;
    free(s->url);
    free(s->cache);
    free(s);
}

uint64_t iw_hub_source_transferred(const iw_source *src)
{
    return src && src->close == remote_close && src->ctx ? ((remote_src *)src->ctx)->transferred : 0;
}

int iw_hub_open_source(iw_source *out, iw_hub *hub, const char *repo, const char *rev, const char *path)
{
    memset(out, 0, sizeof *out);
    int rc = iw_hub_check_repo_id(repo);
    if (rc < 0)
        return rc;
    if ((rc = iw_path_check_relative(path, strlen(path))) < 0)
        return rc;
    remote_src *s = calloc(1, sizeof *s);
    if (!s || !(s->cache = malloc(SRC_CACHE))) {
        free(s);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    s->hub = hub;
    s->size = IW_SIZE_UNKNOWN;
    snprintf(s->what, sizeof s->what, "%s/%s", repo, path);
    if ((rc = iw_hub_file_url(hub, repo, rev, path, &s->url)) < 0)
        goto fail;
    /* first read fills the cache and learns the size from Content-Range */
    size_t g = 0;
    if ((rc = remote_fetch(s, 0, SRC_CACHE, s->cache, &g)) < 0)
        goto fail;
    s->cache_off = 0;
    s->cache_len = g;
    if (s->size == IW_SIZE_UNKNOWN)
        s->size = g;
    out->read_at = remote_read_at;
    out->ctx = s;
    out->size = s->size;
    out->close = remote_close;
    snprintf(out->name, sizeof out->name, "%s", s->what);
    return 0;
fail:
    remote_close(s);
    return rc;
}
