/* test_serve.c - `imageworks-download serve`: the HTTP API over a fixture
 * registry (same answers as the CLI, refusals with their status codes,
 * token rules) and the web page in a real browser (headless Chromium driven
 * through chromedriver's WebDriver API), which runs an estimate, applies it
 * and leaves a screenshot in <build>/artifacts/serve_page.png.
 * No per-test .timeout: with --jobs 2, Criterion 2.4's runner leaks 48 bytes
 * when timed tests run in parallel (LeakSanitizer then fails the suite);
 * CTest's 300 s suite timeout bounds a hang instead. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "iwtest.h"
#include "hubtest.c"

/* ------------------------------------------------------------ fixture */

typedef struct srv {
    char *tmp, *reg;
    pid_t pid;
    char url[128];
    char name[128];    /* the registered model */
} srv;

/* `estimate NAME ARGS --json` with serve's registry and profiles prints
 * exactly the answer j that serve gave. */
static void expect_cli_agrees(const srv *s, const cJSON *j, const char *args)
{
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "XDG_CONFIG_HOME='%s/xdg' IMAGEWORKS_ESTIMATE_PROFILES= IMAGEWORKS_REGISTRY_DIR='%s' '%s' "
             "estimate '%s' %s --json", s->tmp, s->reg, iwt_cli(), s->name, args);
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0, "%s", out);
    cJSON *cli = cJSON_Parse(out);
    free(out);
    cr_assert(cJSON_Compare(j, cli, true), "serve and the CLI disagree (%s)", args);
    cJSON_Delete(cli);
}

static pid_t spawn(char *const argv[], char *const envp[], int *out_fd)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(p[1], 1);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0)
            dup2(dn, 2);
        close(p[0]);
        close(p[1]);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

/* Read one line from fd within ms milliseconds. */
static int read_line(int fd, char *buf, size_t n, int ms)
{
    size_t len = 0;
    while (len + 1 < n) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, ms) <= 0)
            return -1;
        ssize_t r = read(fd, buf + len, 1);
        if (r <= 0)
            return -1;
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = 0;
    return 0;
}

static char **env_with(const char *const *extra)
{
    extern char **environ;
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[k])
        k++;
    char **e = calloc(n + k + 1, sizeof *e);
    cr_assert_not_null(e);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        bool shadowed = false;
        for (size_t x = 0; x < k; x++) {
            size_t kl = strcspn(extra[x], "=");
            if (!strncmp(environ[i], extra[x], kl) && environ[i][kl] == '=')
                shadowed = true;
        }
        if (!shadowed)
            e[j++] = environ[i];
    }
    for (size_t x = 0; x < k; x++)
        e[j++] = (char *)extra[x];
    return e;
}

static void start_serve(srv *s, const char *token)
{
    memset(s, 0, sizeof *s);
    s->tmp = iwt_tmpdir("serve");
    cr_assert(asprintf(&s->reg, "%s/reg", s->tmp) > 0);
    /* a registered model: the tiny-llama fixture, scanned */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/models/demo' && cp -r '%s' '%s/models/demo/' && "
             "IMAGEWORKS_REGISTRY_DIR='%s' '%s' scan '%s/models'", s->tmp, iwt_fixture("models/tiny-llama"), s->tmp,
             s->reg, iwt_cli(), s->tmp);
    char *out = NULL;
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0, "%s", out);
    char *arrow = strstr(out, "-> ");
    cr_assert_not_null(arrow, "%s", out);
    snprintf(s->name, sizeof s->name, "%.*s", (int)strcspn(arrow + 3, "\n"), arrow + 3);
    free(out);
    char regenv[4200], xdg[4200];
    snprintf(regenv, sizeof regenv, "IMAGEWORKS_REGISTRY_DIR=%s", s->reg);
    snprintf(xdg, sizeof xdg, "XDG_CONFIG_HOME=%s/xdg", s->tmp);
    const char *extra[] = {regenv, xdg, "IMAGEWORKS_SERVE_TOKEN=", "IMAGEWORKS_ESTIMATE_PROFILES=", NULL};
    char **envp = env_with(extra);
    char tokarg[300];
    snprintf(tokarg, sizeof tokarg, "--token=%s", token ? token : "");
    char *argv[] = {(char *)iwt_cli(), "serve", "--listen", "127.0.0.1:0", token ? tokarg : NULL, NULL};
    int fd;
    s->pid = spawn(argv, envp, &fd);
    free(envp);
    char line[512];
    cr_assert_eq(read_line(fd, line, sizeof line, 15000), 0, "serve printed nothing");
    close(fd);
    const char *u = strstr(line, "http://");
    cr_assert_not_null(u, "%s", line);
    snprintf(s->url, sizeof s->url, "http://%.*s", (int)strcspn(u + 7, "/ \n"), u + 7);
}

static int stop_serve(srv *s)
{
    int st = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &st, 0);
    }
    iwt_rm_rf(s->tmp);
    free(s->tmp);
    free(s->reg);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static cJSON *req_json(const srv *s, const char *method, const char *path, const char *body, const char *token,
                       long *status)
{
    char url[1024], auth[400];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    const char *hdrs[3] = {NULL, NULL, NULL};
    size_t h = 0;
    if (body)
        hdrs[h++] = "Content-Type: application/json";
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdrs[h++] = auth;
    }
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, method, url, hdrs, body), 0, "no answer from %s", url);
    *status = r.status;
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    cr_assert_not_null(j, "%s %s: not JSON: %.*s", method, path, (int)r.body_len, r.body);
    char ct[128];
    cr_assert(iwt_http_header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "application/json"), "%s", ct);
    iwt_http_free(&r);
    return j;
}

static const char *jstr(const cJSON *j, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItem(j, k)); }

/* ------------------------------------------------------------ API */

