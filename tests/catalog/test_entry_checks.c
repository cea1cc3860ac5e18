/* What the verify, validate and remove commands decide about one registry
 * entry, in the library: installed files against the record
 * (iw_catalog_verify_entry), an architecture against published values
 * (iw_catalog_validate), which installs may be deleted
 * (iw_catalog_delete_refusal) and the deletion (iw_catalog_delete_install). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iwtest.h"
#include "entry_fill.h"
#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

typedef struct seen { int n[5]; char last[1024]; } seen;

static void collect(iw_verify_status s, const char *name, const char *message, void *ud)
{
    seen *v = ud;
    v->n[s]++;
    snprintf(v->last, sizeof v->last, "%s: %s", name, message);
}

/* An entry from a literal format with the install folder in it. */
#define entry(fmt, dir) entry_of((snprintf(ebuf, sizeof ebuf, fmt, dir), ebuf))
static char ebuf[4096];

static cJSON *entry_of(const char *text)
{
    cJSON *e = cJSON_Parse(text);
    cr_assert_not_null(e, "%s", text);
    return e;
}

Test(catalog_verify, files_are_checked_by_size_then_sha256)
{
    char *dir = iwt_tmpdir("cat-verify"), p[1024];
    snprintf(p, sizeof p, "%s/a.bin", dir);
    cr_assert_eq(iwt_write(p, "hello", 5), 0);
    snprintf(p, sizeof p, "%s/b.bin", dir);
    cr_assert_eq(iwt_write(p, "world", 5), 0);
    /* a.bin: right size and sha256; b.bin: wrong sha256; c.bin: absent; d: wrong size; ../x: unsafe */
    cJSON *e = entry("{\"name\":\"m\",\"download_path\":\"%s\",\"artifacts\":{\"files\":["
                     "{\"path\":\"a.bin\",\"size\":5,\"sha256\":"
                     "\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"},"
                     "{\"path\":\"b.bin\",\"size\":5,\"sha256\":\"00\"},{\"path\":\"c.bin\"},"
                     "{\"path\":\"a.bin\",\"size\":6},{\"path\":\"../x\"}]}}", dir);
    iw_verify_stats st = { 0 };
    seen v = { 0 };
    cr_assert(iw_catalog_verify_entry(e, collect, &v, &st));
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.files, 5);
    cr_assert_eq(st.ok, 1);
    cr_assert_eq(st.missing, 1);
    cr_assert_eq(st.changed, 3, "sha256, size and unsafe count as changed");
    cr_assert_eq(v.n[IW_VERIFY_CHANGED], 1);
    cr_assert_eq(v.n[IW_VERIFY_SIZE], 1);
    cr_assert_eq(v.n[IW_VERIFY_MISSING], 1);
    cr_assert_eq(v.n[IW_VERIFY_UNSAFE], 1);
    cr_assert_eq(v.n[IW_VERIFY_OK], 0, "no report for a file that matches");
    cJSON_Delete(e);
    /* nothing recorded: nothing to verify */
    e = entry("{\"name\":\"m\",\"download_path\":\"%s\"}", dir);
    iw_verify_stats st2 = { 0 };
    cr_assert_not(iw_catalog_verify_entry(e, NULL, NULL, &st2));
    cr_assert_eq(st2.entries, 0);
    cJSON_Delete(e);
    iwt_rm_rf(dir);
    free(dir);
}

Test(catalog_remove, paths_that_are_not_one_install_are_refused)
{
    char *dir = iwt_tmpdir("cat-remove");
    iw_registry *r = NULL;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    static const struct { const char *path, *why; } cases[] = {
        {"", "no download_path"}, {"ollama:llama3:8b", "Ollama store reference"},
        {"models/x", "not absolute"}, {"/models", "top-level folder"}, {"/", "top-level folder"},
        {"/srv/models/../etc", "'.' or '..'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", "m");
        cJSON_AddStringToObject(e, "download_path", cases[i].path);
        const char *why = iw_catalog_delete_refusal(r, e);
        cr_expect(why && strstr(why, cases[i].why), "'%s': %s", cases[i].path, why ? why : "(allowed)");
        cJSON_Delete(e);
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "m");
    cJSON_AddStringToObject(e, "download_path", "/srv/models/acme/m");
    cr_assert_null(iw_catalog_delete_refusal(r, e));
    cJSON_Delete(e);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(catalog_remove, a_folder_is_deleted_and_its_bytes_counted)
{
    char *dir = iwt_tmpdir("cat-remove-del"), p[1024], inst[1024];
    snprintf(inst, sizeof inst, "%s/acme/m", dir);
    snprintf(p, sizeof p, "%s/sub/w.bin", inst);
    cr_assert_eq(iwt_write(p, "0123456789", 10), 0);
    iw_install_deleted d;
    cr_assert_eq(iw_catalog_delete_install(inst, NULL, NULL, &d), 0, "%s", iw_error_last());
    cr_assert(!d.gone_already && !d.snapshot);
    cr_assert_eq(d.bytes, 10);
    struct stat st;
    cr_assert_neq(lstat(inst, &st), 0);
    cr_assert_eq(iw_catalog_delete_install(inst, NULL, NULL, &d), 0);
    cr_assert(d.gone_already);
    iwt_rm_rf(dir);
    free(dir);
}

Test(catalog_validate, expectations_are_compared_and_recorded)
{
    char *dir = iwt_tmpdir("cat-validate");
    iw_registry *r = NULL;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_geq(iw_registry_upsert(r, "m", iwt_fill_entry, "{\"metadata\":{\"architecture\":{\"num_layers\":4,"
                                     "\"parameters\":{\"total\":1000000}}}}"), 0, "%s", iw_error_last());
    iw_validate_opts o = IW_VALIDATE_OPTS_INIT;
    o.expected_params = 1005000;   /* within 1% */
    o.expected_layers = 4;
    iw_validation v;
    cr_assert_eq(iw_catalog_validate(r, "m", &o, &v), 0, "%s", iw_error_last());
    cr_assert(v.ok);
    cr_assert_eq(v.params, 1000000);
    iw_validation_free(&v);
    o.expected_params = 1100000;
    o.expected_layers = 5;
    o.notes = "model card";
    cr_assert_eq(iw_catalog_validate(r, "m", &o, &v), 0, "%s", iw_error_last());
    cr_assert_not(v.ok);
    const cJSON *disc = cJSON_GetObjectItem(v.record, "validation_discrepancies");
    cr_assert_eq(cJSON_GetArraySize(disc), 2);
    double pct = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(disc, 0), "error_pct"));
    cr_assert_float_eq(pct, -9.09, 0.005);
    iw_validation_free(&v);
    /* recorded in the entry */
    iw_registry_close(r);
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, "m"), "metadata"), "architecture");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(a, "validated")));
    cr_assert_str_eq(iw_json_get_str(a, "validation_notes"), "model card");
    /* no such entry: failed_at is NULL */
    cr_assert_lt(iw_catalog_validate(r, "nope", &o, &v), 0);
    cr_assert_null(v.failed_at);
    cr_assert(strstr(iw_error_last(), "no registry entry named 'nope'"), "%s", iw_error_last());
    /* an expectation of 0 would be a division by zero in the error */
    iw_validate_opts zero = IW_VALIDATE_OPTS_INIT;
    zero.expected_params = 0;
    cr_assert_lt(iw_catalog_validate(r, "m", &zero, &v), 0);
    cr_expect(strstr(iw_error_last(), "must be positive") != NULL, "%s", iw_error_last());
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}
