/* Versioned options structs (libgit2's rule, error.h): version first, an
 * INIT macro and an init function that set it, a newer version refused. */
#include <criterion/criterion.h>
#include <string.h>

#include "iwdl/download.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/gguf.h"
#include "iwdl/hub.h"
#include "iwdl/inspect.h"
#include "iwdl/registry.h"

Test(opts, versions_up_to_the_known_one_are_read)
{
    cr_expect_eq(iw_opts_version_check(0, 1, "x"), 0, "a zeroed struct reads as version 1");
    cr_expect_eq(iw_opts_version_check(1, 1, "x"), 0);
    cr_expect_eq(iw_opts_version_check(2, 1, "iw_thing"), IW_EINVAL);
    cr_expect(strstr(iw_error_last(), "iw_thing") && strstr(iw_error_last(), "version 2"), "%s", iw_error_last());
}

Test(opts, init_macros_set_the_version_first)
{
    iw_gguf_opts g = IW_GGUF_OPTS_INIT;
    iw_hub_options h = IW_HUB_OPTIONS_INIT;
    iw_migrate_opts m = IW_MIGRATE_OPTS_INIT;
    iw_inspect_opts i = IW_INSPECT_OPTS_INIT;
    cr_expect_eq(g.version, IW_GGUF_OPTS_VERSION);
    cr_expect_eq(h.version, IW_HUB_OPTIONS_VERSION);
    cr_expect_eq(h.offline, -1, "the macro's other defaults stay in place");
    cr_expect_eq(m.version, IW_MIGRATE_OPTS_VERSION);
    cr_expect_eq(i.version, IW_INSPECT_OPTS_VERSION);
    cr_expect_eq(offsetof(iw_gguf_opts, version), 0);
    cr_expect_eq(offsetof(iw_hub_options, version), 0);
    cr_expect_eq(offsetof(iw_dl_options, version), 0);
    cr_expect_eq(offsetof(iw_migrate_opts, version), 0);
    cr_expect_eq(offsetof(iw_est_opts, version), 0);
    cr_expect_eq(offsetof(iw_inspect_opts, version), 0);
}