Test(serve, api_answers_like_the_cli)
{
    srv s;
    start_serve(&s, NULL);
    long st;
    cJSON *j = req_json(&s, "GET", "/healthz", NULL, NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(jstr(j, "status"), "ok");
    cJSON_Delete(j);

    j = req_json(&s, "GET", "/models", NULL, NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 1);
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"), 0);
    cr_assert_str_eq(jstr(m, "name"), s.name);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(m, "parameters")), 19286272);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "installed")));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(m, "validated")));
    cJSON_Delete(j);
    j = req_json(&s, "GET", "/models?quantization=awq", NULL, NULL, &st);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 0, "filtered out");
    cJSON_Delete(j);
    j = req_json(&s, "GET", "/models?quantization=BF16", NULL, NULL, &st);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 1, "filters ignore case");
    cJSON_Delete(j);
    /* the listing is cached, but a registry change shows at once */
    char vcmd[8192];
    snprintf(vcmd, sizeof vcmd, "IMAGEWORKS_REGISTRY_DIR='%s' '%s' validate '%s' --expected-layers 4", s.reg, iwt_cli(),
             s.name);
    cr_assert_eq(iwt_run(vcmd, NULL, NULL), 0);
    j = req_json(&s, "GET", "/models", NULL, NULL, &st);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "models"), 0), "validated")),
              "a stale listing was served after the registry changed");
    cJSON_Delete(j);

    char path[512];
    char *esc = curl_easy_escape(NULL, s.name, 0);
    snprintf(path, sizeof path, "/models/%s", esc);
    j = req_json(&s, "GET", path, NULL, NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"),
                                                                               "architecture"), "num_layers")), 4);
    cJSON_Delete(j);

    /* POST /estimate gives exactly what `estimate --json` prints */
    char body[1024];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"gpu\":\"rtx4090\",\"context\":2048,\"kv_dtype\":\"fp8\"}", s.name);
    j = req_json(&s, "POST", "/estimate", body, NULL, &st);
    cr_assert_eq(st, 200, "%s", jstr(j, "error"));
    expect_cli_agrees(&s, j, "--gpu rtx4090 --context 2048 --kv-dtype fp8");
    cr_assert_str_eq(jstr(cJSON_GetObjectItem(j, "verdict"), "fit"), "fits");
    cJSON_Delete(j);

    /* apply writes the recommendation into the entry */
    snprintf(path, sizeof path, "/models/%s/apply", esc);
    j = req_json(&s, "POST", path, "{\"gpu\":\"rtx4090\",\"context\":2048}", NULL, &st);
    cr_assert_eq(st, 200, "%s", jstr(j, "error"));
    cr_assert_str_eq(jstr(cJSON_GetObjectItem(j, "applied"), "entry"), s.name);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/models/%s", esc);
    j = req_json(&s, "GET", path, NULL, NULL, &st);
    char *xa = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "backend_config"), "extra_args"));
    cr_assert(strstr(xa, "\"--max-model-len\",\"2048\""), "%s", xa);
    free(xa);
    cJSON_Delete(j);
    /* an apply that cannot fit applies nothing: 409 */
    snprintf(path, sizeof path, "/models/%s/apply", esc);
    j = req_json(&s, "POST", path, "{\"vram\":\"300MiB\",\"context\":4096}", NULL, &st);
    cr_assert_eq(st, 409, "%ld", st);
    cJSON_Delete(j);

    j = req_json(&s, "GET", "/profiles", NULL, NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert_geq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "gpus")), 20);
    cJSON_Delete(j);
    curl_free(esc);
    cr_assert_eq(stop_serve(&s), 0, "SIGTERM stops serve cleanly");
}

/* POST /estimate takes the llama.cpp program and its n_batch as the CLI's
 * --llama-app and --n-batch do (llama-cli sizes the output buffer by
 * n_batch, llama-server by its slots), and refuses an unknown program. */
Test(serve, llama_app_and_n_batch_like_the_cli)
{
    srv s;
    start_serve(&s, NULL);
    long st;
    char body[1024];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"engine\":\"llama.cpp\",\"vram\":\"24GiB\",\"context\":4096,"
             "\"llama_app\":\"cli\",\"n_batch\":512}", s.name);
    cJSON *j = req_json(&s, "POST", "/estimate", body, NULL, &st);
    cr_assert_eq(st, 200, "%s", jstr(j, "error"));
    const cJSON *in = cJSON_GetObjectItem(j, "inputs");
    cr_expect_str_eq(jstr(in, "llama_app"), "cli");
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(in, "n_batch")), 512);
    expect_cli_agrees(&s, j, "--engine llama.cpp --vram 24GiB --context 4096 --llama-app cli --n-batch 512");
    cJSON_Delete(j);
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"engine\":\"llama.cpp\",\"llama_app\":\"gui\"}", s.name);
    j = req_json(&s, "POST", "/estimate", body, NULL, &st);
    cr_expect_eq(st, 400);
    cr_expect(jstr(j, "error") && strstr(jstr(j, "error"), "'gui'"), "%s", jstr(j, "error"));
    cJSON_Delete(j);
    cr_assert_eq(stop_serve(&s), 0, "SIGTERM stops serve cleanly");
}

/* POST /estimate with "calibrate": the entry's measured start (stored by
 * reconcile-architecture --engine-log from a real vLLM log, see
 * tests/fixtures/enginelog/README.md) corrects the heuristic terms, and the
 * answer is what `estimate --calibrate --json` prints. */
Test(serve, estimate_with_calibration)
{
    srv s;
    start_serve(&s, NULL);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_REGISTRY_DIR='%s' '%s' reconcile-architecture --engine-log '%s' --name '%s'",
             s.reg, iwt_cli(), iwt_fixture("enginelog/vllm-0.19-codellama-7b.log"), s.name);
    char *out = NULL;
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0, "%s", out);
    free(out);
    char body[1024];
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"engine\":\"vllm@0.19\",\"vram\":\"79.19GiB\","
             "\"gpu_util\":0.95,\"context\":2048,\"calibrate\":true}", s.name);
    long st;
    cJSON *j = req_json(&s, "POST", "/estimate", body, NULL, &st);
    cr_assert_eq(st, 200, "%s", jstr(j, "error"));
    const cJSON *c = cJSON_GetObjectItem(j, "calibration");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(c, "applied")), "%s", jstr(c, "note"));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c, "starts")), 1);
    expect_cli_agrees(&s, j, "--engine vllm@0.19 --vram 79.19GiB --gpu-util 0.95 --context 2048 --calibrate");
    cJSON_Delete(j);
    cr_assert_eq(stop_serve(&s), 0);
}

Test(serve, refusals_have_status_codes)
{
    srv s;
    start_serve(&s, NULL);
    long st;
    struct { const char *method, *path, *body; long want; const char *msg; } cases[] = {
        {"POST", "/estimate", "{", 400, "request body"},
        {"POST", "/estimate", "{\"model\":\"x\",\"bogus\":1}", 400, "unknown field 'bogus'"},
        {"POST", "/estimate", "{\"context\":5}", 400, "'model'"},
        {"POST", "/estimate", "{\"model\":\"x\",\"context\":-1}", 400, "'context'"},
        {"POST", "/estimate", "{\"model\":\"x\",\"vram\":\"lots\"}", 400, "vram"},
        {"POST", "/estimate", "{\"model\":\"../../etc/passwd\"}", 404, "no registry entry"},
        {"POST", "/estimate", "{\"model\":\"/tmp\"}", 404, "no registry entry"},
        {"GET", "/models/nope", NULL, 404, "no registry entry named 'nope'"},
        {"GET", "/estimate", NULL, 405, "allows POST"},
        {"GET", "/nothing-here", NULL, 404, "no such endpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = req_json(&s, cases[i].method, cases[i].path, cases[i].body, NULL, &st);
        cr_expect_eq(st, cases[i].want, "%s %s: %ld", cases[i].method, cases[i].path, st);
        cr_expect(jstr(j, "error") && strstr(jstr(j, "error"), cases[i].msg), "%s %s: %s", cases[i].method,
                  cases[i].path, jstr(j, "error"));
        cJSON_Delete(j);
    }
    /* POST without application/json (what a cross-site form sends) */
    char url[512];
    snprintf(url, sizeof url, "%s/estimate", s.url);
    iwt_http r;
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    cr_assert_eq(iwt_http_do(&r, "POST", url, form, "model=x"), 0);
    cr_expect_eq(r.status, 415);
    iwt_http_free(&r);
    /* a body over 64 KiB */
    size_t big = 70 * 1024;
    char *b = malloc(big + 1);
    memset(b, ' ', big);
    b[big] = 0;
    b[0] = '{';
    b[big - 1] = '}';
    const char *js[] = {"Content-Type: application/json", NULL};
    cr_assert_eq(iwt_http_do(&r, "POST", url, js, b), 0);
    cr_expect_eq(r.status, 413);
    iwt_http_free(&r);
    free(b);
    /* DNS rebinding: a foreign Host on a loopback server */
    snprintf(url, sizeof url, "%s/models", s.url);
    const char *host[] = {"Host: attacker.example", NULL};
    cr_assert_eq(iwt_http_do(&r, "GET", url, host, NULL), 0);
    cr_expect_eq(r.status, 421);
    iwt_http_free(&r);
    cr_assert_eq(stop_serve(&s), 0);
}

/* %00 in a URL and \u0000 in a body would cut a name at the NUL and reach
 * the entry named by the part before it. */
Test(serve, nul_in_names_refused)
{
    srv s;
    start_serve(&s, NULL);
    char *esc = curl_easy_escape(NULL, s.name, 0);
    char path[512], body[512];
    long st;
    snprintf(path, sizeof path, "/models/%s%%00junk", esc);
    cJSON *j = req_json(&s, "GET", path, NULL, NULL, &st);
    cr_expect_eq(st, 400, "GET %s: %ld", path, st);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "/models/%s%%00/apply", esc);
    j = req_json(&s, "POST", path, "{\"gpu\":\"rtx4090\"}", NULL, &st);
    cr_expect_eq(st, 400, "POST %s: %ld", path, st);
    cJSON_Delete(j);
    snprintf(body, sizeof body, "{\"model\":\"%s\\u0000junk\",\"gpu\":\"rtx4090\"}", s.name);
    j = req_json(&s, "POST", "/estimate", body, NULL, &st);
    cr_expect_eq(st, 400, "%s: %ld", body, st);
    cr_expect(jstr(j, "error") && strstr(jstr(j, "error"), "u0000"), "%s", jstr(j, "error"));
    cJSON_Delete(j);
    /* a literal backslash before u0000 is no NUL */
    snprintf(body, sizeof body, "{\"model\":\"%s\\\\u0000\",\"gpu\":\"rtx4090\"}", s.name);
    j = req_json(&s, "POST", "/estimate", body, NULL, &st);
    cr_expect_eq(st, 404, "%s: %ld", body, st);
    cJSON_Delete(j);
    curl_free(esc);
    cr_assert_eq(stop_serve(&s), 0);
}

