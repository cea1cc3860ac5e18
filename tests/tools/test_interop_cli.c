/* The CLI on registries the original imageworks wrote (fixtures produced by
 * running its code: tests/fixtures/interop/README.md). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"

static char *g_dir;

static int run(const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' %s", g_dir, iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static void put(const char *rel, const char *text, size_t len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    cr_assert_eq(iwt_write(p, text, len), 0);
}

/* A fixture file with @TESTDIR@ (where the install lived when the fixture
 * was made) replaced by this test's folder. */
static void put_fixture(const char *rel, const char *dest)
{
    size_t len;
    char *t = iwt_slurp(iwt_fixture(rel), &len);
    cr_assert_not_null(t, "fixture %s missing", rel);
    size_t dl = strlen(g_dir), cap = len * 2 + 4096, o = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < len;) {
        if (!strncmp(t + i, "@TESTDIR@", 9)) {
            memcpy(out + o, g_dir, dl);
            o += dl;
            i += 9;
        } else {
            out[o++] = t[i++];
        }
    }
    put(dest, out, o);
    free(out);
    free(t);
}

/* The install of the fixture (tests/fixtures/interop/dirsum.json's files). */
static void make_install(void)
{
    static const struct { const char *p, *c; } F[] = {
        { "config.json", "{}\n" }, { "a/b.bin", "bb" }, { "a-c.bin", "ccc" },
        { "model-00001-of-00002.safetensors", "xxxxxxxxxx" }, { "model-00002-of-00002.safetensors", "yyyyyyy" },
        { ".hidden", "h" }, { "caf\xc3\xa9.txt", "e" },
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "w/org/model/%s", F[i].p);
        put(rel, F[i].c, strlen(F[i].c));
    }
}

/* item 4: our scan wrote the entry, the original loaded and saved it
 * (dropping artifacts.files[].size); verify must still catch a file whose
 * size changed. */
Test(interop_cli, verify_after_the_original_saved_the_entry)
{
    g_dir = iwt_tmpdir("interop-verify");
    make_install();
    put_fixture("interop/saved/model_registry.discovered.json", "reg/model_registry.discovered.json");
    put_fixture("interop/saved/model_registry.curated.json", "reg/model_registry.curated.json");
    char *out = NULL, *err = NULL;
    cr_assert_eq(run("verify", &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "0 missing, 0 changed"), "%s", out);
    free(out);
    free(err);
    /* same name, one byte more: the original's save left no size to compare */
    put("w/org/model/a-c.bin", "cccc", 4);
    cr_assert_eq(run("verify", &out, &err), 1, "a changed file passed verify: %s%s", out, err);
    cr_assert(strstr(out, "CHANGED"), "%s", out);
    free(out);
    free(err);
    iwt_rm_rf(g_dir);
    free(g_dir);
}
