#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "iwdl/fs.h"
#include "iwdl/error.h"
#include "iwtest.h"

Test(fs, relative_path_checks)
{
    cr_assert_eq(iw_path_check_relative("a/b.json", 8), 0);
    cr_assert_eq(iw_path_check_relative("model-00001-of-00002.safetensors", 32), 0);
    const char *bad[] = { "../x", "a/../b", "a/..", "..", ".", "./a", "/etc/passwd",
                          "a\\b", "a//b", "a/", "", "a/./b" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(iw_path_check_relative(bad[i], strlen(bad[i])), IW_EUNSAFE, "accepted '%s'", bad[i]);
        cr_assert(strstr(iw_error_last(), "unsafe path") != NULL);
    }
    cr_assert_eq(iw_path_check_relative("a\0b", 3), IW_EUNSAFE);
    cr_assert_eq(iw_path_check_relative("a\nb", 3), IW_EUNSAFE);
    cr_assert_eq(iw_path_check_relative("..a/b..", 7), 0);   /* dots inside names are fine */
}

Test(fs, join)
{
    char *p = NULL;
    cr_assert_eq(iw_path_join(&p, "/base/", "x/y"), 0);
    cr_assert_str_eq(p, "/base/x/y");
    free(p);
    cr_assert_eq(iw_path_join(&p, "/base", "../y"), IW_EUNSAFE);
    cr_assert_null(p);
}

Test(fs, mkdir_p_and_read_cap)
{
    char *d = iwt_tmpdir("fs");
    char path[4096];
    snprintf(path, sizeof path, "%s/a/b/c", d);
    cr_assert_eq(iw_mkdir_p(path, 0755), 0);
    cr_assert(iw_path_is_dir(path));
    cr_assert_eq(iw_mkdir_p(path, 0755), 0);   /* idempotent */
    snprintf(path, sizeof path, "%s/f.txt", d);
    cr_assert_eq(iw_write_atomic(path, "hello", 5), 0);
    iw_buf b;
    cr_assert_eq(iw_read_file(path, 5, &b), 0);
    cr_assert_str_eq(b.data, "hello");
    iw_buf_free(&b);
    cr_assert_eq(iw_read_file(path, 4, &b), IW_ELIMIT);
    cr_assert(strstr(iw_error_last(), "cap") != NULL);
    snprintf(path, sizeof path, "%s/missing", d);
    cr_assert_eq(iw_read_file(path, 10, &b), IW_ENOTFOUND);
    iwt_rm_rf(d);
    free(d);
}

/* d holds one entry: the file written, no temp left behind */
static void only_one_entry(const char *d)
{
    char cmd[4200], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", d);
    iwt_run(cmd, &out, NULL);
    cr_assert_eq(atoi(out), 1, "temp files left behind: %s", out);
    free(out);
}

Test(fs, atomic_write_replaces_and_leaves_no_temp)
{
    char *d = iwt_tmpdir("fs");
    char path[4096];
    snprintf(path, sizeof path, "%s/reg.json", d);
    cr_assert_eq(iw_write_atomic(path, "[1]", 3), 0);
    cr_assert_eq(iw_write_atomic(path, "[1,2]", 5), 0);
    size_t n;
    char *s = iwt_slurp(path, &n);
    cr_assert_str_eq(s, "[1,2]");
    free(s);
    only_one_entry(d);
    iwt_rm_rf(d);
    free(d);
}

Test(fs, replace_without_sync_is_whole_and_leaves_no_temp)
{
    char *d = iwt_tmpdir("fs");
    char path[4096], gone[4200];
    snprintf(path, sizeof path, "%s/state.json", d);
    cr_assert_eq(iw_write_replace(path, "{\"a\":1}", 7), 0);
    cr_assert_eq(iw_write_replace(path, "{\"a\":12}", 8), 0);
    size_t n;
    char *s = iwt_slurp(path, &n);
    cr_assert_str_eq(s, "{\"a\":12}");
    free(s);
    /* a folder that is not there: an error naming the file, nothing written */
    snprintf(gone, sizeof gone, "%s/no/such/dir/state.json", d);
    cr_assert_lt(iw_write_replace(gone, "x", 1), 0);
    cr_assert(strstr(iw_error_last(), "state.json") != NULL, "%s", iw_error_last());
    only_one_entry(d);
    iwt_rm_rf(d);
    free(d);
}

Test(fs, atomic_write_into_readonly_dir_fails_cleanly)
{
    if (geteuid() == 0)
        cr_skip_test("running as root: permission bits do not apply");
    char *d = iwt_tmpdir("fs");
    chmod(d, 0555);
    char path[4096];
    snprintf(path, sizeof path, "%s/x", d);
    cr_assert_lt(iw_write_atomic(path, "x", 1), 0);
    chmod(d, 0755);
    iwt_rm_rf(d);
    free(d);
}

Test(fs, lock_is_exclusive_across_processes)
{
    char *d = iwt_tmpdir("lock");
    char lp[4096];
    snprintf(lp, sizeof lp, "%s/x.lock", d);
    iw_lock lk;
    cr_assert_eq(iw_lock_acquire(&lk, lp, 0), 0);
    pid_t pid = fork();
    if (pid == 0) {
        iw_lock l2;
        int rc = iw_lock_acquire(&l2, lp, 50);
        _exit(rc == IW_ELOCKED ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second process got the lock");
    iw_lock_release(&lk);
    pid = fork();
    if (pid == 0) {
        iw_lock l2;
        int rc = iw_lock_acquire(&l2, lp, 0);
        _exit(rc == 0 ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "lock not released");
    iwt_rm_rf(d);
    free(d);
}

/* Two threads of one process exclude each other (an fcntl record lock
 * belongs to the process, so a second thread would "get" it too). */
static void *lock_other_thread(void *p)
{
    iw_lock l2;
    int rc = iw_lock_acquire(&l2, p, 50);
    if (rc == 0)
        iw_lock_release(&l2);
    return (void *)(intptr_t)rc;
}

Test(fs, lock_is_exclusive_across_threads)
{
    char *d = iwt_tmpdir("lock");
    char lp[4096];
    snprintf(lp, sizeof lp, "%s/x.lock", d);
    iw_lock lk;
    cr_assert_eq(iw_lock_acquire(&lk, lp, 0), 0);
    pthread_t th;
    void *ret;
    cr_assert_eq(pthread_create(&th, NULL, lock_other_thread, lp), 0);
    pthread_join(th, &ret);
    cr_assert_eq((int)(intptr_t)ret, IW_ELOCKED, "a second thread got the lock (%d)", (int)(intptr_t)ret);
    iw_lock_release(&lk);
    cr_assert_eq(pthread_create(&th, NULL, lock_other_thread, lp), 0);
    pthread_join(th, &ret);
    cr_assert_eq((int)(intptr_t)ret, 0, "lock not released");
    iwt_rm_rf(d);
    free(d);
}