/* tmpl with each "P" replaced by port */
static void host_hdr(char *out, size_t n, const char *tmpl, const char *port)
{
    size_t k = (size_t)snprintf(out, n, "Host: ");
    for (const char *t = tmpl; *t && k + 8 < n; t++)
        k += (size_t)snprintf(out + k, n - k, "%s", *t == 'P' ? port : (const char[]){*t, 0});
}

/* DNS rebinding: only a loopback host literal or exactly "localhost", with
 * this server's port, is accepted on a loopback server. */
Test(serve, host_check_is_strict)
{
    srv s;
    start_serve(&s, NULL);
    const char *port = strrchr(s.url, ':') + 1;
    char url[512];
    snprintf(url, sizeof url, "%s/healthz", s.url);
    const char *bad[] = {"127.0.0.1.evil.com:P", "127.0.0.1@evil.com:P", "127.0.0.1.evil.com", "127.evil.com:P",
                         "localhost.evil.com:P", "evil.localhost:P", "127.0.0.1:P0", "127.0.0.1:1P",
                         "127.0.0.1:Px", "127.0.0.1", "localhost", "[::1]", "[::1]x:P", "[::2]:P", "::1:P",
                         "0x7f.0.0.1:P", "127.1:P", "10.0.0.1:P", "[::ffff:10.0.0.1]:P", "127.0.0.1:+P",
                         "127.0.0.1: P", ":P", "[127.0.0.1]:P", "127.0.0.1%00.evil.com:P", "[::1%lo]:P"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char hdr[320];
        host_hdr(hdr, sizeof hdr, bad[i], port);
        const char *h[] = {hdr, NULL};
        iwt_http r;
        cr_assert_eq(iwt_http_do(&r, "GET", url, h, NULL), 0);
        cr_expect_eq(r.status, 421, "'%s' was accepted (%ld)", hdr, r.status);
        iwt_http_free(&r);
    }
    const char *good[] = {"127.0.0.1:P", "localhost:P", "LocalHost:P", "[::1]:P", "127.0.0.2:P",
                          "[0:0:0:0:0:0:0:1]:P"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char hdr[320];
        host_hdr(hdr, sizeof hdr, good[i], port);
        const char *h[] = {hdr, NULL};
        iwt_http r;
        cr_assert_eq(iwt_http_do(&r, "GET", url, h, NULL), 0);
        cr_expect_eq(r.status, 200, "'%s' was refused (%ld)", hdr, r.status);
        iwt_http_free(&r);
    }
    cr_assert_eq(stop_serve(&s), 0);
}

Test(serve, token_rules)
{
    srv s;
    start_serve(&s, "s3cret-token");
    long st;
    cJSON *j = req_json(&s, "GET", "/models", NULL, NULL, &st);
    cr_assert_eq(st, 401);
    cJSON_Delete(j);
    j = req_json(&s, "GET", "/models", NULL, "wrong", &st);
    cr_assert_eq(st, 401);
    cJSON_Delete(j);
    j = req_json(&s, "GET", "/models", NULL, "s3cret-token", &st);
    cr_assert_eq(st, 200);
    cJSON_Delete(j);
    j = req_json(&s, "GET", "/healthz", NULL, NULL, &st);
    cr_assert_eq(st, 200, "the health check needs no token");
    cJSON_Delete(j);
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, "GET", s.url, NULL, NULL), 0);
    cr_assert_eq(r.status, 200, "the page loads without a token (it asks for one)");
    char csp[256];
    cr_assert(iwt_http_header(&r, "Content-Security-Policy", csp, sizeof csp) && strstr(csp, "default-src 'self'"));
    iwt_http_free(&r);
    cr_assert_eq(stop_serve(&s), 0);

    /* beyond loopback without a token: refused at start (usage, exit 2) */
    char cmd[4096], *err = NULL;
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_SERVE_TOKEN= '%s' serve --listen 0.0.0.0:0", iwt_cli());
    cr_assert_eq(iwt_run(cmd, NULL, &err), 2);
    cr_assert(strstr(err, "needs --token"), "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "'%s' serve --listen localhost", iwt_cli());
    cr_assert_eq(iwt_run(cmd, NULL, NULL), 2);
}

/* ------------------------------------------------------------ slow clients */

/* A TCP connection to the server from a given loopback source address;
 * -1 when refused. */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&d, sizeof d) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A whole GET /healthz from 127.0.0.1 answered 200 within 5 s? */
static bool healthz_answers(int port)
{
    int fd = connect_from("127.0.0.1", port);
    if (fd < 0)
        return false;
    char req[256], buf[512];
    int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", port);
    bool ok = false;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 5000) == 1 && recv(fd, buf, sizeof buf - 1, 0) > 12)
            ok = !strncmp(buf, "HTTP/1.1 200", 12);
    }
    close(fd);
    return ok;
}

/* 256 connections from one client that send a header byte every 2 s (a
 * slowloris) neither lock out another client nor live forever: a client
 * gets at most its share of connections, and a request must arrive whole
 * within its deadline. */
