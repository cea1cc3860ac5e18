/* main.c - fakehub command line: a loopback Hugging Face Hub for tests
 * (docs/fakehub.md). */
#include "fakehub.h"

#include <microhttpd.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

fh_config g_fh;

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "fakehub: %s\n", msg);
    fprintf(stderr,
        "usage: fakehub --root DIR [--host 127.0.0.1] [--port 0] [--cdn-host 127.0.0.2] [--cdn-port 0]\n"
        "               [--page-size N] [--lfs-threshold BYTES] [--log FILE] [--ready-file FILE]\n"
        "               [--no-prehash]\n"
        "       fakehub --make-demo DIR\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int write_ready(const char *path, const char *line)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fputs(line, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *root = NULL, *demo = NULL;
    bool prehash = true;
    uint64_t v;
    g_fh.host = "127.0.0.1";
    g_fh.cdn_host = "127.0.0.2";
    g_fh.page_size = 50;
    g_fh.lfs_threshold = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDVAL() do { if (!val) return usage("option needs a value"); i++; } while (0)
        if (strcmp(a, "--root") == 0) { NEEDVAL(); root = val; }
        else if (strcmp(a, "--make-demo") == 0) { NEEDVAL(); demo = val; }
        else if (strcmp(a, "--host") == 0) { NEEDVAL(); g_fh.host = val; }
        else if (strcmp(a, "--cdn-host") == 0) { NEEDVAL(); g_fh.cdn_host = val; }
        else if (strcmp(a, "--port") == 0) {
            NEEDVAL();
            if (parse_u64(val, 65535, &v) < 0) return usage("--port must be 0..65535");
            g_fh.port = (unsigned)v;
        } else if (strcmp(a, "--cdn-port") == 0) {
            NEEDVAL();
            if (parse_u64(val, 65535, &v) < 0) return usage("--cdn-port must be 0..65535");
            g_fh.cdn_port = (unsigned)v;
        } else if (strcmp(a, "--page-size") == 0) {
            NEEDVAL();
            if (parse_u64(val, 100000, &v) < 0 || v == 0) return usage("--page-size must be 1..100000");
            g_fh.page_size = (size_t)v;
        } else if (strcmp(a, "--lfs-threshold") == 0) {
            NEEDVAL();
            if (parse_u64(val, UINT64_MAX, &v) < 0) return usage("--lfs-threshold must be a byte count");
            g_fh.lfs_threshold = v;
        } else if (strcmp(a, "--log") == 0) { NEEDVAL(); g_fh.log_path = val; }
        else if (strcmp(a, "--ready-file") == 0) { NEEDVAL(); g_fh.ready_file = val; }
        else if (strcmp(a, "--no-prehash") == 0) { prehash = false; }
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(NULL); return 0; }
        else {
            fprintf(stderr, "fakehub: unknown option %s\n", a);
            return usage(NULL);
        }
#undef NEEDVAL
    }
    if (demo) {
        if (fh_make_demo(demo) < 0)
            return 1;
        return 0;
    }
    if (!root)
        return usage("--root DIR is required");
    g_fh.root = realpath(root, NULL);
    struct stat st;
    if (!g_fh.root || stat(g_fh.root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "fakehub: --root %s is not a directory\n", root);
        free(g_fh.root);
        return 1;
    }

    char msg[512];
    if (fh_control_init(g_fh.log_path, msg, sizeof msg) < 0) {
        fprintf(stderr, "fakehub: %s\n", msg);
        free(g_fh.root);
        return 1;
    }

    if (prehash)
        fh_prehash_all();

    /* the daemons' threads inherit this mask; main waits for the signals */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    unsigned hub_port = 0, cdn_port = 0;
    struct MHD_Daemon *cdn = NULL;
    struct MHD_Daemon *hub = fh_server_start(FH_HUB, g_fh.host, g_fh.port, &hub_port);
    if (!hub) {
        fprintf(stderr, "fakehub: cannot listen on hub address %s port %u\n", g_fh.host, g_fh.port);
        goto cleanup;
    }
    snprintf(g_fh.hub_url, sizeof g_fh.hub_url, "http://%s:%u", g_fh.host, hub_port);
    /* the CDN URL is needed by hub handlers, so bind it before announcing */
    cdn = fh_server_start(FH_CDN, g_fh.cdn_host, g_fh.cdn_port, &cdn_port);
    if (!cdn) {
        fprintf(stderr, "fakehub: cannot listen on CDN address %s port %u "
                "(the CDN must be a second loopback address; is %s on the lo interface?)\n",
                g_fh.cdn_host, g_fh.cdn_port, g_fh.cdn_host);
        goto cleanup;
    }
    snprintf(g_fh.cdn_url, sizeof g_fh.cdn_url, "http://%s:%u", g_fh.cdn_host, cdn_port);

    char line[300];
    snprintf(line, sizeof line, "%s %s\n", g_fh.hub_url, g_fh.cdn_url);
    if (g_fh.ready_file && write_ready(g_fh.ready_file, line) < 0) {
        fprintf(stderr, "fakehub: cannot write ready file %s: %s\n", g_fh.ready_file, strerror(errno));
        goto cleanup;
    }
    fputs(line, stdout);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    rc = 0;
cleanup:
    fh_server_stopping();
    if (hub)
        MHD_stop_daemon(hub);
    if (cdn)
        MHD_stop_daemon(cdn);
    fh_control_shutdown();
    fh_hash_cache_free();
    free(g_fh.root);
    return rc;
}
