/* test_ollama_verify.c - iw_ollama_verify_model(_each): every blob a
 * manifest names, the config blob included, checked against the sha256 in
 * its name, each reported (what `verify` prints). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/hash.h"
#include "iwdl/ollama.h"
#include "iwtest.h"

static char *root;
static char model[65], params[65], config[65];

static void put_blob(const char *data, char hex[65])
{
    cr_assert_eq(iw_sha256_hex(data, strlen(data), hex), 0);
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/blobs/sha256-%s", root, hex) > 0);
    cr_assert_eq(iwt_write(p, data, strlen(data)), 0);
    free(p);
}

static void setup(void)
{
    root = iwt_tmpdir("ollama-verify");
    cr_assert(root);
    put_blob("GGUF-not-parsed-by-verify", model);
    put_blob("{\"num_ctx\": 4096}", params);
    put_blob("{\"model_format\":\"gguf\",\"model_family\":\"llama\"}", config);
    char *m = NULL, *p = NULL;
    cr_assert(asprintf(&m, "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\"},\"layers\":["
                           "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\"},"
                           "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\"}]}",
                       config, model, params) > 0);
    cr_assert(asprintf(&p, "%s/manifests/registry.ollama.ai/library/tiny/latest", root) > 0);
    cr_assert_eq(iwt_write(p, m, strlen(m)), 0);
    free(m);
    free(p);
    iw_error_clear();
}

static void teardown(void)
{
    iwt_rm_rf(root);
    free(root);
}

typedef struct tally { int ok, missing, changed, unsafe; char last[1024]; } tally;

static void count(iw_ollama_check st, const char *msg, void *ctx)
{
    tally *t = ctx;
    switch (st) {
    case IW_OLLAMA_BLOB_OK: t->ok++; break;
    case IW_OLLAMA_BLOB_MISSING: t->missing++; break;
    case IW_OLLAMA_BLOB_CHANGED: t->changed++; break;
    case IW_OLLAMA_BLOB_UNSAFE: t->unsafe++; break;
    }
    if (msg)
        snprintf(t->last, sizeof t->last, "%s", msg);
}

static void corrupt(const char *hex)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/blobs/sha256-%s", root, hex) > 0);
    cr_assert_eq(iwt_write(p, "something else", 14), 0);
    free(p);
}

Test(ollama_verify, every_blob_is_reported, .init = setup, .fini = teardown)
{
    tally t = { 0 };
    cr_assert_eq(iw_ollama_verify_model_each("tiny", root, count, &t), 0, "%s", iw_error_last());
    cr_expect_eq(t.ok, 3, "model, params and config blobs: %d ok", t.ok);
}

/* Regression: the config blob was checked by the command only, so the
 * library called a model with a corrupt config blob sound. */
Test(ollama_verify, config_blob_is_checked, .init = setup, .fini = teardown)
{
    corrupt(config);
    cr_expect_eq(iw_ollama_verify_model("tiny", root), IW_EVERIFY);
    cr_expect(strstr(iw_error_last(), config), "%s", iw_error_last());
    tally t = { 0 };
    cr_expect_eq(iw_ollama_verify_model_each("tiny", root, count, &t), IW_EVERIFY);
    cr_expect_eq(t.ok, 2);
    cr_expect_eq(t.changed, 1);
}

Test(ollama_verify, missing_blobs_are_problems, .init = setup, .fini = teardown)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/blobs/sha256-%s", root, params) > 0);
    cr_assert_eq(remove(p), 0);
    free(p);
    tally t = { 0 };
    cr_expect_eq(iw_ollama_verify_model_each("tiny", root, count, &t), IW_ENOTFOUND);
    cr_expect_eq(t.missing, 1);
    cr_expect(strstr(t.last, params) && strstr(t.last, "params layer of tiny:latest"), "%s", t.last);
    /* the first problem's message stays the error, after later sound blobs */
    cr_expect(strstr(iw_error_last(), params), "%s", iw_error_last());

    cr_assert(asprintf(&p, "%s/blobs/sha256-%s", root, config) > 0);
    cr_assert_eq(remove(p), 0);
    free(p);
    memset(&t, 0, sizeof t);
    cr_expect_eq(iw_ollama_verify_model_each("tiny", root, count, &t), IW_ENOTFOUND);
    cr_expect_eq(t.missing, 2);
    cr_expect(strstr(t.last, "config blob not found"), "%s", t.last);
}

Test(ollama_verify, unresolvable_model_reports_nothing, .init = setup, .fini = teardown)
{
    tally t = { 0 };
    cr_expect_eq(iw_ollama_verify_model_each("nothere", root, count, &t), IW_ENOTFOUND);
    cr_expect_eq(t.ok + t.missing + t.changed + t.unsafe, 0);
    cr_expect(strstr(iw_error_last(), "ollama pull"), "%s", iw_error_last());
}
