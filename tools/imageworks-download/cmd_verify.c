/* cmd_verify.c - `imageworks-download verify [NAME]`: re-hash installed
 * files against artifacts.files; exit 1 when anything is missing/changed. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "iwdl/registry.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download verify [NAME]\n"
        "\n"
        "Check installed files against the registry: every artifacts.files[] entry of\n"
        "NAME (or of every entry that records files) must exist under download_path\n"
        "with the recorded size and, when a sha256 was recorded, the same sha256.\n"
        "Files with neither (an entry the original imageworks saved) are checked\n"
        "through download_directory_checksum.\n"
        "An Ollama model (download_path ollama:NAME:TAG, or backend ollama with a\n"
        "served_model_id) is checked in Ollama's store (OLLAMA_MODELS): its manifest and\n"
        "every blob it names must exist and hash to the sha256 in the blob's name.\n"
        "Prints one line per problem (MISSING, SIZE, CHANGED, UNSAFE) and a summary.\n"
        "Exit 0 when all files match, 1 when any is missing or changed.\n"
        "\n"
        "  -h, --help  this help\n");
}

typedef struct vstats { size_t entries, files, ok, missing, changed; } vstats;

typedef struct blob_report { const char *name; vstats *st; } blob_report;

static void on_blob(iw_ollama_check status, const char *message, void *ctx)
{
    blob_report *b = ctx;
    b->st->files++;
    switch (status) {
    case IW_OLLAMA_BLOB_OK: b->st->ok++; break;
    case IW_OLLAMA_BLOB_CHANGED: printf("CHANGED  %s: %s\n", b->name, message); b->st->changed++; break;
    case IW_OLLAMA_BLOB_UNSAFE: printf("UNSAFE   %s: %s\n", b->name, message); b->st->changed++; break;
    default: printf("MISSING  %s: %s\n", b->name, message); b->st->missing++; break;
    }
}

/* An Ollama model: the manifest and every blob it names, each hashed
 * against the sha256 of its name (iw_ollama_verify_model_each).  False when
 * e is not an Ollama model. */
static bool verify_ollama(const cJSON *e, vstats *st)
{
    const char *name = iw_json_get_str(e, "name");
    const char *ref, *alt;
    if (!iw_registry_ollama_refs(e, &ref, &alt))
        return false;
    const char *dp = iw_json_get_str(e, "download_path");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "artifacts"), "files");
    if (!(dp && iw_ollama_is_ref(dp)) && cJSON_GetArraySize(files) > 0)
        return false;   /* a GGUF download served by Ollama: its files are the record */
    st->entries++;
    blob_report b = { name, st };
    size_t before = st->files;
    int rc = iw_ollama_verify_model_each(ref, NULL, on_blob, &b);
    if ((rc == IW_ENOTFOUND || rc == IW_EINVAL) && st->files == before && alt) {
        iw_error_clear();
        rc = iw_ollama_verify_model_each(alt, NULL, on_blob, &b);
    }
    if (rc < 0 && st->files == before) {
        /* not resolved: no manifest, a missing model/projector blob, a bad manifest */
        st->files++;
        if (rc == IW_EUNSAFE) {
            printf("UNSAFE   %s: %s\n", name, iw_error_last());
            st->changed++;
        } else if (rc == IW_ENOTFOUND) {
            printf("MISSING  %s: %s\n", name, iw_error_last());
            st->missing++;
        } else {
            printf("CHANGED  %s: %s\n", name, iw_error_last());
            st->changed++;
        }
    }
    iw_error_clear();
    return true;
}

