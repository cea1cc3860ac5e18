/* hubtest.c - see hubtest.h.  Included once per test suite that needs it. */
#include "hubtest.h"
#include "iwtest.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

int iwt_hub_make_demo(const char *root)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(iwt_fakehub(), iwt_fakehub(), "--make-demo", root, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return (WIFEXITED(st) && WEXITSTATUS(st) == 0) ? 0 : -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int iwt_hub_start(iwt_hub *h, const char *root, const char *const *extra_args)
{
    memset(h, 0, sizeof *h);
    h->pid = -1;
    h->dir = iwt_tmpdir("fakehub");
    if (!h->dir)
        return -1;
    char ready[4096];
    snprintf(ready, sizeof ready, "%s/ready", h->dir);
    snprintf(h->log_path, sizeof h->log_path, "%s/requests.jsonl", h->dir);

    const char *argv[64];
    size_t n = 0;
    argv[n++] = iwt_fakehub();
    argv[n++] = "--root";       argv[n++] = root;
    argv[n++] = "--ready-file"; argv[n++] = ready;
    argv[n++] = "--log";        argv[n++] = h->log_path;
    for (size_t i = 0; extra_args && extra_args[i] && n < 63; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* a test killed by a timeout must not leave fakehub running */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1); /* the ready line also goes to stdout */
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "hubtest: cannot exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    h->pid = pid;
    for (int i = 0; i < 2000; i++) {
        char *line = iwt_slurp(ready, NULL);
        if (line) {
            int ok = sscanf(line, "%127s %127s", h->hub_url, h->cdn_url) == 2;
            free(line);
            if (ok)
                return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            h->pid = -1;
            fprintf(stderr, "hubtest: fakehub exited before it was ready\n");
            return -1;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "hubtest: fakehub not ready after 20 s\n");
    iwt_hub_stop(h);
    return -1;
}

void iwt_hub_stop(iwt_hub *h)
{
    if (h->pid > 0) {
        kill(h->pid, SIGTERM);
        int st;
        for (int i = 0; i < 500; i++) {
            if (waitpid(h->pid, &st, WNOHANG) == h->pid) {
                h->pid = -1;
                break;
            }
            sleep_ms(10);
        }
        if (h->pid > 0) {
            kill(h->pid, SIGKILL);
            waitpid(h->pid, &st, 0);
        }
    }
    h->pid = -1;
    if (h->dir) {
        iwt_rm_rf(h->dir);
        free(h->dir);
        h->dir = NULL;
    }
}

struct iwt_grow { char *p; size_t n; };

static size_t iwt_grow_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    struct iwt_grow *g = ud;
    size_t k = size * nmemb;
    char *np = realloc(g->p, g->n + k + 1);
    if (!np)
        return 0;
    memcpy(np + g->n, data, k);
    g->n += k;
    np[g->n] = 0;
    g->p = np;
    return k;
}

int iwt_http_do(iwt_http *r, const char *method, const char *url,
                const char *const *headers, const char *body)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct iwt_grow b = { NULL, 0 }, hd = { NULL, 0 };
    struct curl_slist *sl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        sl = curl_slist_append(sl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, iwt_grow_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, iwt_grow_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    if (sl)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
    r->transport_error = (int)rc;
    r->body = b.p ? b.p : calloc(1, 1);
    r->body_len = b.n;
    r->headers = hd.p ? hd.p : calloc(1, 1);
    curl_slist_free_all(sl);
    curl_easy_cleanup(c);
    return r->status > 0 ? 0 : -1;
}

const char *iwt_http_header(const iwt_http *r, const char *name, char *out, size_t n)
{
    const char *found = NULL;
    size_t nl = strlen(name), flen = 0;
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = len - (size_t)(v - p);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            found = v;
            flen = vl;
        }
        p = eol ? eol + 1 : p + len;
    }
    if (!found || n == 0)
        return NULL;
    if (flen >= n)
        flen = n - 1;
    memcpy(out, found, flen);
    out[flen] = 0;
    return out;
}

void iwt_http_free(iwt_http *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

static char *iwt_hub_call(iwt_hub *h, const char *method, const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", h->hub_url, path);
    const char *hdrs[] = { "Content-Type: application/json", NULL };
    iwt_http r;
    if (iwt_http_do(&r, method, url, hdrs, body) != 0 || r.status != 200) {
        iwt_http_free(&r);
        return NULL;
    }
    char *out = r.body;
    r.body = NULL;
    iwt_http_free(&r);
    return out;
}

int iwt_hub_fault(iwt_hub *h, const char *fault_json)
{
    char *resp = iwt_hub_call(h, "POST", "/_control/fault", fault_json);
    if (!resp)
        return -1;
    int id = -1;
    cJSON *j = cJSON_Parse(resp);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (cJSON_IsNumber(v))
        id = v->valueint;
    cJSON_Delete(j);
    free(resp);
    return id;
}

int iwt_hub_reset(iwt_hub *h)
{
    char *resp = iwt_hub_call(h, "POST", "/_control/reset", "{}");
    free(resp);
    return resp ? 0 : -1;
}

char *iwt_hub_log(iwt_hub *h)
{
    return iwt_hub_call(h, "GET", "/_control/log", NULL);
}

cJSON *iwt_hub_log_json(iwt_hub *h)
{
    char *t = iwt_hub_log(h);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    return j;
}

char *iwt_hub_stats(iwt_hub *h)
{
    return iwt_hub_call(h, "GET", "/_control/stats", NULL);
}

long iwt_hub_stat(iwt_hub *h, const char *key, const char *host)
{
    char *s = iwt_hub_stats(h);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, key), host);
    long n = cJSON_IsNumber(v) ? (long)cJSON_GetNumberValue(v) : -1;
    cJSON_Delete(j);
    return n;
}
