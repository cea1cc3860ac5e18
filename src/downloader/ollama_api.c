/* ollama_api.c - a running Ollama server (POST /api/show) as a file
 * provider (include/iwdl/ollama_api.h).
 *
 * The fallback when the model's store is not readable (another machine, a
 * container, another user): the server's answer holds the model's GGUF
 * key/value pairs, which iw_inspect maps with iw_ollama_show_to_arch
 * (src/extract/ollama_info.c).  This file only fetches the answer; it does
 * not link the extractors.  See docs/formats/ollama.md. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/ollama_api.h"

#define OLLAMA_CONNECT_TIMEOUT_S 5L
#define OLLAMA_STALL_TIMEOUT_S   60L
#define OLLAMA_USER_AGENT "imageworks-download/0.1 (libcurl)"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Same rules as Ollama's envconfig.Host(): no scheme -> http with port
 * 11434; an explicit http:// or https:// without a port -> 80 / 443; an
 * empty host -> 127.0.0.1; a trailing path is kept. */
const char *iw_ollama_env_host(void)
{
    const char *h = getenv("OLLAMA_HOST");
    return h && *h ? h : NULL;
}

int iw_ollama_host_url(const char *host, char **out)
{
    *out = NULL;
    if (!host)
        host = iw_ollama_env_host();
    if (!host || !*host)
        host = IW_OLLAMA_DEFAULT_HOST;
    while (isspace((unsigned char)*host))
        host++;
    size_t len = strlen(host);
    while (len && isspace((unsigned char)host[len - 1]))
        len--;
    if (len > 2048)
        return iw_error_set(IW_EINVAL, "OLLAMA_HOST is longer than 2048 characters");
    char scheme[8] = "http";
    const char *defport = "11434";
    const char *hp = host;
    const char *sep = strstr(host, "://");
    if (sep && (size_t)(sep - host) < len) {
        size_t sl = (size_t)(sep - host);
        if (sl == 4 && strncasecmp(host, "http", 4) == 0) {
            defport = "80";
        } else if (sl == 5 && strncasecmp(host, "https", 5) == 0) {
            strcpy(scheme, "https");
            defport = "443";
        } else {
            return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': scheme must be http or https", (int)len, host);
        }
        hp = sep + 3;
    }
    size_t hl = len - (size_t)(hp - host);
    const char *slash = memchr(hp, '/', hl);
    size_t authority = slash ? (size_t)(slash - hp) : hl;
    const char *path = slash ? slash : "";
    size_t pathlen = slash ? hl - authority : 0;
    while (pathlen && path[pathlen - 1] == '/')
        pathlen--;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)hp[i];
        if (c <= 0x20 || c >= 0x7f || c == '@' || c == '\\' || c == '?' || c == '#')
            return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': character 0x%02x not allowed", (int)len, host, c);
    }
    /* host[:port], IPv6 in brackets */
    char h[300], port[8];
    const char *colon = NULL;
    if (authority && hp[0] == '[') {
        const char *rb = memchr(hp, ']', authority);
        if (!rb)
            return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': unclosed '['", (int)len, host);
        if ((size_t)(rb + 1 - hp) < authority)
            colon = rb + 1;
        if (colon && *colon != ':')
            return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': junk after ']'", (int)len, host);
    } else {
        colon = memchr(hp, ':', authority);
    }
    size_t hn = colon ? (size_t)(colon - hp) : authority;
    if (hn >= sizeof h)
        return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': host name too long", (int)len, host);
    if (hn == 0)
        strcpy(h, "127.0.0.1");
    else {
        memcpy(h, hp, hn);
        h[hn] = 0;
    }
    if (colon) {
        size_t pl = authority - (size_t)(colon + 1 - hp);
        if (pl == 0 || pl > 5)
            return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': bad port", (int)len, host);
        long pv = 0;
        for (size_t i = 0; i < pl; i++) {
            if (!isdigit((unsigned char)colon[1 + i]))
                return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': bad port", (int)len, host);
            pv = pv * 10 + (colon[1 + i] - '0');
        }
        if (pv < 1 || pv > 65535)
            return iw_error_set(IW_EINVAL, "OLLAMA_HOST '%.*s': port out of range", (int)len, host);
        snprintf(port, sizeof port, "%ld", pv);
    } else {
        snprintf(port, sizeof port, "%s", defport);
    }
    if (asprintf(out, "%s://%s:%s%.*s", scheme, h, port, (int)pathlen, path) < 0) {
        *out = NULL;
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    return 0;
}

