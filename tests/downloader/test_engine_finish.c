/* test_engine_finish.c - finishing a file (the rest of its hash and its
 * fdatasync) does not stop the engine: the other transfers go on meanwhile.
 *
 * fdatasync is interposed in this executable only: while armed, the flush of
 * the first 2000-byte partial (small.bin) is held until model.safetensors
 * (3 MiB, throttled on the CDN) has been placed, or 10 s have passed.  If the
 * flush ran on the loop that serves the transfers, model.safetensors could
 * not progress while it is held, and the hold would time out. */
#include "hubtest.c"
#include "dltest.h"

#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIG   (3u << 20)
#define SMALL 2000u

static atomic_int g_armed, g_held, g_timed_out, g_big_done;
static atomic_int g_order, g_big_at, g_small_at;

static bool is_small_partial(int fd)
{
    struct stat st;
    char link[64], target[4096];
    if (fstat(fd, &st) < 0 || st.st_size != SMALL)
        return false;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = 0;
    return n > 5 && !strcmp(target + n - 5, ".part");
}

int fdatasync(int fd)
{
    if (atomic_load(&g_armed) && is_small_partial(fd) && !atomic_exchange(&g_held, 1)) {
        for (int i = 0; i < 1000 && !atomic_load(&g_big_done); i++)
            usleep(10000);
        if (!atomic_load(&g_big_done))
            atomic_store(&g_timed_out, 1);
    }
    return (int)syscall(SYS_fdatasync, fd);
}

static void on_event(const iw_dl_event *ev, void *ud)
{
    (void)ud;
    if (ev->kind != IW_DL_EV_FILE_DONE || ev->skipped)
        return;
    int at = atomic_fetch_add(&g_order, 1) + 1;
    if (!strcmp(ev->path, "model.safetensors")) {
        atomic_store(&g_big_at, at);
        atomic_store(&g_big_done, 1);
    } else if (!strcmp(ev->path, "small.bin")) {
        atomic_store(&g_small_at, at);
    }
}

Test(finish, a_file_being_flushed_does_not_stop_the_others, .timeout = 60)
{
    char *root = iwt_tmpdir("finroot");
    char *dest = iwt_tmpdir("fin");
    dl_put(root, "t/r", "model.safetensors", BIG, 7);
    dl_put(root, "t/r", "small.bin", SMALL, 8);
    iwt_hub hub;
    cr_assert_eq(iwt_hub_start(&hub, root, NULL), 0, "fakehub did not start");
    /* ~2 s for the big file, so it is still arriving when small.bin is done */
    cr_assert_gt(iwt_hub_fault(&hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":1500000,\"times\":-1}"), 0);
    iw_hub *h = dl_hub(&hub, NULL);
    iw_dl_options o;
    dl_opts(&o, dest);
    o.jobs = 2;
    o.on_event = on_event;
    iw_dl_result r;
    atomic_store(&g_armed, 1);
    int rc = iw_download_repo(h, "t/r", &o, &r);
    atomic_store(&g_armed, 0);
    cr_assert_eq(rc, 0, "%s", iw_error_last());
    cr_expect(atomic_load(&g_held), "the flush of small.bin's partial was never seen");
    cr_expect(!atomic_load(&g_timed_out),
              "model.safetensors did not finish while small.bin was being flushed: the flush blocked the engine");
    cr_expect_gt(atomic_load(&g_big_at), 0, "model.safetensors was not reported done");
    cr_expect_gt(atomic_load(&g_small_at), atomic_load(&g_big_at),
                 "small.bin (held in its flush) was reported done before model.safetensors");
    char p[4096], got[65], want[65];
    snprintf(p, sizeof p, "%s/small.bin", dest);
    dl_file_hash(p, true, got);
    char *b = dl_bytes(SMALL, 8);
    iw_sha256_hex(b, SMALL, want);
    free(b);
    cr_expect_str_eq(got, want, "small.bin content differs");
    iw_dl_result_free(&r);
    iw_hub_free(h);
    iwt_hub_stop(&hub);
    iwt_rm_rf(dest);
    iwt_rm_rf(root);
    free(dest);
    free(root);
}