Test(serve, slow_clients_neither_lock_out_others_nor_live_forever)
{
    srv s;
    start_serve(&s, NULL);
    int port = atoi(strrchr(s.url, ':') + 1);
    int fds[256], open_n = 0;
    for (int i = 0; i < 256; i++) {
        fds[i] = connect_from("127.0.0.3", port);
        if (fds[i] >= 0) {
            char start[128];
            int n = snprintf(start, sizeof start, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Slow: ", port);
            if (send(fds[i], start, (size_t)n, MSG_NOSIGNAL) != n) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        open_n += fds[i] >= 0;
    }
    cr_assert_gt(open_n, 0);
    time_t t0 = time(NULL);
    int alive = 0, served = 0, tries = 0;
    while (time(NULL) - t0 < 42) {
        alive = 0;
        for (int i = 0; i < 256; i++) {
            if (fds[i] < 0)
                continue;
            char b;
            ssize_t r = recv(fds[i], &b, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                send(fds[i], "a", 1, MSG_NOSIGNAL) != 1) {
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            alive++;
        }
        if (time(NULL) - t0 < 20) {
            tries++;
            served += healthz_answers(port);
        }
        sleep(2);
    }
    cr_expect_eq(served, tries, "another client was locked out: %d of %d requests answered", served, tries);
    cr_expect_eq(alive, 0, "%d slow connections still open after 42 s", alive);
    for (int i = 0; i < 256; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    cr_assert_eq(stop_serve(&s), 0);
}

/* ------------------------------------------------------------ browser */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct wd {
    char base[128];
    char sid[128];
} wd;

static cJSON *wd_call(const wd *w, const char *method, const char *path, const char *body)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", w->base, path);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    iwt_http r;
    if (iwt_http_do(&r, method, url, hdrs, body) < 0) {
        iwt_http_free(&r);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    iwt_http_free(&r);
    return j;
}

static cJSON *wd_value(const wd *w, const char *method, const char *what, const char *body)
{
    char path[512];
    snprintf(path, sizeof path, "/session/%s%s", w->sid, what);
    cJSON *j = wd_call(w, method, path, body);
    cr_assert_not_null(j, "webdriver %s %s: no answer", method, what);
    cJSON *v = cJSON_DetachItemFromObject(j, "value");
    cJSON_Delete(j);
    cr_assert_not_null(v);
    const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(v, "error"));
    cr_assert_null(err, "webdriver %s %s: %s: %s", method, what, err, cJSON_GetStringValue(cJSON_GetObjectItem(v, "message")));
    return v;
}

/* Run JS in the page; returns its JSON value. */
static cJSON *wd_js(const wd *w, const char *script)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "script", script);
    cJSON_AddArrayToObject(b, "args");
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    cJSON *v = wd_value(w, "POST", "/execute/sync", s);
    free(s);
    return v;
}

/* A wait scaled by the load (1x to 4x the load per core): a browser on a
 * busy machine needs more time, and a failure then is not the page's. */
static int under_load(int ms)
{
    double l[1] = {0};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double f = getloadavg(l, 1) == 1 && cores > 0 ? l[0] / (double)cores : 1;
    return (int)(ms * (f < 1 ? 1 : f > 4 ? 4 : f));
}

/* The last n bytes of a file, for a failure message. */
static void tail_of(const char *path, char *out, size_t n)
{
    size_t len = 0;
    char *t = iwt_slurp(path, &len);
    snprintf(out, n, "%s", !t ? "(no log)" : t + (len > n - 1 ? len - (n - 1) : 0));
    free(t);
}

/* Start a browser session, trying `attempts` times (3 s apart: a browser
 * slow to start under load gets a second chance).  On failure `why` holds
 * each of chromedriver's answers (status, error, message) and the tail of
 * its log, so a CI log alone tells what went wrong (e.g. "session not
 * created from disconnected: unable to connect to renderer"). */
static bool wd_new_session(wd *w, const char *caps, int attempts, const char *log_path, char *why, size_t whyn)
{
    size_t k = 0;
    why[0] = 0;
    for (int a = 1; a <= attempts; a++) {
        char url[256];
        snprintf(url, sizeof url, "%s/session", w->base);
        const char *hdrs[] = {"Content-Type: application/json", NULL};
        iwt_http r;
        int rc = iwt_http_do(&r, "POST", url, hdrs, caps);
        cJSON *j = rc == 0 ? cJSON_ParseWithLength(r.body, r.body_len) : NULL;
        const cJSON *v = cJSON_GetObjectItem(j, "value");
        const char *sid = cJSON_GetStringValue(cJSON_GetObjectItem(v, "sessionId"));
        if (sid) {
            snprintf(w->sid, sizeof w->sid, "%s", sid);
            cJSON_Delete(j);
            iwt_http_free(&r);
            return true;
        }
        const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(v, "error"));
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(v, "message"));
        k += (size_t)snprintf(why + k, k < whyn ? whyn - k : 0, "attempt %d: HTTP %ld, %s: %s; ", a, r.status,
                              err ? err : rc ? "no answer" : "no session id",
                              msg ? msg : rc ? "transport error" : "(no message)");
        cJSON_Delete(j);
        iwt_http_free(&r);
        if (a < attempts)
            sleep(3);
    }
    char t[1500];
    tail_of(log_path, t, sizeof t);
    if (k < whyn)
        snprintf(why + k, whyn - k, "chromedriver log tail: %s", t);
    return false;
}

/* Poll a JS expression (returning a string) until it contains `want`. */
static char *wd_wait_text(const wd *w, const char *expr, const char *want, int ms)
{
    ms = under_load(ms);
    char script[1024];
    snprintf(script, sizeof script, "var e = %s; return e === null || e === undefined ? '' : String(e);", expr);
    char *last = NULL;
    for (int waited = 0; waited <= ms; waited += 100) {
        cJSON *v = wd_js(w, script);
        free(last);
        last = strdup(cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");
        cJSON_Delete(v);
        if (strstr(last, want))
            return last;
        usleep(100000);
    }
    cr_assert_fail("waited %d ms for %s to contain '%s'; it is '%s'", ms, expr, want, last);
    return last;
}

static void wd_click(const wd *w, const char *css)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "using", "css selector");
    cJSON_AddStringToObject(b, "value", css);
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    cJSON *el = wd_value(w, "POST", "/element", s);
    free(s);
    const cJSON *id = el->child;   /* {"element-6066-...": "id"} */
    cr_assert(id && cJSON_IsString(id), "no element for %s", css);
    char path[512];
    snprintf(path, sizeof path, "/element/%s/click", id->valuestring);
    cJSON_Delete(wd_value(w, "POST", path, "{}"));
    cJSON_Delete(el);
}

/* chromedriver on a free port, logging to <tmp>/chromedriver.log (dlog);
 * waits until it answers /status. */
static pid_t start_driver(wd *w, const char *tmp, char *dlog, size_t n, int *dfd)
{
    int port = free_port();
    char portarg[32], logarg[4300];
    snprintf(portarg, sizeof portarg, "--port=%d", port);
    snprintf(dlog, n, "%s/chromedriver.log", tmp);
    snprintf(logarg, sizeof logarg, "--log-path=%s", dlog);
    char *dargv[] = {"/usr/bin/chromedriver", portarg, logarg, NULL};
    extern char **environ;
    pid_t dpid = spawn(dargv, environ, dfd);
    snprintf(w->base, sizeof w->base, "http://127.0.0.1:%d", port);
    cJSON *st = NULL;
    for (int i = 0; i < 300 && !(st = wd_call(w, "GET", "/status", NULL)); i++)
        usleep(100000);
    char t[1500];
    tail_of(dlog, t, sizeof t);
    cr_assert_not_null(st, "chromedriver did not answer within 30 s; its log: %s", t);
    cJSON_Delete(st);
    return dpid;
}

/* Capabilities for headless Chromium; more_args: the window size and the
 * profile folder (JSON strings, comma-separated). */