typedef struct sink { iw_buf b; bool over; } sink;

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = sz * n;
    if (iw_buf_append(&s->b, p, len) < 0) {
        s->over = true;
        return 0;   /* aborts the transfer */
    }
    return len;
}

/* The server's {"error": "..."} message, printable ASCII only, at most 200 chars. */
static void server_message(const iw_buf *b, char *out, size_t outsz)
{
    out[0] = 0;
    cJSON *doc = b->data ? cJSON_ParseWithLength(b->data, b->len) : NULL;
    const char *m = doc ? iw_json_get_str(doc, "error") : NULL;
    if (m) {
        size_t o = 0;
        for (const char *c = m; *c && o + 1 < outsz && o < 200; c++)
            out[o++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
        out[o] = 0;
    }
    cJSON_Delete(doc);
}

/* POST <base>/api/show for fmt; the answer in *body, the URL in *url. */
static int show(const char *host, const char *fmt, char **url_out, iw_buf *body)
{
    char *base = NULL, *url = NULL, *post = NULL;
    cJSON *req = NULL;
    CURL *e = NULL;
    struct curl_slist *hdrs = NULL;
    sink s = { IW_BUF_INIT(IW_OLLAMA_MAX_SHOW), false };
    char errbuf[CURL_ERROR_SIZE] = "";
    int rc;

    *url_out = NULL;
    if ((rc = iw_ollama_host_url(host, &base)) < 0)
        goto cleanup;
    if (asprintf(&url, "%s/api/show", base) < 0) {
        url = NULL;
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (!(req = cJSON_CreateObject()) || !cJSON_AddStringToObject(req, "model", fmt) ||
        !cJSON_AddTrueToObject(req, "verbose") || !(post = cJSON_PrintUnformatted(req))) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }

    pthread_once(&g_once, init_once);
    if (!(e = curl_easy_init())) {
        rc = iw_error_set(IW_ENOMEM, "curl_easy_init failed");
        goto cleanup;
    }
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = hdrs ? curl_slist_append(hdrs, "Accept: application/json") : NULL;
    if (!hdrs) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, OLLAMA_USER_AGENT);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, OLLAMA_CONNECT_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, OLLAMA_STALL_TIMEOUT_S);
    /* a local server is never reached through a proxy (Go's client, which
     * Ollama's own CLI uses, skips proxies for loopback too) */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)IW_OLLAMA_MAX_SHOW);

    CURLcode cc = curl_easy_perform(e);
    if (s.over || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = iw_error_set(IW_ELIMIT, "%s: answer for %s exceeds the %u byte cap", url, fmt, IW_OLLAMA_MAX_SHOW);
        goto cleanup;
    }
    if (cc != CURLE_OK) {
        rc = iw_error_set(IW_ENET, "cannot reach the Ollama server at %s (%s); start 'ollama serve' or set OLLAMA_HOST",
                          base, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto cleanup;
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        char msg[256];
        server_message(&s.b, msg, sizeof msg);
        if (status == 404)
            rc = iw_error_set(IW_ENOTFOUND, "Ollama server %s has no model %s (HTTP 404%s%s); run 'ollama pull %s'",
                              base, fmt, msg[0] ? ": " : "", msg, fmt);
        else
            rc = iw_error_set(IW_EHTTP, "%s: HTTP %ld for %s%s%s", url, status, fmt, msg[0] ? ": " : "", msg);
        goto cleanup;
    }
    *body = s.b;
    s.b.data = NULL;
    *url_out = url;
    url = NULL;
    rc = 0;

cleanup:
    if (e)
        curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    cJSON_Delete(req);
    free(post);
    free(url);
    free(base);
    iw_buf_free(&s.b);
    return rc;
}

