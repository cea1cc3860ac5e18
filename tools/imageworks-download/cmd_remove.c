/* cmd_remove.c - `imageworks-download remove NAME [--delete-files]`. */
#include "cli.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwdl/download.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download remove NAME [--delete-files]\n"
        "\n"
        "Remove the entry NAME from the registry: from the discovered layer and, since\n"
        "it is asked for by name, from the curated layer too.  Other entries and keys\n"
        "are kept; the previous files are kept as timestamped backups.\n"
        "\n"
        "  --delete-files  also delete the install (download_path) from disk; refused\n"
        "                  for ollama: paths, relative paths, '/', top-level folders\n"
        "                  and paths another entry still uses.  A Hugging Face cache\n"
        "                  snapshot goes as huggingface-cli delete-cache removes a\n"
        "                  revision: its refs and the blobs no other revision uses\n"
        "  -h, --help      this help\n");
}

static uint64_t g_freed;   /* bytes of the regular files rm_one deleted */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (r != 0)
        fprintf(stderr, "imageworks-download: remove: cannot delete '%s': %s\n", path, strerror(errno));
    else if (flag == FTW_F)
        g_freed += (uint64_t)sb->st_size;
    return 0;   /* keep going; the caller checks the folder afterwards */
}

/* A Hugging Face cache snapshot: the revision goes as delete-cache removes it. */
static int delete_snapshot(const char *path)
{
    iw_cache_freed f;
    if (iw_hf_cache_delete_snapshot(path, &f) < 0) {
        fprintf(stderr, "imageworks-download: remove: %s\n", iw_error_last());
        return IW_EXIT_FAIL;
    }
    printf("deleted %s: %zu blob%s, %llu bytes freed; %zu blob%s shared with other revisions kept; %zu ref%s "
           "removed%s\n", path, f.blobs, f.blobs == 1 ? "" : "s", (unsigned long long)f.bytes, f.blobs_kept,
           f.blobs_kept == 1 ? "" : "s", f.refs, f.refs == 1 ? "" : "s",
           f.repo_removed ? "; the repo folder is gone" : "");
    return IW_EXIT_OK;
}

static int delete_folder(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        printf("files already gone: %s\n", path);
        return IW_EXIT_OK;
    }
    if (iw_hf_cache_is_snapshot(path, NULL, 0))
        return delete_snapshot(path);
    g_freed = 0;
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (lstat(path, &st) == 0) {
        fprintf(stderr, "imageworks-download: remove: '%s' could not be deleted completely\n", path);
        return IW_EXIT_FAIL;
    }
    printf("deleted %s: %llu bytes freed\n", path, (unsigned long long)g_freed);
    return IW_EXIT_OK;
}

/* Refuse paths that could not be one model install. */
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

int cmd_remove(int argc, char **argv)
{
    static const struct option opts[] = {
        { "delete-files", no_argument, NULL, 'D' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    bool del = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'D': del = true; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("remove", "remove: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("remove", "remove: expected one entry NAME");
    const char *name = argv[optind];
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("remove");
    char *path = NULL;
    const cJSON *e = iw_registry_get(r, name);
    if (!e) {
        fprintf(stderr, "imageworks-download: remove: no registry entry named '%s' in %s (see 'imageworks-download list')\n",
                name, iw_registry_dir(r));
        iw_registry_close(r);
        return IW_EXIT_FAIL;
    }
    if (del) {
        const char *p = iw_json_get_str(e, "download_path");
        const char *why = unsafe_reason(p);
        if (!why) {
            const cJSON *o;
            cJSON_ArrayForEach(o, iw_registry_entries(r, IW_REG_MERGED)) {
                const char *on = iw_json_get_str(o, "name"), *op = iw_json_get_str(o, "download_path");
                if (on && op && strcmp(on, name) != 0 && strcmp(op, p) == 0)
                    why = "another entry uses the same download_path";
            }
        }
        if (why) {
            fprintf(stderr, "imageworks-download: remove: not deleting files of '%s': %s; nothing changed\n", name, why);
            iw_registry_close(r);
            return IW_EXIT_FAIL;
        }
        path = strdup(p);
    }
    if (iw_registry_remove(r, name, true) < 0) {
        free(path);
        iw_registry_close(r);
        return cli_fail("remove");
    }
    printf("removed '%s' from the registry in %s\n", name, iw_registry_dir(r));
    int rc = path ? delete_folder(path) : IW_EXIT_OK;
    free(path);
    iw_registry_close(r);
    return rc;
}
