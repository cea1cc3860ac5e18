/* dltest.h - shared helpers of the downloader suites (static, header-only). */
#ifndef DLTEST_H
#define DLTEST_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hubtest.h"
#include "iwtest.h"
#include "iwdl/download.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/hash.h"
#include "iwdl/hub.h"

#include <time.h>
static inline uint64_t iw_now_ms_test(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Deterministic pseudo-random content of n bytes. */
static inline char *dl_bytes(size_t n, uint32_t seed)
{
    char *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = (char)(x >> 24);
    }
    return p;
}

static inline void dl_put(const char *root, const char *repo, const char *path, size_t n, uint32_t seed)
{
    char full[4096];
    snprintf(full, sizeof full, "%s/%s/%s", root, repo, path);
    char *b = dl_bytes(n, seed);
    cr_assert_eq(iwt_write(full, b, n), 0, "cannot write %s", full);
    free(b);
}

static inline void dl_put_text(const char *root, const char *repo, const char *path, const char *text)
{
    char full[4096];
    snprintf(full, sizeof full, "%s/%s/%s", root, repo, path);
    cr_assert_eq(iwt_write(full, text, strlen(text)), 0);
}

/* A state file of the plain layout (iw_dl_state_path: beside the folder). */
static inline void dl_state_file(const char *dest, const char *leaf, char *out, size_t n)
{
    char *p = NULL;
    cr_assert_eq(iw_dl_state_path(dest, leaf, &p), 0);
    snprintf(out, n, "%s", p);
    free(p);
}

/* How many partial data/state files the plain layout has for dest. */
static inline int dl_partials(const char *dest)
{
    char probe[4096], cmd[8192];
    dl_state_file(dest, "", probe, sizeof probe);
    const char *slash = strrchr(probe, '/');
    snprintf(cmd, sizeof cmd, "ls -A '%.*s' | grep -c '^%s.*\\.\\(part\\|state\\)$'", (int)(slash - probe), probe,
             slash + 1);
    char *n = NULL;
    iwt_run(cmd, &n, NULL);
    int k = n ? atoi(n) : -1;
    free(n);
    return k;
}

static inline iw_hub *dl_hub(const iwt_hub *h, const char *token)
{
    iw_hub_options o = IW_HUB_OPTIONS_INIT;
    o.endpoint = h->hub_url;
    o.token = token ? token : "";
    o.offline = 0;
    o.timeout_s = 5;
    iw_hub *hub = NULL;
    cr_assert_eq(iw_hub_new(&hub, &o), 0, "%s", iw_error_last());
    return hub;
}

static inline void dl_opts(iw_dl_options *o, const char *dest)
{
    iw_dl_options_init(o);
    o->dest = dest;
    o->retry_base_ms = 50;
}

/* Sum of "bytes" in the log for host ("hub"/"cdn"), optionally only requests
 * whose path contains `sub`; *n_req counts them, *n_auth those with auth. */
static inline uint64_t dl_log_bytes(iwt_hub *h, const char *host, const char *sub, int *n_req, int *n_auth)
{
    cJSON *log = iwt_hub_log_json(h);
    cr_assert_not_null(log, "cannot read the fakehub log");
    uint64_t sum = 0;
    int nr = 0, na = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, log) {
        const char *hh = cJSON_GetStringValue(cJSON_GetObjectItem(it, "host"));
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(it, "path"));
        if (host && (!hh || strcmp(hh, host)))
            continue;
        if (sub && (!p || !strstr(p, sub)))
            continue;
        nr++;
        if (cJSON_IsTrue(cJSON_GetObjectItem(it, "auth")))
            na++;
        sum += (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "bytes"));
    }
    cJSON_Delete(log);
    if (n_req) *n_req = nr;
    if (n_auth) *n_auth = na;
    return sum;
}

/* Number of logged requests to host whose Range starts at none of the n
 * offsets in starts (requests without a Range count too). */
static inline int dl_log_count_range_not_starting(iwt_hub *h, const char *host, const uint64_t *starts, size_t n)
{
    cJSON *log = iwt_hub_log_json(h);
    cr_assert_not_null(log, "cannot read the fakehub log");
    int count = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, log) {
        const char *hh = cJSON_GetStringValue(cJSON_GetObjectItem(it, "host"));
        const char *rg = cJSON_GetStringValue(cJSON_GetObjectItem(it, "range"));
        if (!hh || strcmp(hh, host))
            continue;
        unsigned long long a;
        bool known = false;
        if (rg && sscanf(rg, "bytes=%llu-", &a) == 1)
            for (size_t i = 0; i < n; i++)
                if (starts[i] == (uint64_t)a)
                    known = true;
        if (!known)
            count++;
    }
    cJSON_Delete(log);
    return count;
}

/* Hash of a file: sha256 or git blob sha1. */
static inline void dl_file_hash(const char *path, bool lfs, char out[65])
{
    int rc = lfs ? iw_hash_file_hex(path, IW_HASH_SHA256, out, 65) : iw_git_blob_sha1_file(path, out);
    cr_assert_eq(rc, 0, "cannot hash %s: %s", path, iw_error_last());
}

static inline void dl_same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    char *x = iwt_slurp(a, &la), *y = iwt_slurp(b, &lb);
    cr_assert_not_null(x, "missing %s", a);
    cr_assert_not_null(y, "missing %s", b);
    cr_assert_eq(la, lb, "%s: %zu bytes, %s: %zu bytes", a, la, b, lb);
    cr_assert(memcmp(x, y, la) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* Run the CLI against fakehub with every location private to `home`
 * (registry, model root, HF_HOME, XDG dirs) and no token or offline mode
 * inherited; `env` ("K=V ...", may be "") comes last so it wins. */
static inline int dl_cli(const iwt_hub *h, const char *home, const char *env, const char *args,
                         char **out, char **err)
{
    char cmd[32768];
    snprintf(cmd, sizeof cmd,
             "HF_ENDPOINT=%s HF_TOKEN= HUGGING_FACE_HUB_TOKEN= HF_TOKEN_PATH=/nonexistent HF_HUB_OFFLINE= "
             "TRANSFORMERS_OFFLINE= HF_HUB_CACHE= HF_HOME=%s/hf XDG_CACHE_HOME=%s/xdg-cache "
             "XDG_CONFIG_HOME=%s/xdg-config IMAGEWORKS_REGISTRY_DIR=%s/reg IMAGEWORKS_MODEL_ROOT=%s/models "
             "HF_HUB_DOWNLOAD_TIMEOUT= IMAGEWORKS_UNPACK_MAX_BYTES= %s %s %s",
             h->hub_url, home, home, home, home, home, env ? env : "", iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

/* The only entry of <home>/reg/model_registry.discovered.json (cJSON_Delete
 * *root when done). */
static inline const cJSON *dl_only_entry(const char *home, cJSON **root)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/reg/model_registry.discovered.json", home);
    char *s = iwt_slurp(p, NULL);
    cr_assert_not_null(s, "%s missing", p);
    *root = cJSON_Parse(s);
    free(s);
    cr_assert(cJSON_IsArray(*root), "%s is not a JSON array", p);
    cr_assert_eq(cJSON_GetArraySize(*root), 1, "expected one registry entry");
    return cJSON_GetArrayItem(*root, 0);
}

/* Number of logged requests whose path contains sub (any host). */
static inline int dl_log_count(iwt_hub *h, const char *sub)
{
    int n = 0;
    dl_log_bytes(h, NULL, sub, &n, NULL);
    return n;
}

#endif
