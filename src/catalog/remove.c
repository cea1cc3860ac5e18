/* remove.c - deleting a registry entry's install (catalog.h): which paths
 * may be deleted at all, and the deletion (a Hugging Face cache snapshot as
 * huggingface-cli delete-cache removes a revision, else the folder). */
#include "iwdl/catalog.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

/* Paths that could not be one model install. */
static const char *unsafe_reason(const char *p)
{
    if (!p || !*p)
        return "the entry has no download_path";
    if (strncmp(p, "ollama:", 7) == 0)
        return "it is an Ollama store reference (remove it with ollama rm)";
    if (p[0] != '/')
        return "download_path is not absolute";
    int comps = 0;
    for (const char *s = p; *s; s++)
        if (*s == '/' && s[1] && s[1] != '/')
            comps++;
    if (comps < 2)
        return "download_path is a top-level folder";
    if (strstr(p, "/../") || strstr(p, "/./") || (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
        return "download_path has '.' or '..' components";
    const char *home = getenv("HOME");
    if (home && *home) {
        char a[PATH_MAX], b[PATH_MAX];
        if (realpath(p, a) && realpath(home, b) && strcmp(a, b) == 0)
            return "download_path is the home folder";
    }
    return NULL;
}

const char *iw_catalog_delete_refusal(const iw_registry *reg, const cJSON *e)
{
    const char *name = iw_json_get_str(e, "name"), *p = iw_json_get_str(e, "download_path");
    const char *why = unsafe_reason(p);
    const cJSON *all = why ? NULL : iw_registry_entries(reg, IW_REG_MERGED), *o;
    cJSON_ArrayForEach(o, all) {
        const char *on = iw_json_get_str(o, "name"), *op = iw_json_get_str(o, "download_path");
        if (on && op && (!name || strcmp(on, name) != 0) && strcmp(op, p) == 0)
            why = "another entry uses the same download_path";
    }
    return why;
}

/* nftw has no user pointer: the walk's state, one walk at a time per thread. */
static _Thread_local struct walk { iw_undeleted_fn fn; void *ud; uint64_t freed; } *g_walk;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) != 0) {
        if (g_walk->fn)
            g_walk->fn(path, strerror(errno), g_walk->ud);
    } else if (flag == FTW_F) {
        g_walk->freed += (uint64_t)sb->st_size;
    }
    return 0;   /* keep going; the folder is checked afterwards */
}

int iw_catalog_delete_install(const char *path, iw_undeleted_fn fn, void *ud, iw_install_deleted *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (lstat(path, &st) != 0) {
        out->gone_already = true;
        return 0;
    }
    if (iw_hf_cache_is_snapshot(path, NULL, 0)) {
        out->snapshot = true;
        return iw_hf_cache_delete_snapshot(path, &out->cache);
    }
    struct walk w = { fn, ud, 0 };
    g_walk = &w;
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    g_walk = NULL;
    out->bytes = w.freed;
    if (lstat(path, &st) == 0)
        return iw_error_set(IW_EIO, "'%s' could not be deleted completely", path);
    return 0;
}
