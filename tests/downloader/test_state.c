/* test_state.c - where the plain layout keeps its state: nothing of ours
 * inside the model folder, which the original imageworks walks whole
 * (pathlib rglob: every file, hidden ones too, counts as a model file in
 * download_files, the directory checksum and the artifacts). */
#include "hubtest.c"
#include "dltest.h"

#include <dirent.h>

static char *g_root;
static iwt_hub g_hub;

static void setup(void)
{
    g_root = iwt_tmpdir("stateroot");
    dl_put_text(g_root, "t/r", "config.json", "{\"model_type\":\"llama\"}");
    dl_put_text(g_root, "t/r", "sub/dir/notes.txt", "hello");
    dl_put(g_root, "t/r", "model.safetensors", 3u << 20, 7);
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, NULL), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    free(g_root);
}

TestSuite(state, .init = setup, .fini = teardown, .timeout = 60);

/* every path under dir, relative, one per line, sorted (what rglob sees) */
static char *walk(const char *dir)
{
    char cmd[4200], *out = NULL;
    snprintf(cmd, sizeof cmd, "cd '%s' && find . -mindepth 1 | sort", dir);
    iwt_run(cmd, &out, NULL);
    return out;
}

Test(state, nothing_of_ours_in_the_model_folder)
{
    char *tmp = iwt_tmpdir("state");
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/owner/repo", tmp);
    /* an older version's state, with a partial lock and a manifest */
    char old[4300];
    snprintf(old, sizeof old, "%s/.imageworks/partial/0000.lock", dest);
    cr_assert_eq(iwt_write(old, "", 0), 0);
    snprintf(old, sizeof old, "%s/.imageworks/manifest.json", dest);
    cr_assert_eq(iwt_write(old, "{\"files\":{}}", 12), 0);
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    iw_dl_result_free(&r);
    char *w = walk(dest);
    cr_expect_str_eq(w, "./config.json\n./model.safetensors\n./sub\n./sub/dir\n./sub/dir/notes.txt\n",
                     "the model folder holds more than the repo's files:\n%s", w);
    free(w);
    /* the owner folder: the install and our hidden state files only (the
     * original's scan takes folders as repos and ignores files) */
    char own[4200], cmd[8600], *out = NULL;
    snprintf(own, sizeof own, "%s/owner", tmp);
    snprintf(cmd, sizeof cmd, "cd '%s' && find . -mindepth 1 -maxdepth 1 -type d", own);
    iwt_run(cmd, &out, NULL);
    cr_expect_str_eq(out, "./repo\n", "a folder beside the install: %s", out);
    free(out);
    cr_expect_eq(dl_partials(dest), 0);
    /* a second run skips everything through the manifest beside the folder */
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    cr_expect_eq(r.files_skipped, r.files, "a complete download fetched again");
    iw_dl_result_free(&r);
    w = walk(dest);
    cr_expect_str_eq(w, "./config.json\n./model.safetensors\n./sub\n./sub/dir\n./sub/dir/notes.txt\n", "%s", w);
    free(w);
    iw_hub_free(hub);
    iwt_rm_rf(tmp);
    free(tmp);
}