static void browser_caps(char *caps, size_t n, const char *binary, const char *more_args)
{
    snprintf(caps, n,
             "{\"capabilities\":{\"alwaysMatch\":{\"browserName\":\"chrome\","
             "\"timeouts\":{\"pageLoad\":120000,\"script\":60000},\"goog:chromeOptions\":{"
             "\"binary\":\"%s\",\"args\":[\"--headless=new\",\"--no-sandbox\",\"--disable-gpu\","
             "\"--disable-dev-shm-usage\",\"--disable-quic\",\"--no-first-run\",\"--disable-background-networking\","
             "\"--disable-component-update\",\"--disable-sync\",%s]}}}}",
             binary, more_args);
}

/* When the session cannot be created the failure says why, from the driver
 * itself (it used to say only "no browser session"). */
Test(serve, browser_session_failure_is_explained)
{
    if (access("/usr/bin/chromedriver", X_OK))
        cr_skip_test("chromium-driver is not installed (scripts/setup.sh installs it)");
    char *tmp = iwt_tmpdir("wdfail");
    wd w;
    int dfd;
    char dlog[4200], caps[8192], why[6000];
    pid_t dpid = start_driver(&w, tmp, dlog, sizeof dlog, &dfd);
    char more[4300];
    snprintf(more, sizeof more, "\"--user-data-dir=%s/chromium-profile\"", tmp);
    browser_caps(caps, sizeof caps, "/nonexistent/chromium", more);
    cr_assert_not(wd_new_session(&w, caps, 2, dlog, why, sizeof why), "a session without a browser");
    cr_expect(strstr(why, "attempt 1: HTTP ") && strstr(why, "attempt 2: HTTP "), "%s", why);
    cr_expect(strstr(why, "session not created") || strstr(why, "binary"), "the driver's answer is missing: %s", why);
    cr_expect(strstr(why, "chromedriver log tail: "), "%s", why);
    cr_log_info("as a failure reads: no browser session: %.300s", why);
    kill(dpid, SIGTERM);
    waitpid(dpid, NULL, 0);
    close(dfd);
    iwt_rm_rf(tmp);
    free(tmp);
}

Test(serve, page_in_a_real_browser)
{
    if (access("/usr/bin/chromium", X_OK) || access("/usr/bin/chromedriver", X_OK))
        cr_skip_test("chromium and chromium-driver are not installed (scripts/setup.sh installs them)");
    srv s;
    start_serve(&s, NULL);
    wd w;
    int dfd;
    char dlog[4200], caps[8192], why[6000];
    pid_t dpid = start_driver(&w, s.tmp, dlog, sizeof dlog, &dfd);
    char more[4400];
    snprintf(more, sizeof more, "\"--window-size=1400,1000\",\"--user-data-dir=%s/chromium-profile\"", s.tmp);
    browser_caps(caps, sizeof caps, "/usr/bin/chromium", more);
    cr_assert(wd_new_session(&w, caps, 2, dlog, why, sizeof why), "no browser session: %s", why);

    char body[1024];
    snprintf(body, sizeof body, "{\"url\":\"%s/\"}", s.url);
    cJSON_Delete(wd_value(&w, "POST", "/url", body));
    /* the list loads, sorts and filters */
    free(wd_wait_text(&w, "document.getElementById('status').textContent", "1 model", 10000));
    char sel[512];
    snprintf(sel, sizeof sel, "#models tbody tr");
    free(wd_wait_text(&w, "document.querySelector('#models tbody tr') && document.querySelector('#models tbody tr').dataset.name",
                      s.name, 5000));
    wd_click(&w, "#models th[data-key=parameters]");
    free(wd_wait_text(&w, "document.querySelector('#models th[data-key=parameters]').className", "sorted-asc", 2000));
    cJSON_Delete(wd_js(&w, "var f = document.getElementById('f-text'); f.value = 'no-such-model';"
                           "f.dispatchEvent(new Event('input')); return true;"));
    free(wd_wait_text(&w, "String(document.querySelectorAll('#models tbody tr').length)", "0", 2000));
    cJSON_Delete(wd_js(&w, "var f = document.getElementById('f-text'); f.value = '';"
                           "f.dispatchEvent(new Event('input')); return true;"));
    /* the architecture card */
    wd_click(&w, sel);
    free(wd_wait_text(&w, "document.getElementById('card-fields').textContent", "layers4", 5000));
    free(wd_wait_text(&w, "document.getElementById('card-sources').textContent", "config.json", 2000));
    /* an estimate on a 24 GiB GPU: the inverse answer and the stacked bar */
    cJSON_Delete(wd_js(&w, "document.getElementById('est-gpu').value = 'rtx4090';"
                           "document.getElementById('est-context').value = '2048'; return true;"));
    wd_click(&w, "#est-run");
    char *inv = wd_wait_text(&w, "document.getElementById('inverse').textContent", "on a 24 GiB GPU", 10000);
    cr_assert(strstr(inv, "fits 4k tokens at batch 1"), "%s", inv);
    free(inv);
    free(wd_wait_text(&w, "String(document.querySelectorAll('#bar .seg').length > 2)", "true", 2000));
    free(wd_wait_text(&w, "document.getElementById('verdict').textContent", "fits", 2000));
    /* apply it */
    wd_click(&w, "#apply");
    free(wd_wait_text(&w, "document.getElementById('apply-result').textContent", "applied to", 10000));
    /* measured starts: a vLLM log reconciled into the entry, then a calibrated estimate */
    char rcmd[8192];
    snprintf(rcmd, sizeof rcmd, "IMAGEWORKS_REGISTRY_DIR='%s' '%s' reconcile-architecture --engine-log '%s' --name '%s'",
             s.reg, iwt_cli(), iwt_fixture("enginelog/vllm-0.19-codellama-7b.log"), s.name);
    cr_assert_eq(iwt_run(rcmd, NULL, NULL), 0);
    cJSON_Delete(wd_js(&w, "document.getElementById('est-engine').value = 'vllm';"
                           "document.getElementById('est-calibrate').checked = true; return true;"));
    wd_click(&w, "#est-run");
    char *cb = wd_wait_text(&w, "document.getElementById('est-calibration').textContent", "calibrated:", 10000);
    cr_assert(strstr(cb, "Measured starts") && strstr(cb, "vllm 0.19.0 start of") && strstr(cb, "kv_tokens126256"),
              "%s", cb);
    free(cb);

    /* screenshot artifact, with the estimate in view */
    cJSON_Delete(wd_js(&w, "document.getElementById('est-result').scrollIntoView({block: 'center'}); return true;"));
    cJSON *shot = wd_value(&w, "GET", "/screenshot", NULL);
    const char *b64 = cJSON_GetStringValue(shot);
    cr_assert_not_null(b64);
    size_t bl = strlen(b64);
    unsigned char *png = malloc(bl);
    int n = EVP_DecodeBlock(png, (const unsigned char *)b64, (int)bl);
    cr_assert_gt(n, 8);
    cr_assert_eq(memcmp(png, "\x89PNG", 4), 0, "not a PNG");
    char art[4096];
    snprintf(art, sizeof art, "%s/artifacts", iwt_build_dir());
    mkdir(art, 0755);
    snprintf(art, sizeof art, "%s/artifacts/serve_page.png", iwt_build_dir());
    while (n > 0 && png[n - 1] == 0)   /* base64 padding decodes to zeros */
        n--;
    cr_assert_eq(iwt_write(art, png, (size_t)n), 0, "cannot write %s", art);
    free(png);
    cJSON_Delete(shot);
    char path[512];
    snprintf(path, sizeof path, "/session/%s", w.sid);
    cJSON_Delete(wd_call(&w, "DELETE", path, NULL));
    kill(dpid, SIGTERM);
    waitpid(dpid, NULL, 0);
    close(dfd);

    /* the registry changed on disk */
    char file[4096];
    snprintf(file, sizeof file, "%s/model_registry.json", s.reg);
    char *txt = iwt_slurp(file, NULL);
    cr_assert_not_null(txt);
    cr_assert(strstr(txt, "\"--max-model-len\"") && strstr(txt, "\"2048\""), "the apply did not reach the registry");
    free(txt);
    cr_assert_eq(stop_serve(&s), 0);
}