static void verify_entry(const cJSON *e, vstats *st)
{
    if (verify_ollama(e, st))
        return;
    const char *name = iw_json_get_str(e, "name");
    const char *root = iw_json_get_str(e, "download_path");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "artifacts"), "files");
    if (!cJSON_IsArray(files) || !cJSON_GetArraySize(files) || !root)
        return;
    st->entries++;
    struct stat rst;
    bool root_is_file = stat(root, &rst) == 0 && S_ISREG(rst.st_mode);
    size_t unchecked = 0;   /* files with neither a size nor a sha256 recorded */
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        const char *rel = iw_json_get_str(f, "path");
        const char *want = iw_json_get_str(f, "sha256");
        int64_t size = -1;
        iw_json_get_i64(f, "size", &size);
        if (!rel)
            continue;
        st->files++;
        char *full = NULL;
        if (root_is_file) {
            /* a lone GGUF: download_path is the file itself */
            const char *base = strrchr(root, '/');
            if (strcmp(base ? base + 1 : root, rel) == 0)
                full = strdup(root);
        } else if (iw_path_join(&full, root, rel) < 0) {
            printf("UNSAFE   %s: %s: %s\n", name, rel, iw_error_last());
            st->changed++;
            continue;
        }
        struct stat fst;
        if (!full || stat(full, &fst) != 0) {
            printf("MISSING  %s: %s\n", name, full ? full : rel);
            st->missing++;
        } else if (size >= 0 && (int64_t)fst.st_size != size) {
            printf("SIZE     %s: %s: %lld bytes, registry says %lld\n", name, full,
                   (long long)fst.st_size, (long long)size);
            st->changed++;
        } else if (want && *want) {
            char got[65];
            if (iw_hash_file_hex(full, IW_HASH_SHA256, got, sizeof got) < 0) {
                printf("MISSING  %s: %s: %s\n", name, full, iw_error_last());
                st->missing++;
            } else if (strcmp(got, want) != 0) {
                printf("CHANGED  %s: %s: sha256 %s, registry says %s\n", name, full, got, want);
                st->changed++;
            } else {
                st->ok++;
            }
        } else {
            st->ok++;   /* size matches; no hash recorded */
            if (size < 0)
                unchecked++;
        }
        free(full);
    }
    /* The original's save keeps only path and sha256 of artifacts.files
     * (registry.py::_serialize_entry): with neither a size nor a hash a
     * changed file would pass.  What survives is download_directory_checksum
     * (the original's formula over every file's path and size): recompute it. */
    const char *sum = iw_json_get_str(e, "download_directory_checksum");
    if (unchecked && !root_is_file && sum && strlen(sum) == 16) {
        char now[17];
        if (iw_registry_dir_checksum_path(root, now) == 0 && strcmp(now, sum) != 0) {
            printf("CHANGED  %s: %s: directory checksum %s, registry says %s (a file's size or the file list changed)\n",
                   name, root, now, sum);
            st->changed++;
            st->ok -= unchecked;
        }
    }
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("verify", "verify: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return cli_usage("verify", "verify: expected at most one entry NAME");
    const char *name = optind < argc ? argv[optind] : NULL;
    iw_registry *r;
    if (iw_registry_open(&r, NULL) < 0)
        return cli_fail("verify");
    vstats st = { 0 };
    if (name) {
        const cJSON *e = iw_registry_get(r, name);
        if (!e) {
            fprintf(stderr, "imageworks-download: verify: no registry entry named '%s' in %s\n", name, iw_registry_dir(r));
            iw_registry_close(r);
            return IW_EXIT_FAIL;
        }
        verify_entry(e, &st);
        if (st.entries == 0)
            printf("%s: no files recorded in artifacts.files; nothing to verify\n", name);
    } else {
        const cJSON *e;
        cJSON_ArrayForEach(e, iw_registry_entries(r, IW_REG_MERGED))
            verify_entry(e, &st);
    }
    printf("verified %zu entr%s, %zu file%s: %zu ok, %zu missing, %zu changed\n", st.entries,
           st.entries == 1 ? "y" : "ies", st.files, st.files == 1 ? "" : "s", st.ok, st.missing, st.changed);
    iw_registry_close(r);
    return (st.missing || st.changed) ? IW_EXIT_FAIL : IW_EXIT_OK;
}
