/* test_progress.c - the download command's per-file rate
 * (tools/imageworks-download/progress.c), sample by sample: no rate until
 * a file's first bytes arrive (a connection waiting for its first answer is
 * not a stalled one), a rate once they do, "0 B/s" for a file that stops,
 * and a resumed file judged from where it resumed. */
#include <criterion/criterion.h>

#include "../../tools/imageworks-download/progress.c"
#include "../../tools/imageworks-download/cli_text.c"

Test(progress, no_rate_before_the_first_bytes)
{
    meter m = { 0 };
    meter_add(&m, 0.0, 0);
    cr_expect_lt(meter_rate(&m), 0, "a rate from one sample");
    meter_add(&m, 0.5, 0);
    meter_add(&m, 1.5, 0);
    cr_expect_lt(meter_rate(&m), 0, "a file waiting for its first answer showed %.0f B/s", meter_rate(&m));
    meter_add(&m, 2.0, 1000);
    cr_expect_gt(meter_rate(&m), 0, "bytes arrived but no rate");
}

Test(progress, a_stall_after_bytes_shows_zero)
{
    meter m = { 0 };
    meter_add(&m, 0.0, 0);
    meter_add(&m, 1.0, 4000);
    cr_expect_float_eq(meter_rate(&m), 4000.0, 1e-9);
    meter_add(&m, 4.0, 4000);
    meter_add(&m, 6.5, 4000);
    cr_expect_float_eq(meter_rate(&m), 0.0, 1e-9, "a stopped file is shown as stopped");
}

Test(progress, a_resume_starts_from_its_own_bytes)
{
    meter m = { 0 };
    meter_add(&m, 0.0, 5u << 20);     /* resumed at 5 MiB */
    meter_add(&m, 1.0, 5u << 20);
    cr_expect_lt(meter_rate(&m), 0, "a resumed file waiting for its first answer showed a rate");
    meter_add(&m, 2.0, (5u << 20) + 2000);
    cr_expect_float_eq(meter_rate(&m), 1000.0, 1e-9);
    /* a retry from zero waits for bytes again */
    meter_add(&m, 3.0, 0);
    meter_add(&m, 4.0, 0);
    cr_expect_lt(meter_rate(&m), 0, "a retry from zero showed %.0f B/s before its bytes", meter_rate(&m));
}
