/* Every function taking a versioned options struct refuses a newer version
 * with a one-line IW_EINVAL instead of misreading it (libiwdl as installed:
 * this suite links the shared library, like a user's program). */
#include <criterion/criterion.h>
#include <string.h>

#include "iwdl/download.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/gguf.h"
#include "iwdl/hub.h"
#include "iwdl/inspect.h"
#include "iwdl/registry.h"
#include "iwtest.h"

static void refused(int rc, const char *fn)
{
    cr_expect_eq(rc, IW_EINVAL, "%s accepted a newer options version", fn);
    cr_expect(strstr(iw_error_last(), fn) && strstr(iw_error_last(), "version"), "%s", iw_error_last());
    iw_error_clear();
}

static int no_extract(const char *path, iw_arch *out, void *ctx) { return IW_ENOTFOUND; }

Test(library_opts, newer_versions_are_refused)
{
    iw_gguf_opts g = IW_GGUF_OPTS_INIT;
    g.version++;
    iw_source src;
    iw_source_from_buffer(&src, "GGUF", 4, "mem");
    iw_gguf *gg = NULL;
    refused(iw_gguf_parse(&gg, &src, &g), "iw_gguf_parse");
    iw_source_close(&src);

    iw_hub_options h = IW_HUB_OPTIONS_INIT;
    h.version++;
    iw_hub *hub = NULL;
    refused(iw_hub_new(&hub, &h), "iw_hub_new");

    iw_dl_options d;
    iw_dl_options_init(&d);
    d.version++;
    iw_dl_result res;
    refused(iw_download_repo(NULL, "org/name", &d, &res), "iw_download_repo");

    char *dir = iwt_tmpdir("opts-reg");
    iw_registry *r = NULL;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    iw_migrate_opts m = IW_MIGRATE_OPTS_INIT;
    m.version++;
    iw_migrate_report rep;
    refused(iw_registry_migrate(r, no_extract, NULL, &m, &rep), "iw_registry_migrate");
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);

    iw_est_opts e;
    iw_est_opts_init(&e);
    e.version++;
    iw_arch a;
    iw_arch_init(&a);
    iw_estimate est;
    iw_estimate_init(&est);
    refused(iw_estimate_compute(&a, &e, &est), "iw_estimate_compute");
    iw_estimate_free(&est);
    iw_arch_free(&a);

    iw_inspect_opts i = IW_INSPECT_OPTS_INIT;
    i.version++;
    iw_arch_init(&a);
    refused(iw_extract_path(iwt_source_dir(), &i, &a), "iw_inspect");
    iw_arch_free(&a);
}
