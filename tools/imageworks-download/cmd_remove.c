/* cmd_remove.c - `imageworks-download remove NAME [--delete-files]`. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/catalog.h"
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

static void on_undeleted(const char *path, const char *why, void *ud)
{
    (void)ud;
    fprintf(stderr, "imageworks-download: remove: cannot delete '%s': %s\n", path, why);
}

static int delete_install(const char *path)
{
    iw_install_deleted d;
    if (iw_catalog_delete_install(path, on_undeleted, NULL, &d) < 0) {
        fprintf(stderr, "imageworks-download: remove: %s\n", iw_error_last());
        return IW_EXIT_FAIL;
    }
    const iw_cache_freed *f = &d.cache;
    if (d.gone_already)
        printf("files already gone: %s\n", path);
    else if (d.snapshot)
        printf("deleted %s: %zu blob%s, %llu bytes freed; %zu blob%s shared with other revisions kept; %zu ref%s "
               "removed%s\n", path, f->blobs, f->blobs == 1 ? "" : "s", (unsigned long long)f->bytes, f->blobs_kept,
               f->blobs_kept == 1 ? "" : "s", f->refs, f->refs == 1 ? "" : "s",
               f->repo_removed ? "; the repo folder is gone" : "");
    else
        printf("deleted %s: %llu bytes freed\n", path, (unsigned long long)d.bytes);
    return IW_EXIT_OK;
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
        const char *why = iw_catalog_delete_refusal(r, e);
        if (why) {
            fprintf(stderr, "imageworks-download: remove: not deleting files of '%s': %s; nothing changed\n", name, why);
            iw_registry_close(r);
            return IW_EXIT_FAIL;
        }
        path = strdup(iw_json_get_str(e, "download_path"));
    }
    if (iw_registry_remove(r, name, true) < 0) {
        free(path);
        iw_registry_close(r);
        return cli_fail("remove");
    }
    printf("removed '%s' from the registry in %s\n", name, iw_registry_dir(r));
    int rc = path ? delete_install(path) : IW_EXIT_OK;
    free(path);
    iw_registry_close(r);
    return rc;
}
