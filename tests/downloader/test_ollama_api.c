/* test_ollama_api.c - POST /api/show against a stub Ollama server.
 *
 * The stub is a few lines of POSIX sockets in a thread (the downloader test
 * executables do not link libmicrohttpd): it listens on 127.0.0.1, records
 * each request (request line, headers, body) and answers with a canned
 * status and body, e.g. tests/fixtures/ollama/show_llama.json. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/inspect.h"
#include "iwdl/ollama_api.h"
#include "iwtest.h"

typedef struct stub {
    int fd;
    int port;
    pthread_t th;
    int status;
    const char *body;       /* answer body */
    size_t body_len;
    char request[8192];     /* request line + headers */
    char *req_body;         /* malloc'd */
    int served;
} stub;

static void *stub_main(void *arg)
{
    stub *s = arg;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t got = 0;
    char *hdr_end = NULL;
    while (got + 1 < sizeof s->request && !hdr_end) {
        ssize_t n = read(c, s->request + got, sizeof s->request - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        s->request[got] = 0;
        hdr_end = strstr(s->request, "\r\n\r\n");
    }
    size_t clen = 0;
    const char *cl = strcasestr(s->request, "\r\ncontent-length:");
    if (cl)
        clen = strtoul(cl + 17, NULL, 10);
    s->req_body = calloc(1, clen + 1);
    if (hdr_end && s->req_body) {
        size_t have = got - (size_t)(hdr_end + 4 - s->request);
        if (have > clen)
            have = clen;
        memcpy(s->req_body, hdr_end + 4, have);
        while (have < clen) {
            ssize_t n = read(c, s->req_body + have, clen - have);
            if (n <= 0)
                break;
            have += (size_t)n;
        }
        *hdr_end = 0;
    }
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d X\r\nContent-Type: application/json; charset=utf-8\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", s->status, s->body_len);
    if (write(c, head, (size_t)hl) < 0 || write(c, s->body, s->body_len) < 0)
        perror("stub write");
    s->served++;
    close(c);
    return NULL;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void stub_start(stub *s, int status, const char *body, size_t len)
{
    memset(s, 0, sizeof *s);
    s->status = status;
    s->body = body;
    s->body_len = len;
    s->fd = listen_loopback(&s->port);
    cr_assert_eq(listen(s->fd, 4), 0);
    cr_assert_eq(pthread_create(&s->th, NULL, stub_main, s), 0);
}

static void stub_stop(stub *s)
{
    pthread_join(s->th, NULL);
    close(s->fd);
}

static void stub_free(stub *s)
{
    free(s->req_body);
    s->req_body = NULL;
}

static char *host_of(const stub *s)
{
    char *h = NULL;
    cr_assert(asprintf(&h, "127.0.0.1:%d", s->port) > 0);
    return h;
}

static bool one_line(const char *m) { return m && *m && !strchr(m, '\n'); }

/* The server's answer through the inspection pipeline, as the tool wires
 * it (tools/imageworks-download/target.c): the provider only fetches. */
static int api_extract(const char *ref, const char *host, iw_arch *a)
{
    iw_provider *p = NULL;
    int rc = iw_ollama_api_provider_new(&p, ref, host);
    if (rc == 0)
        rc = iw_inspect(p, NULL, a);
    iw_provider_free(p);
    return rc;
}

/* Store first, then the server when the store lacks the model. */
static int extract_auto(const char *ref, const char *root, const char *host, iw_arch *a)
{
    iw_provider *store = NULL, *server = NULL, *p = NULL;
    int rc = iw_provider_ollama_store(&store, ref, root);
    if (rc == 0 && (rc = iw_ollama_api_provider_new(&server, ref, host)) < 0)
        iw_provider_free(store);
    if (rc == 0 && (rc = iw_provider_chain(&p, store, server, "the server")) == 0)
        rc = iw_inspect(p, NULL, a);
    iw_provider_free(p);
    return rc;
}

Test(ollama_api, show_maps_model_info)
{
    size_t len;
    char *body = iwt_slurp(iwt_fixture("ollama/show_llama.json"), &len);
    cr_assert(body);
    stub s;
    stub_start(&s, 200, body, len);
    char *host = host_of(&s);
    iw_arch a;
    iw_arch_init(&a);
    int rc = api_extract("ollama:/llama3.2:3b", host, &a);
    stub_stop(&s);
    cr_assert_eq(rc, 0, "%s", iw_error_last());

    /* the request */
    cr_expect(strncmp(s.request, "POST /api/show HTTP/1.1\r\n", 25) == 0, "%s", s.request);
    cr_expect(strcasestr(s.request, "\r\nContent-Type: application/json"), "%s", s.request);
    cJSON *req = cJSON_Parse(s.req_body);
    cr_assert(req, "request body not JSON: %s", s.req_body);
    cr_expect_str_eq(cJSON_GetObjectItem(req, "model")->valuestring, "llama3.2:3b");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(req, "verbose")));
    cJSON_Delete(req);
    stub_free(&s);

    /* the mapping */
    cr_expect_str_eq(a.source, "ollama-api");
    cr_expect_str_eq(a.model_type, "llama");
    cr_expect_eq(a.num_layers, 28);
    cr_expect_eq(a.num_kv_heads, 8);
    cr_expect_eq(a.hidden_size, 3072);
    cr_expect_eq(a.context_length, 131072);
    cr_expect_eq(a.ollama_num_ctx, 4096);
    cr_expect_eq(a.parameters.total, 3212749888LL);
    cr_expect(iw_strlist_contains(&a.sources, "ollama:llama3.2:3b"));
    char src[128];
    snprintf(src, sizeof src, "ollama-api:http://127.0.0.1:%d/api/show", s.port);
    cr_expect(iw_strlist_contains(&a.sources, src), "missing %s", src);
    iw_arch_free(&a);
    free(host);
    free(body);
}

