/* Registry store under concurrent writers and killed writers.
 * (Separate executables, one forking test each: Criterion's parallel runner
 * must not see two forking tests at once.) */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iwtest.h"
#include "iwdl/registry.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

static int set_meta(cJSON *e, bool is_new, void *ctx)
{
    cJSON *m = cJSON_GetObjectItem(e, "metadata");
    if (!m)
        m = cJSON_AddObjectToObject(e, "metadata");
    cJSON_DeleteItemFromObject(m, "touched");
    cJSON_AddStringToObject(m, "touched", (const char *)ctx);
    return 1;
}

static bool temp_of(const char *dir, pid_t pid)
{
    char mark[32];   /* .<file>.tmp.<pid>.<thread>.<n> */
    snprintf(mark, sizeof mark, ".tmp.%ld.", (long)pid);
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;
    while (d && (de = readdir(d)))
        if (de->d_name[0] == '.' && strstr(de->d_name, mark))
            found = true;
    if (d)
        closedir(d);
    return found;
}

/* Parse one registry file as a reader would (the GUI reads the snapshot
 * raw); it must be a valid registry holding "base", and every kN entry in
 * it wholly written. */
static void check_file(const char *dir, const char *file, int upto)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t len;
    char *text = iwt_slurp(path, &len);
    cr_assert_not_null(text, "%s missing", file);
    cJSON *arr = NULL;
    cr_assert_eq(iw_json_parse(text, len, path, &arr, NULL), 0, "torn %s: %s", file, iw_error_last());
    cr_assert_eq(iw_registry_validate(arr, text, len, path), 0, "%s", iw_error_last());
    bool base = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *n = iw_json_get_str(e, "name");
        if (strcmp(n, "base") == 0) {
            base = true;
            continue;
        }
        cr_assert_eq(n[0], 'k', "%s: stray entry %s", file, n);
        cr_assert_leq(atoi(n + 1), upto, "%s: entry %s from the future", file, n);
        cr_assert_str_eq(iw_json_get_str(cJSON_GetObjectItem(e, "metadata"), "touched"), n, "%s: entry %s half written", file, n);
    }
    cr_assert(base, "%s lost the base entry", file);
    cJSON_Delete(arr);
    free(text);
}

Test(store, kill9_never_tears, .timeout = 120)
{
    char *dir = iwt_tmpdir("reg-kill");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_eq(iw_registry_upsert(r, "base", set_meta, "0"), 1);
    iw_registry_close(r);
    srand((unsigned)time(NULL));
    int killed_mid = 0;
    for (int it = 0; it < 12; it++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            setenv("IW_TEST_PAUSE_BEFORE_RENAME_MS", "60", 1);
            char name[32];
            snprintf(name, sizeof name, "k%d", it);
            iw_registry *cr;
            if (iw_registry_open(&cr, dir) != 0)
                _exit(10);
            iw_registry_upsert(cr, name, set_meta, name);
            _exit(0);
        }
        usleep((useconds_t)(rand() % 200) * 1000);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        /* a kill landed mid-write when the writer's temp file is still there
         * (it was written, not yet renamed) */
        if (WIFSIGNALED(st) && temp_of(dir, pid))
            killed_mid++;
        /* every file parses and validates; the entry is wholly there or absent */
        check_file(dir, "model_registry.discovered.json", it);
        check_file(dir, "model_registry.json", it);
        iw_registry *chk;
        cr_assert_eq(iw_registry_open(&chk, dir), 0, "torn registry after kill: %s", iw_error_last());
        cr_assert_not_null(iw_registry_get(chk, "base"));
        char name[32];
        snprintf(name, sizeof name, "k%d", it);
        const cJSON *e = iw_registry_get_layer(chk, IW_REG_DISCOVERED, name);
        if (e)
            cr_assert_str_eq(iw_json_get_str(cJSON_GetObjectItem(e, "metadata"), "touched"), name);
        iw_registry_close(chk);
    }
    cr_assert_gt(killed_mid, 0, "no writer was killed between its temp write and its rename");
    /* a later write cleans stale temp files */
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_eq(iw_registry_upsert(r, "after", set_meta, "x"), 1);
    iw_registry_close(r);
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)))
        cr_assert_null(strstr(de->d_name, ".tmp."), "stale temp %s", de->d_name);
    closedir(d);
    iwt_rm_rf(dir);
    free(dir);
}