/* ------------------------------------------------------------ the page at every width
 *
 * These tests drive their own browser (browser_open) so that they do not
 * depend on the order or content of page_in_a_real_browser. */

typedef struct browser {
    wd    w;
    pid_t dpid;
    int   dfd;
} browser;

static bool have_browser(void)
{
    return !access("/usr/bin/chromium", X_OK) && !access("/usr/bin/chromedriver", X_OK);
}

static void browser_open(browser *b, const srv *s)
{
    char dlog[4200], caps[8192], more[4400], why[6000];
    b->dpid = start_driver(&b->w, s->tmp, dlog, sizeof dlog, &b->dfd);
    snprintf(more, sizeof more, "\"--hide-scrollbars\",\"--window-size=1920,1000\",\"--user-data-dir=%s/chromium-layout\"",
             s->tmp);
    browser_caps(caps, sizeof caps, "/usr/bin/chromium", more);
    cr_assert(wd_new_session(&b->w, caps, 2, dlog, why, sizeof why), "no browser session: %s", why);
}

static void browser_close(browser *b)
{
    char path[512];
    snprintf(path, sizeof path, "/session/%s", b->w.sid);
    cJSON_Delete(wd_call(&b->w, "DELETE", path, NULL));
    kill(b->dpid, SIGTERM);
    waitpid(b->dpid, NULL, 0);
    close(b->dfd);
}

/* A Chrome DevTools command through chromedriver; returns its result. */
static cJSON *wd_cdp(const wd *w, const char *cmd, const char *params_json)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"cmd\":\"%s\",\"params\":%s}", cmd, params_json);
    return wd_value(w, "POST", "/goog/cdp/execute", body);
}

static void wd_go(const wd *w, const char *url)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"url\":\"%s\"}", url);
    cJSON_Delete(wd_value(w, "POST", "/url", body));
}

/* The whole page (beyond the viewport) as <build>/artifacts/<name>. */
static void wd_save_page_png(const wd *w, const char *name)
{
    cJSON *shot = wd_cdp(w, "Page.captureScreenshot", "{\"format\":\"png\",\"captureBeyondViewport\":true}");
    const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItem(shot, "data"));
    cr_assert_not_null(b64, "no screenshot");
    size_t bl = strlen(b64);
    unsigned char *png = malloc(bl);
    cr_assert_not_null(png);
    int n = EVP_DecodeBlock(png, (const unsigned char *)b64, (int)bl);
    cr_assert_gt(n, 8);
    cr_assert_eq(memcmp(png, "\x89PNG", 4), 0, "not a PNG");
    while (n > 0 && png[n - 1] == 0)   /* base64 padding decodes to zeros */
        n--;
    char art[4096];
    snprintf(art, sizeof art, "%s/artifacts", iwt_build_dir());
    mkdir(art, 0755);
    snprintf(art, sizeof art, "%s/artifacts/%s", iwt_build_dir(), name);
    cr_assert_eq(iwt_write(art, png, (size_t)n), 0, "cannot write %s", art);
    free(png);
    cJSON_Delete(shot);
}

/* More models in the served registry (one with a long name), and a profiles
 * file with a GPU too small for any of them.  Returns the long name. */
static void add_models(srv *s, char *long_name, size_t n)
{
    char cmd[16384], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; mkdir -p fleet/Qwen fleet/mistralai fleet/google xdg/imageworks; "
             "cp -r '%s' 'fleet/Qwen/Qwen3-30B-A3B-Instruct-2507-GGUF-with-a-rather-long-folder-name'; "
             "cp -r '%s' fleet/mistralai/Mistral-Small-3.2-24B-Instruct-2506; cp -r '%s' fleet/google/gemma-3-27b-it; "
             "printf '{\"format_version\":1,\"gpus\":[{\"name\":\"tiny-gpu\",\"memory_gib\":0.03}]}' > xdg/imageworks/estimate_profiles.json; "
             "IMAGEWORKS_REGISTRY_DIR='%s' '%s' scan '%s/fleet'",
             s->tmp, iwt_fixture("models/tiny-llama"), iwt_fixture("models/tiny-llama"),
             iwt_fixture("models/tiny-llama"), s->reg, iwt_cli(), s->tmp);
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0, "%s", out);
    const char *p = strstr(out, "with-a-rather-long-folder-name -> ");
    cr_assert_not_null(p, "%s", out);
    p = strstr(p, "-> ") + 3;
    snprintf(long_name, n, "%.*s", (int)strcspn(p, "\n"), p);
    free(out);
}

/* Select `name` in the list, fill the estimate form with `form_js` and run it;
 * waits for the verdict. */
static void page_estimate(const wd *w, const char *name, const char *form_js)
{
    char js[2048];
    free(wd_wait_text(w, "document.getElementById('status').textContent", "models", 10000));
    snprintf(js, sizeof js, "var want = arguments[0], r = [].find.call(document.querySelectorAll('#models tbody tr'), "
             "function (t) { return t.dataset.name === want; }); if (!r) return false; r.click(); return true;");
    /* the name as a JSON argument, never pasted into the script */
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "script", js);
    cJSON *args = cJSON_AddArrayToObject(b, "args");
    cJSON_AddItemToArray(args, cJSON_CreateString(name));
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    cJSON *v = wd_value(w, "POST", "/execute/sync", body);
    free(body);
    if (!cJSON_IsTrue(v)) {
        cJSON *rows = wd_js(w, "return [].map.call(document.querySelectorAll('#models tbody tr'), "
                               "function (t) { return t.dataset.name; }).join(', ');");
        cr_assert_fail("no row for %s; the rows: %s", name, cJSON_GetStringValue(rows));
    }
    cJSON_Delete(v);
    free(wd_wait_text(w, "document.getElementById('card-title').textContent", name, 5000));
    free(wd_wait_text(w, "document.getElementById('card-fields').textContent", "layers4", 5000));
    cJSON_Delete(wd_js(w, form_js));
    wd_click(w, "#est-run");
    /* the error line is part of the text so that a failure shows it */
    free(wd_wait_text(w, "(document.getElementById('verdict').textContent + ' | error: ' + "
                         "document.getElementById('est-error').textContent).toLowerCase()", "fit", 10000));
}

/* A misfit on a 1 GiB card: the verdict lists its fixes (the fullest panel). */
static const char MISFIT_FORM[] =
    "document.getElementById('est-vram').value = '1GiB';"
    "document.getElementById('est-context').value = '4096';"
    "document.getElementById('est-batch').value = '512'; return true;";

/* Problems with the layout, one per line ("" when none): the page or a pane
 * scrolls sideways, an element sticks out of its pane or overflows its own
 * box, or two panes overlap. */