Test(ollama_api, ollama_host_from_environment)
{
    size_t len;
    char *body = iwt_slurp(iwt_fixture("ollama/show_vision.json"), &len);
    cr_assert(body);
    stub s;
    stub_start(&s, 200, body, len);
    char *host = NULL;
    cr_assert(asprintf(&host, "http://127.0.0.1:%d/", s.port) > 0);
    setenv("OLLAMA_HOST", host, 1);
    iw_arch a;
    iw_arch_init(&a);
    int rc = api_extract("hf.co/someone/Llava-GGUF:Q4_0", NULL, &a);
    stub_stop(&s);
    cr_assert_eq(rc, 0, "%s", iw_error_last());
    cJSON *req = cJSON_Parse(s.req_body);
    cr_assert(req);
    cr_expect_str_eq(cJSON_GetObjectItem(req, "model")->valuestring, "hf.co/someone/Llava-GGUF:Q4_0");
    cJSON_Delete(req);
    stub_free(&s);
    cr_expect(a.has_vision);
    cr_expect_eq(a.vision.image_size, 336);
    iw_arch_free(&a);
    free(host);
    free(body);
}

Test(ollama_api, not_found)
{
    const char *body = "{\"error\":\"model 'nothere' not found\"}";
    stub s;
    stub_start(&s, 404, body, strlen(body));
    char *host = host_of(&s);
    iw_arch a;
    iw_arch_init(&a);
    int rc = api_extract("nothere", host, &a);
    stub_stop(&s);
    stub_free(&s);
    cr_expect_eq(rc, IW_ENOTFOUND, "%d %s", rc, iw_error_last());
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), "nothere:latest") && strstr(iw_error_last(), "ollama pull") &&
              strstr(iw_error_last(), "model 'nothere' not found"), "%s", iw_error_last());
    iw_arch_free(&a);
    free(host);
}

Test(ollama_api, server_error_and_garbage)
{
    const char *body = "{\"error\":\"boom\\n\\u0007\"}";
    stub s;
    stub_start(&s, 500, body, strlen(body));
    char *host = host_of(&s);
    iw_arch a;
    iw_arch_init(&a);
    int rc = api_extract("x:y", host, &a);
    stub_stop(&s);
    stub_free(&s);
    cr_expect_eq(rc, IW_EHTTP);
    cr_expect(one_line(iw_error_last()), "%s", iw_error_last());
    cr_expect(strstr(iw_error_last(), "500") && strstr(iw_error_last(), "boom"), "%s", iw_error_last());
    free(host);

    const char *junk = "<html>hello</html>";
    stub_start(&s, 200, junk, strlen(junk));
    host = host_of(&s);
    rc = api_extract("x:y", host, &a);
    stub_stop(&s);
    stub_free(&s);
    cr_expect_eq(rc, IW_EFORMAT, "%s", iw_error_last());
    cr_expect(one_line(iw_error_last()));
    iw_arch_free(&a);
    free(host);
}

