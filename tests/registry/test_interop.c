/* Interop with the original imageworks: every expectation here comes from
 * a fixture the original's own code produced (tests/fixtures/interop/,
 * README there says which function and how to regenerate it). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwtest.h"
#include "iwdl/registry.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "registry/pyjson.h"

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static char *fixture_text(const char *rel, size_t *len)
{
    char *t = iwt_slurp(iwt_fixture(rel), len);
    cr_assert_not_null(t, "fixture %s missing", rel);
    return t;
}

static void copy_fixture(const char *rel, const char *dir, const char *name)
{
    size_t len;
    char *t = fixture_text(rel, &len);
    char *p = path_in(dir, name);
    cr_assert_eq(iwt_write(p, t, len), 0);
    free(p);
    free(t);
}

/* item 9: the snapshot bytes the original's _materialize_snapshot writes */
Test(interop, snapshot_printed_as_the_original_materialises_it)
{
    size_t dl, cl, sl;
    char *d = fixture_text("interop/snapshot/model_registry.discovered.json", &dl);
    char *c = fixture_text("interop/snapshot/model_registry.curated.json", &cl);
    char *want = fixture_text("interop/snapshot/model_registry.json", &sl);
    iw_buf out = IW_BUF_INIT(IW_BUF_UNCAPPED);
    cr_assert_eq(iw_pyjson_snapshot(d, dl, c, cl, &out), 0, "%s", iw_error_last());
    cr_assert_eq(out.len, sl, "snapshot is %zu bytes, the original's %zu", out.len, sl);
    cr_assert(memcmp(out.data, want, sl) == 0, "snapshot bytes differ from the original's");
    iw_buf_free(&out);
    free(d);
    free(c);
    free(want);
}

static int add_tmp(cJSON *e, bool is_new, void *ctx)
{
    (void)is_new;
    (void)ctx;
    cJSON_AddStringToObject(e, "backend", "vllm");
    return 1;
}

/* item 9, end to end: after a change through the store the snapshot on
 * disk is exactly what the original would materialise from the layers, so
 * its next load leaves it alone (the original rewrites it when it differs) */
Test(interop, store_writes_the_original_snapshot)
{
    char *dir = iwt_tmpdir("interop-snap");
    copy_fixture("interop/snapshot/model_registry.discovered.json", dir, "model_registry.discovered.json");
    copy_fixture("interop/snapshot/model_registry.curated.json", dir, "model_registry.curated.json");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    cr_assert_eq(iw_registry_upsert(r, "zz-temp", add_tmp, NULL), 1, "%s", iw_error_last());
    cr_assert_eq(iw_registry_remove(r, "zz-temp", false), 0, "%s", iw_error_last());
    iw_registry_close(r);
    size_t sl, gl;
    char *want = fixture_text("interop/snapshot/model_registry.json", &sl);
    char *p = path_in(dir, "model_registry.json");
    char *got = iwt_slurp(p, &gl);
    cr_assert_not_null(got);
    cr_assert(gl == sl && memcmp(got, want, sl) == 0, "model_registry.json is not the original's bytes:\n%s", got);
    free(p);
    free(got);
    free(want);
    iwt_rm_rf(dir);
    free(dir);
}