/* ---- the provider: one file, the answer ------------------------------------ */

#define SHOW_FILE "api/show"

typedef struct api_provider {
    iw_provider base;
    char *host;                   /* as given, or NULL */
    char  fmt[IW_OLLAMA_MAX_REGISTRY + 3 * IW_OLLAMA_MAX_PART + 8];
    char *url;                    /* after listing */
    iw_buf answer;
} api_provider;

static int api_list(iw_provider *p, iw_file_list *out)
{
    api_provider *A = (api_provider *)p;
    free(A->url);
    A->url = NULL;
    iw_buf_free(&A->answer);
    int rc = show(A->host, A->fmt, &A->url, &A->answer);
    if (rc < 0)
        return rc;
    A->base.transferred = (int64_t)A->answer.len;
    if ((rc = iw_strlist_pushf(&out->sources, "ollama:%s", A->fmt)) < 0 ||
        (rc = iw_strlist_pushf(&out->sources, "ollama-api:%s", A->url)) < 0)
        return rc;
    return iw_file_list_add(out, SHOW_FILE, NULL, A->answer.len, IW_FILE_OLLAMA_SHOW);
}

static int api_stat(iw_provider *p, const char *path, uint64_t *size)
{
    api_provider *A = (api_provider *)p;
    if (!A->url || strcmp(path, SHOW_FILE) != 0)
        return IW_ENOTFOUND;
    *size = A->answer.len;
    return 0;
}

static int api_open(iw_provider *p, const char *path, iw_source *out)
{
    api_provider *A = (api_provider *)p;
    if (!A->url || strcmp(path, SHOW_FILE) != 0)
        return iw_error_set(IW_ENOTFOUND, "%s: no file %s", p->name, path);
    iw_source_from_buffer(out, A->answer.data ? A->answer.data : "", A->answer.len, A->url);
    return 0;
}

static int api_cite(iw_provider *p, const char *path, char **out)
{
    api_provider *A = (api_provider *)p;
    *out = strdup(A->url && strcmp(path, SHOW_FILE) == 0 ? A->url : path);
    return *out ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
}

static void api_free(iw_provider *p)
{
    api_provider *A = (api_provider *)p;
    free(A->host);
    free(A->url);
    iw_buf_free(&A->answer);
    free(A);
}

int iw_ollama_api_provider_new(iw_provider **out, const char *refstr, const char *host)
{
    iw_ollama_ref ref;
    int rc;
    *out = NULL;
    if (!refstr)
        return iw_error_set(IW_EINVAL, "iw_ollama_api_provider_new: invalid argument");
    api_provider *A = calloc(1, sizeof *A);
    if (!A)
        return iw_error_set(IW_ENOMEM, "out of memory");
    iw_buf_init(&A->answer, IW_OLLAMA_MAX_SHOW);
    if ((rc = iw_ollama_parse_ref(refstr, &ref)) < 0 || (rc = iw_ollama_ref_format(&ref, A->fmt, sizeof A->fmt)) < 0) {
        api_free(&A->base);
        return rc;
    }
    if (host && !(A->host = strdup(host))) {
        api_free(&A->base);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    A->base = (iw_provider){
        .version = IW_PROVIDER_VERSION,
        .name = A->fmt,
        .engine = "ollama",
        .transferred = IW_UNKNOWN,
        .list = api_list,
        .stat = api_stat,
        .open = api_open,
        .cite = api_cite,
        .free = api_free,
    };
    *out = &A->base;
    return 0;
}
