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

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static cJSON *parse_file(const char *path)
{
    size_t len;
    char *t = iwt_slurp(path, &len);
    if (!t)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(t, len);
    free(t);
    return j;
}

static int set_meta(cJSON *e, bool is_new, void *ctx)
{
    cJSON *m = cJSON_GetObjectItem(e, "metadata");
    if (!m)
        m = cJSON_AddObjectToObject(e, "metadata");
    cJSON_DeleteItemFromObject(m, "touched");
    cJSON_AddStringToObject(m, "touched", (const char *)ctx);
    return 1;
}

static void child_upserts(const char *dir, int id, int n)
{
    iw_registry *r;
    if (iw_registry_open(&r, dir) != 0)
        _exit(10);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "p%d-e%d", id, i);
        if (iw_registry_upsert(r, name, set_meta, name) != 1) {
            fprintf(stderr, "child %d: %s\n", id, iw_error_last());
            _exit(11);
        }
    }
    iw_registry_close(r);
    _exit(0);
}

Test(store, concurrent_upserts_8x50, .timeout = 240)
{
    char *dir = iwt_tmpdir("reg-conc");
    pid_t pids[8];
    for (int p = 0; p < 8; p++) {
        pids[p] = fork();
        cr_assert_geq(pids[p], 0);
        if (pids[p] == 0)
            child_upserts(dir, p, 50);
    }
    for (int p = 0; p < 8; p++) {
        int st;
        cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (%d)", p, st);
    }
    const char *files[] = { "model_registry.discovered.json", "model_registry.json" };
    for (int f = 0; f < 2; f++) {
        char *p = path_in(dir, files[f]);
        cJSON *j = parse_file(p);
        cr_assert_not_null(j, "%s is not valid JSON", files[f]);
        cr_assert_eq(cJSON_GetArraySize(j), 400, "%s has %d entries", files[f], cJSON_GetArraySize(j));
        cr_assert_eq(iw_registry_validate(j, NULL, 0, p), 0, "%s", iw_error_last());
        cJSON_Delete(j);
        free(p);
    }
    iwt_rm_rf(dir);
    free(dir);
}