static const char LAYOUT_JS[] =
    "var out = [], de = document.documentElement, R = {};"
    "if (de.scrollWidth > de.clientWidth) out.push('the page scrolls sideways: ' + de.scrollWidth + ' > ' + de.clientWidth);"
    "var ids = ['list-pane', 'detail-pane', 'estimate-pane'];"
    "ids.forEach(function (id) {"
    "  var p = document.getElementById(id);"
    "  if (!p || p.hidden || !p.getClientRects().length) { out.push(id + ': missing or hidden'); return; }"
    "  var r = p.getBoundingClientRect(); R[id] = r;"
    "  if (r.left < -0.5 || r.right > de.clientWidth + 0.5) out.push(id + ': outside the viewport ' + r.left + '..' + r.right);"
    "  if (p.scrollWidth > p.clientWidth + 1) out.push(id + ': cut off, scrollWidth ' + p.scrollWidth + ' > ' + p.clientWidth);"
    "  p.querySelectorAll('*').forEach(function (e) {"
    "    var er = e.getBoundingClientRect();"
    "    if (!er.width && !er.height) return;"
    "    var what = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '');"
    "    if (er.right > r.right + 0.5 || er.left < r.left - 0.5)"
    "      out.push(id + ': ' + what + ' sticks out (' + er.left.toFixed(0) + '..' + er.right.toFixed(0) + ' of ' +"
    "               r.left.toFixed(0) + '..' + r.right.toFixed(0) + ')');"
    "    else if (e.clientWidth && e.scrollWidth > e.clientWidth + 1)"
    "      out.push(id + ': ' + what + ' overflows its box (' + e.scrollWidth + ' > ' + e.clientWidth + ')');"
    "  });"
    "});"
    "for (var i = 0; i < ids.length; i++) for (var j = i + 1; j < ids.length; j++) {"
    "  var a = R[ids[i]], b = R[ids[j]]; if (!a || !b) continue;"
    "  var x = Math.min(a.right, b.right) - Math.max(a.left, b.left), y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);"
    "  if (x > 0.5 && y > 0.5) out.push(ids[i] + ' and ' + ids[j] + ' overlap by ' + x.toFixed(0) + 'x' + y.toFixed(0) + ' px');"
    "}"
    "return out.slice(0, 25).join('\\n');";

Test(serve, page_lays_out_at_every_width)
{
    if (!have_browser())
        cr_skip_test("chromium and chromium-driver are not installed (scripts/setup.sh installs them)");
    srv s;
    start_serve(&s, NULL);
    char long_name[512];
    add_models(&s, long_name, sizeof long_name);
    browser b;
    browser_open(&b, &s);
    static const struct { int w, h; bool mobile; } sizes[] = {
        {390, 844, true}, {1024, 768, false}, {1280, 800, false}, {1600, 900, false}, {1920, 1080, false},
    };
    char url[256];
    snprintf(url, sizeof url, "%s/", s.url);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char params[256];
        snprintf(params, sizeof params, "{\"width\":%d,\"height\":%d,\"deviceScaleFactor\":1,\"mobile\":%s}",
                 sizes[i].w, sizes[i].h, sizes[i].mobile ? "true" : "false");
        cJSON_Delete(wd_cdp(&b.w, "Emulation.setDeviceMetricsOverride", params));
        wd_go(&b.w, url);
        page_estimate(&b.w, long_name, MISFIT_FORM);
        char png[64];
        snprintf(png, sizeof png, "serve_page_%d.png", sizes[i].w);
        wd_save_page_png(&b.w, png);
        cJSON *v = wd_js(&b.w, LAYOUT_JS);
        const char *problems = cJSON_GetStringValue(v);
        cr_expect(problems && !*problems, "at %d px wide (artifacts/%s):\n%s", sizes[i].w, png,
                  problems ? problems : "?");
        cJSON_Delete(v);
    }
    browser_close(&b);
    cr_assert_eq(stop_serve(&s), 0);
}

/* The line after `prefix` in text (malloc'd), or NULL. */
static char *line_after(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    if (!p)
        return NULL;
    p += strlen(prefix);
    return strndup(p, strcspn(p, "\n"));
}

Test(serve, page_shows_the_verdict_as_the_cli_does)
{
    if (!have_browser())
        cr_skip_test("chromium and chromium-driver are not installed (scripts/setup.sh installs them)");
    srv s;
    start_serve(&s, NULL);
    char long_name[512];
    add_models(&s, long_name, sizeof long_name);
    /* what the CLI says about a misfit */
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "XDG_CONFIG_HOME='%s/xdg' IMAGEWORKS_ESTIMATE_PROFILES= IMAGEWORKS_REGISTRY_DIR='%s' '%s' "
             "estimate '%s' --vram 1GiB --context 4096 --batch 512", s.tmp, s.reg, iwt_cli(), long_name);
    iwt_run(cmd, &out, NULL);
    cr_assert_not_null(out);
    char *verdict = line_after(out, "\nverdict: "), *cheapest = line_after(out, "\ncheapest: ");
    cr_assert(verdict && cheapest, "%s", out);
    free(out);

    browser b;
    browser_open(&b, &s);
    char url[256];
    snprintf(url, sizeof url, "%s/", s.url);
    wd_go(&b.w, url);
    page_estimate(&b.w, long_name, MISFIT_FORM);
    cJSON *v = wd_js(&b.w, "return document.getElementById('verdict').textContent;");
    char want[2048];
    snprintf(want, sizeof want, "verdict: %s", verdict);
    cr_expect_str_eq(cJSON_GetStringValue(v), want, "the page and the CLI word the verdict differently");
    cJSON_Delete(v);
    v = wd_js(&b.w, "var c = document.getElementById('cheapest'); return c ? c.textContent : '(no cheapest line)';");
    snprintf(want, sizeof want, "cheapest: %s", cheapest);
    cr_expect_str_eq(cJSON_GetStringValue(v), want, "the page and the CLI name the cheapest fix differently");
    cJSON_Delete(v);
    v = wd_js(&b.w, "return document.querySelectorAll('#fixes tbody tr').length > 0 && "
                    "!document.getElementById('fixes').hidden;");
    cr_expect(cJSON_IsTrue(v), "the fixes are not shown");
    cJSON_Delete(v);

    /* a GPU is chosen (too small even for the weights): the page never asks for one */
    free(wd_wait_text(&b.w, "[].map.call(document.getElementById('est-gpu').options, function (o) { return o.value; }).join()",
                      "tiny-gpu", 5000));
    cJSON_Delete(wd_js(&b.w, "document.getElementById('est-vram').value = '';"
                             "document.getElementById('est-batch').value = '';"
                             "document.getElementById('est-gpu').value = 'tiny-gpu';"
                             "document.getElementById('verdict').textContent = ''; return true;"));
    wd_click(&b.w, "#est-run");
    free(wd_wait_text(&b.w, "document.getElementById('verdict').textContent.toLowerCase()", "not fit", 10000));
    v = wd_js(&b.w, "return document.body.innerText;");
    const char *txt = cJSON_GetStringValue(v);
    cr_expect(txt && !strstr(txt, "give a GPU or VRAM"), "a GPU was chosen, yet the page asks for one:\n%s", txt);
    cr_expect(txt && strstr(txt, "the weights alone need"), "%s", txt);
    cJSON_Delete(v);
    wd_save_page_png(&b.w, "serve_page_gpu_too_small.png");
    browser_close(&b);
    free(verdict);
    free(cheapest);
    cr_assert_eq(stop_serve(&s), 0);
}

