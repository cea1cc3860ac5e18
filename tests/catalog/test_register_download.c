/* iw_catalog_register_download: what arrived, read and registered. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static char *path2(const char *a, const char *b)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", a, b) > 0);
    return p;
}

Test(catalog_register_download, reads_hashes_and_registers)
{
    char *tmp = iwt_tmpdir("cat-reg"), *dest = path2(tmp, "acme/tiny-llama"), *reg = path2(tmp, "registry");
    char *paths[] = { "config.json", "generation_config.json" };
    for (int i = 0; i < 2; i++) {
        char src[256];
        snprintf(src, sizeof src, "models/tiny-llama/%s", paths[i]);
        size_t n = 0;
        char *txt = iwt_slurp(iwt_fixture(src), &n), *dst = path2(dest, paths[i]);
        cr_assert_not_null(txt);
        cr_assert_eq(iwt_write(dst, txt, n), 0);
        free(txt);
        free(dst);
    }
    iw_dl_result r = { .commit = "0123456789abcdef0123456789abcdef01234567", .dest = dest, .paths = paths, .n_paths = 2 };
    iw_dl_register_opts o = IW_DL_REGISTER_OPTS_INIT;
    o.registry_dir = reg;
    o.repo = "acme/tiny-llama";
    o.revision = "main";
    iw_dl_registration g;
    iw_dl_registration_init(&g);
    cr_assert_eq(iw_catalog_register_download(&r, &o, &g), 0, "%s", iw_error_last());
    cr_assert(g.have_arch);
    cr_assert_null(g.arch_error);
    cr_assert_not_null(g.name);
    cr_assert_gt(g.arch.num_layers, 0);
    iw_registry *rg;
    cr_assert_eq(iw_registry_open(&rg, reg), 0);
    const cJSON *e = iw_registry_get(rg, g.name);
    cr_assert_not_null(e, "no entry '%s'", g.name);
    /* no manifest: the small files were hashed here */
    char *cfg = path2(dest, "config.json"), hex[65];
    cr_assert_eq(iw_hash_file_hex(cfg, IW_HASH_SHA256, hex, sizeof hex), 0);
    char *text = cJSON_PrintUnformatted(e);
    cr_assert(strstr(text, hex) != NULL, "config.json's sha256 %s not in %s", hex, text);
    free(text);
    free(cfg);
    iw_registry_close(rg);
    iw_dl_registration_free(&g);
    free(dest);
    free(reg);
    iwt_rm_rf(tmp);
    free(tmp);
}

Test(catalog_register_download, unreadable_architecture_is_a_warning_not_a_failure)
{
    char *tmp = iwt_tmpdir("cat-reg-bad"), *dest = path2(tmp, "acme/broken"), *reg = path2(tmp, "registry");
    char *cfg = path2(dest, "config.json");
    cr_assert_eq(iwt_write(cfg, "{\"num_hidden_layers\": ", 22), 0);
    char *paths[] = { "config.json" };
    iw_dl_result r = { .commit = "0123456789abcdef0123456789abcdef01234567", .dest = dest, .paths = paths, .n_paths = 1 };
    iw_dl_register_opts o = IW_DL_REGISTER_OPTS_INIT;
    o.registry_dir = reg;
    o.repo = "acme/broken";
    iw_dl_registration g;
    iw_dl_registration_init(&g);
    cr_assert_eq(iw_catalog_register_download(&r, &o, &g), 0, "%s", iw_error_last());
    cr_assert_not(g.have_arch);
    cr_assert_not_null(g.arch_error);
    cr_assert(strstr(g.arch_error, "config.json") != NULL, "%s", g.arch_error);
    bool warned = false;
    for (size_t i = 0; i < g.arch.warnings.n; i++)
        warned |= strncmp(g.arch.warnings.v[i], "extraction failed after download: ", 34) == 0;
    cr_assert(warned, "the entry records why");
    cr_assert_not_null(g.name);
    iw_dl_registration_free(&g);
    /* a registry under a file cannot be written: the failing step is named */
    char *under = path2(cfg, "registry");
    o.registry_dir = under;
    iw_dl_registration_init(&g);
    cr_assert_lt(iw_catalog_register_download(&r, &o, &g), 0);
    cr_assert_not_null(g.failed_at);
    iw_dl_registration_free(&g);
    free(under);
    free(cfg);
    free(dest);
    free(reg);
    iwt_rm_rf(tmp);
    free(tmp);
}