Test(ollama_api, connection_refused_names_ollama_host)
{
    int port;
    int fd = listen_loopback(&port);   /* bound, never listening: connect is refused */
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", port);
    iw_arch a;
    iw_arch_init(&a);
    int rc = api_extract("llama3.2:3b", host, &a);
    close(fd);
    cr_expect_eq(rc, IW_ENET, "%d %s", rc, iw_error_last());
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), "OLLAMA_HOST") && strstr(iw_error_last(), host), "%s", iw_error_last());
    cr_expect_eq(a.num_layers, IW_UNKNOWN);
    iw_arch_free(&a);
    /* a bad reference never reaches the network */
    iw_arch_init(&a);
    cr_expect_eq(api_extract("ollama:../x", host, &a), IW_EINVAL);
    iw_arch_free(&a);
}

Test(ollama_api, host_url)
{
    struct { const char *in, *out; } ok[] = {
        { "127.0.0.1:11434", "http://127.0.0.1:11434" },
        { "localhost", "http://localhost:11434" },
        { "0.0.0.0", "http://0.0.0.0:11434" },
        { ":8080", "http://127.0.0.1:8080" },
        { "http://gpu-box", "http://gpu-box:80" },
        { "https://ollama.example:8443/", "https://ollama.example:8443" },
        { "https://example.org/ollama/", "https://example.org:443/ollama" },
        { "  imageworks-ollama:11434 ", "http://imageworks-ollama:11434" },
        { "[::1]:11434", "http://[::1]:11434" },
        { "[::1]", "http://[::1]:11434" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *u = NULL;
        cr_assert_eq(iw_ollama_host_url(ok[i].in, &u), 0, "%s: %s", ok[i].in, iw_error_last());
        cr_expect_str_eq(u, ok[i].out, "%s", ok[i].in);
        free(u);
    }
    unsetenv("OLLAMA_HOST");
    char *u = NULL;
    cr_assert_eq(iw_ollama_host_url(NULL, &u), 0);
    cr_expect_str_eq(u, "http://127.0.0.1:11434");
    free(u);
    const char *bad[] = { "ftp://x", "host:0", "host:99999", "host:12a", "user@host", "ho st",
                          "[::1", "[::1]x", "host:", "a\\b" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iw_error_clear();
        cr_expect_eq(iw_ollama_host_url(bad[i], &u), IW_EINVAL, "accepted '%s'", bad[i]);
        cr_expect(one_line(iw_error_last()));
    }
}

/* ---- store first, then the server ---------------------------------------- */

Test(ollama_api, auto_falls_back_only_when_not_in_the_store)
{
    char *root = iwt_tmpdir("ollama-auto");
    cr_assert(root);
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/blobs/.keep", root) > 0);
    cr_assert_eq(iwt_write(p, "", 0), 0);
    free(p);
    /* a store holding one broken manifest */
    cr_assert(asprintf(&p, "%s/manifests/registry.ollama.ai/library/broken/latest", root) > 0);
    const char *bad = "{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:../../x\"}]}";
    cr_assert_eq(iwt_write(p, bad, strlen(bad)), 0);
    free(p);

    size_t len;
    char *body = iwt_slurp(iwt_fixture("ollama/show_llama.json"), &len);
    cr_assert(body);
    stub s;
    stub_start(&s, 200, body, len);
    char *host = host_of(&s);
    iw_arch a;
    iw_arch_init(&a);
    /* not in the store: the server answers */
    int rc = extract_auto("ollama:/llama3.2:3b", root, host, &a);
    stub_stop(&s);
    stub_free(&s);
    cr_assert_eq(rc, 0, "%s", iw_error_last());
    cr_expect_str_eq(a.source, "ollama-api");
    cr_expect_eq(a.num_layers, 28);
    iw_arch_free(&a);
    cr_expect_eq(s.served, 1);

    /* a store error other than "not found" is not masked (no server contacted) */
    int port;
    int fd = listen_loopback(&port);
    char refused[64];
    snprintf(refused, sizeof refused, "127.0.0.1:%d", port);
    iw_arch_init(&a);
    cr_expect_eq(extract_auto("ollama:/broken:latest", root, refused, &a), IW_EFORMAT);
    cr_expect(strstr(iw_error_last(), "digest"), "%s", iw_error_last());

    /* neither: one line naming both */
    cr_expect_eq(extract_auto("ollama:/nothere:latest", root, refused, &a), IW_ENET);
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), "ollama pull") && strstr(iw_error_last(), "OLLAMA_HOST"), "%s", iw_error_last());
    close(fd);
    iw_arch_free(&a);
    free(host);
    free(body);
    iwt_rm_rf(root);
    free(root);
}