Test(serve, page_asks_for_the_token_once)
{
    if (!have_browser())
        cr_skip_test("chromium and chromium-driver are not installed (scripts/setup.sh installs them)");
    srv s;
    start_serve(&s, "s3cret-token");
    browser b;
    browser_open(&b, &s);
    /* every prompt is counted and answered with the token */
    cJSON_Delete(wd_cdp(&b.w, "Page.addScriptToEvaluateOnNewDocument",
                        "{\"source\":\"window.__prompts = 0; window.prompt = function () { "
                        "window.__prompts++; return 's3cret-token'; };\"}"));
    char url[256];
    snprintf(url, sizeof url, "%s/", s.url);
    wd_go(&b.w, url);
    free(wd_wait_text(&b.w, "document.getElementById('status').textContent", "1 model", 10000));
    /* the GPU list (the other request started at load) arrived too */
    free(wd_wait_text(&b.w, "String(document.getElementById('est-gpu').options.length > 1)", "true", 5000));
    cJSON *v = wd_js(&b.w, "return String(window.__prompts);");
    cr_expect_str_eq(cJSON_GetStringValue(v), "1", "the page asked for the token more than once");
    cJSON_Delete(v);
    browser_close(&b);
    cr_assert_eq(stop_serve(&s), 0);
}

/* ------------------------------------------------------------ concurrent writers */

typedef struct apply_job {
    const srv *s;
    char path[512];
    char body[256];
    long status;
    char error[512];
} apply_job;

static void *apply_thread(void *p)
{
    apply_job *j = p;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", j->s->url, j->path);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    iwt_http r;
    j->status = iwt_http_do(&r, "POST", url, hdrs, j->body) == 0 ? r.status : 0;
    cJSON *a = cJSON_ParseWithLength(r.body, r.body_len);
    snprintf(j->error, sizeof j->error, "%s", a && jstr(a, "error") ? jstr(a, "error") : "");
    cJSON_Delete(a);
    iwt_http_free(&r);
    return NULL;
}

/* The entry's extra_args in a registry file, printed compactly (malloc'd), or NULL. */
static char *extra_args_on_disk(const char *file, const char *name)
{
    char *txt = iwt_slurp(file, NULL);
    cJSON *arr = txt ? cJSON_Parse(txt) : NULL;
    cr_assert_not_null(arr, "%s does not parse: %.200s", file, txt ? txt : "(missing)");
    free(txt);
    char *out = NULL;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        if (jstr(e, "name") && !strcmp(jstr(e, "name"), name))
            out = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args"));
    cJSON_Delete(arr);
    return out;
}

static bool entry_on_disk(const char *file, const char *name)
{
    char *txt = iwt_slurp(file, NULL);
    cJSON *arr = txt ? cJSON_Parse(txt) : NULL;
    cr_assert_not_null(arr, "%s does not parse", file);
    free(txt);
    bool found = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        found |= jstr(e, "name") && !strcmp(jstr(e, "name"), name);
    cJSON_Delete(arr);
    return found;
}

/* Two entries applied by 4 concurrent requests a round for 30 rounds while
 * CLI processes scan and remove other entries: every apply answered 200 is
 * on disk after its round, every scanned entry is there at the end, and a
 * failed write would be a 5xx, never 409. */
Test(serve, concurrent_applies_and_cli_writers_lose_nothing)
{
    srv s;
    start_serve(&s, NULL);
    /* a second entry */
    char cmd[16384], *out = NULL;
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/models2/demo2' && cp -r '%s' '%s/models2/demo2/other-llama' && "
             "IMAGEWORKS_REGISTRY_DIR='%s' '%s' scan '%s/models2'", s.tmp, iwt_fixture("models/tiny-llama"), s.tmp,
             s.reg, iwt_cli(), s.tmp);
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0, "%s", out);
    char *arrow = strstr(out, "-> ");
    cr_assert_not_null(arrow, "%s", out);
    char name2[128];
    snprintf(name2, sizeof name2, "%.*s", (int)strcspn(arrow + 3, "\n"), arrow + 3);
    free(out);
    /* CLI writers meanwhile: scan 12 more installs, removing every other one */
    snprintf(cmd, sizeof cmd,
             "export IMAGEWORKS_REGISTRY_DIR='%s'; i=0; while [ $i -lt 12 ]; do "
             "mkdir -p '%s/cli/'$i && cp -r '%s' '%s/cli/'$i/cli-model-$i && "
             "'%s' scan '%s/cli/'$i >/dev/null || exit 1; "
             "if [ $((i %% 2)) = 1 ]; then '%s' remove cli-model-${i}_'(BF16)' >/dev/null || exit 2; fi; "
             "i=$((i+1)); done", s.reg, s.tmp, iwt_fixture("models/tiny-llama"), s.tmp, iwt_cli(), s.tmp, iwt_cli());
    pid_t cli = fork();
    cr_assert_geq(cli, 0);
    if (cli == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    const char *names[2] = {s.name, name2};
    char *esc[2] = {curl_easy_escape(NULL, s.name, 0), curl_easy_escape(NULL, name2, 0)};
    char snap[4200], disc[4200];
    snprintf(snap, sizeof snap, "%s/model_registry.json", s.reg);
    snprintf(disc, sizeof disc, "%s/model_registry.discovered.json", s.reg);
    int ok = 0;
    for (int round = 0; round < 30; round++) {
        apply_job jobs[4];
        pthread_t th[4];
        for (int k = 0; k < 4; k++) {
            jobs[k].s = &s;
            snprintf(jobs[k].path, sizeof jobs[k].path, "/models/%s/apply", esc[k % 2]);
            snprintf(jobs[k].body, sizeof jobs[k].body, "{\"gpu\":\"rtx4090\",\"context\":%d}",
                     (k % 2 ? 2000 : 1000) + round);
            cr_assert_eq(pthread_create(&th[k], NULL, apply_thread, &jobs[k]), 0);
        }
        for (int k = 0; k < 4; k++)
            pthread_join(th[k], NULL);
        for (int k = 0; k < 4; k++) {
            cr_assert_neq(jobs[k].status, 409, "round %d: a write failure answered 409: %s", round, jobs[k].error);
            cr_assert(jobs[k].status == 200 || jobs[k].status >= 500, "round %d: status %ld: %s", round,
                      jobs[k].status, jobs[k].error);
            if (jobs[k].status >= 500)
                cr_assert(jobs[k].error[0], "round %d: a 5xx without its cause", round);
        }
        for (int e = 0; e < 2; e++) {
            bool answered = jobs[e].status == 200 || jobs[e + 2].status == 200;
            if (!answered)
                continue;
            ok++;
            char want[64];
            snprintf(want, sizeof want, "\"--max-model-len\",\"%d\"", (e ? 2000 : 1000) + round);
            const char *files[2] = {disc, snap};
            for (int f = 0; f < 2; f++) {
                char *xa = extra_args_on_disk(files[f], names[e]);
                cr_assert(xa && strstr(xa, want), "round %d: an apply answered 200 is not in %s: want %s, have %s",
                          round, files[f], want, xa ? xa : "(no entry)");
                free(xa);
            }
        }
    }
    int st;
    cr_assert_eq(waitpid(cli, &st, 0), cli);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the CLI writers failed (%d)", st);
    cr_assert_geq(ok, 50, "only %d of 60 entry-rounds were applied", ok);
    for (int i = 0; i < 12; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "cli-model-%d_(BF16)", i);
        for (int f = 0; f < 2; f++) {
            const char *file = f ? snap : disc;
            cr_assert_eq(entry_on_disk(file, nm), i % 2 == 0, "%s: entry %s %s", file, nm,
                         i % 2 == 0 ? "scanned but missing" : "removed but present");
        }
    }
    for (int e = 0; e < 2; e++) {
        cr_assert(entry_on_disk(snap, names[e]));
        curl_free(esc[e]);
    }
    cr_assert_eq(stop_serve(&s), 0);
}
