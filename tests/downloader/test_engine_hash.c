/* test_engine_hash.c - bytes that arrive in order are hashed from the
 * transfer buffer, not read back from the partial file; ranges that arrive
 * ahead of the hash are still read back; verification is unchanged (a
 * corrupted byte is caught either way).
 *
 * pread is interposed in this executable only: it counts the bytes read
 * from "*.part" files (the partials the hashing thread reads back).  The
 * answers are paced so that the transfer loop has time to spare, which is
 * when it hashes from its buffer. */
#include "hubtest.c"
#include "dltest.h"

#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIG (3u << 20)

static atomic_ullong g_part_read;

static bool is_partial(int fd)
{
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 5)
        return false;
    target[n] = 0;
    return !strcmp(target + n - 5, ".part");
}

static ssize_t counted_pread(int fd, void *buf, size_t n, off_t off)
{
    ssize_t r = (ssize_t)syscall(SYS_pread64, fd, buf, n, off);
    if (r > 0 && is_partial(fd))
        atomic_fetch_add(&g_part_read, (unsigned long long)r);
    return r;
}

ssize_t pread(int fd, void *buf, size_t n, off_t off) { return counted_pread(fd, buf, n, off); }
ssize_t pread64(int fd, void *buf, size_t n, off_t off) { return counted_pread(fd, buf, n, off); }

static char *g_root;
static iwt_hub g_hub;

static void setup(void)
{
    g_root = iwt_tmpdir("hashroot");
    dl_put(g_root, "t/h", "model.safetensors", BIG, 21);
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, NULL), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    free(g_root);
}

TestSuite(hashing, .init = setup, .fini = teardown, .timeout = 60);

/* Each answer at 4 MB/s: the transfer loop waits for the network most of
 * the time, which is when it hashes from its buffer (E->inline_ok). */
#define PACED "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":4000000,\"times\":-1}"

/* Fetch model.safetensors with `connections` and the faults (NULL-ended);
 * returns the rc and the bytes read back from the partial. */
static int fetch(int connections, const char *const *faults, unsigned long long *read_back)
{
    char *dest = iwt_tmpdir("hash");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iwt_hub_reset(&g_hub);
    for (const char *const *f = faults; f && *f; f++)
        cr_assert_gt(iwt_hub_fault(&g_hub, *f), 0, "fault %s refused", *f);
    iw_dl_options o;
    dl_opts(&o, dest);
    o.connections = connections;
    o.split_min = 1u << 20;
    o.chunk = 512u << 10;
    atomic_store(&g_part_read, 0);
    iw_dl_result r;
    int rc = iw_download_repo(hub, "t/h", &o, &r);
    *read_back = atomic_load(&g_part_read);
    if (rc == 0) {
        char p[4096], h[65], want[65];
        snprintf(p, sizeof p, "%s/model.safetensors", dest);
        dl_file_hash(p, true, h);
        char *b = dl_bytes(BIG, 21);
        iw_sha256_hex(b, BIG, want);
        free(b);
        cr_expect_str_eq(h, want, "model.safetensors content differs");
    }
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
    return rc;
}

Test(hashing, in_order_bytes_are_not_read_back)
{
    unsigned long long back = 0;
    const char *faults[] = { PACED, NULL };
    cr_assert_eq(fetch(1, faults, &back), 0, "%s", iw_error_last());
    cr_expect_eq(back, 0ull, "%llu bytes read back from the partial of a single-range download", back);
}

Test(hashing, ranges_ahead_of_the_hash_are_read_back)
{
    /* 4 connections, each answer at 1.5 MB/s: ranges 2..6 arrive while
     * range 1 is still coming, so they can only be hashed from the file */
    unsigned long long back = 0;
    const char *faults[] = { "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":1500000,\"times\":-1}", NULL };
    int rc = fetch(4, faults, &back);
    cr_assert_eq(rc, 0, "%s", iw_error_last());
    cr_expect_gt(back, 0ull, "nothing read back although ranges arrived out of order");
    cr_expect_lt(back, (unsigned long long)BIG, "%llu bytes read back: more than the file", back);
}

Test(hashing, a_corrupt_byte_hashed_from_the_buffer_is_caught)
{
    /* one connection: every byte is hashed from the transfer buffer; the
     * flipped byte fails the hash, the file is fetched once more, and a
     * byte flipped every time fails the download */
    unsigned long long back = 0;
    const char *once[] = { PACED, "{\"path\":\"model.safetensors\",\"corrupt_offset\":777777,\"times\":1}", NULL };
    cr_assert_eq(fetch(1, once, &back), 0, "%s", iw_error_last());
    cr_expect_eq(back, 0ull);
    uint64_t cdn = dl_log_bytes(&g_hub, "cdn", NULL, NULL, NULL);
    cr_expect_eq(cdn, 2ull * BIG, "expected one full retry, the CDN sent %llu bytes", (unsigned long long)cdn);
    const char *always[] = { PACED, "{\"path\":\"model.safetensors\",\"corrupt_offset\":777777,\"times\":-1}", NULL };
    int rc = fetch(1, always, &back);
    cr_expect_eq(rc, IW_EVERIFY, "rc %d: %s", rc, iw_error_last());
    cr_expect(strstr(iw_error_last(), "sha256 mismatch"), "%s", iw_error_last());
}
