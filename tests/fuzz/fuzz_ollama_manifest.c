/* fuzz_ollama_manifest.c - libFuzzer harness: an Ollama manifest read from
 * a store (iw_ollama_resolve: layers, digests, media types, blobs that must
 * stay inside the store), in a private temp store with a few blobs present.
 * The manifest is written to manifests/registry.ollama.ai/library/m/latest. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/ollama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_root[256], g_real[4096], g_man[400];
/* blobs present in the store (digests the seeds use) */
static const char *const BLOBS[] = {
    "0000000000000000000000000000000000000000000000000000000000000001",
    "0000000000000000000000000000000000000000000000000000000000000002",
    "0000000000000000000000000000000000000000000000000000000000000003",
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

/* the private temp folder goes when the process ends */
static void cleanup(void)
{
    nftw(g_root, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/fuzz-ollama-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_root) || !realpath(g_root, g_real))
        abort();
    atexit(cleanup);
    char p[512];
    snprintf(p, sizeof p, "%s/manifests/registry.ollama.ai/library/m", g_root);
    if (iw_mkdir_p(p, 0755) < 0)
        abort();
    snprintf(g_man, sizeof g_man, "%s/latest", p);
    snprintf(p, sizeof p, "%s/blobs", g_root);
    if (iw_mkdir_p(p, 0755) < 0)
        abort();
    for (size_t i = 0; i < sizeof BLOBS / sizeof *BLOBS; i++) {
        snprintf(p, sizeof p, "%s/blobs/sha256-%s", g_root, BLOBS[i]);
        FILE *f = fopen(p, "w");
        if (!f)
            abort();
        fputs("blob", f);
        fclose(f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_root[0])
        setup();
    FILE *f = fopen(g_man, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    iw_ollama_ref ref;
    if (iw_ollama_parse_ref("m:latest", &ref) < 0)
        abort();
    iw_ollama_manifest m;
    if (iw_ollama_resolve(&ref, g_root, &m) == 0) {
        size_t rl = strlen(g_real);
        for (size_t i = 0; i < m.n_layers; i++)   /* every kept blob is inside the store */
            if (m.layers[i].path && strncmp(m.layers[i].path, g_real, rl))
                abort();
        (void)iw_ollama_manifest_find(&m, IW_OLLAMA_LAYER_MODEL);
        iw_ollama_manifest_free(&m);
    }
    iw_error_clear();
    return 0;
}
