/* verify.c - an entry's installed files against the registry (catalog.h):
 * artifacts.files (size, sha256), download_directory_checksum when the
 * original imageworks recorded neither, an Ollama model's manifest and
 * blobs in the store. */
#include "iwdl/catalog.h"

#include <stdarg.h>
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

typedef struct vrun {
    const char      *name;
    iw_verify_fn     fn;
    void            *ud;
    iw_verify_stats *st;
} vrun;

static void report(vrun *v, iw_verify_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(vrun *v, iw_verify_status s, const char *fmt, ...)
{
    if (s == IW_VERIFY_OK) {
        v->st->ok++;
        return;
    }
    if (s == IW_VERIFY_MISSING)
        v->st->missing++;
    else
        v->st->changed++;
    if (!v->fn)
        return;
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    v->fn(s, v->name, msg, v->ud);
}

static void on_blob(iw_ollama_check status, const char *message, void *ctx)
{
    vrun *v = ctx;
    v->st->files++;
    iw_verify_status s = status == IW_OLLAMA_BLOB_OK        ? IW_VERIFY_OK
                         : status == IW_OLLAMA_BLOB_CHANGED ? IW_VERIFY_CHANGED
                         : status == IW_OLLAMA_BLOB_UNSAFE  ? IW_VERIFY_UNSAFE
                                                            : IW_VERIFY_MISSING;
    report(v, s, "%s", message ? message : "");
}

/* An Ollama model: the manifest and every blob it names, each hashed
 * against the sha256 of its name.  False when e is not an Ollama model. */
static bool verify_ollama(const cJSON *e, vrun *v)
{
    const char *ref, *alt;
    if (!iw_registry_ollama_refs(e, &ref, &alt))
        return false;
    const char *dp = iw_json_get_str(e, "download_path");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "artifacts"), "files");
    if (!(dp && iw_ollama_is_ref(dp)) && cJSON_GetArraySize(files) > 0)
        return false;   /* a GGUF download served by Ollama: its files are the record */
    v->st->entries++;
    size_t before = v->st->files;
    int rc = iw_ollama_verify_model_each(ref, NULL, on_blob, v);
    if ((rc == IW_ENOTFOUND || rc == IW_EINVAL) && v->st->files == before && alt) {
        iw_error_clear();
        rc = iw_ollama_verify_model_each(alt, NULL, on_blob, v);
    }
    if (rc < 0 && v->st->files == before) {
        /* not resolved: no manifest, a missing model/projector blob, a bad manifest */
        v->st->files++;
        report(v, rc == IW_EUNSAFE ? IW_VERIFY_UNSAFE : rc == IW_ENOTFOUND ? IW_VERIFY_MISSING : IW_VERIFY_CHANGED,
               "%s", iw_error_last());
    }
    iw_error_clear();
    return true;
}

/* One recorded file under root (or root itself, a lone GGUF); *unchecked
 * counts files with neither a size nor a sha256 recorded. */
static void verify_file(vrun *v, const char *root, bool root_is_file, const cJSON *f, size_t *unchecked)
{
    const char *rel = iw_json_get_str(f, "path");
    const char *want = iw_json_get_str(f, "sha256");
    int64_t size = -1;
    iw_json_get_i64(f, "size", &size);
    if (!rel)
        return;
    v->st->files++;
    char *full = NULL;
    if (root_is_file) {
        const char *base = strrchr(root, '/');
        if (strcmp(base ? base + 1 : root, rel) == 0)
            full = strdup(root);
    } else if (iw_path_join(&full, root, rel) < 0) {
        report(v, IW_VERIFY_UNSAFE, "%s: %s", rel, iw_error_last());
        return;
    }
    struct stat fst;
    char got[65];
    if (!full || stat(full, &fst) != 0) {
        report(v, IW_VERIFY_MISSING, "%s", full ? full : rel);
    } else if (size >= 0 && (int64_t)fst.st_size != size) {
        report(v, IW_VERIFY_SIZE, "%s: %lld bytes, registry says %lld", full, (long long)fst.st_size, (long long)size);
    } else if (want && *want) {
        if (iw_hash_file_hex(full, IW_HASH_SHA256, got, sizeof got) < 0)
            report(v, IW_VERIFY_MISSING, "%s: %s", full, iw_error_last());
        else if (strcmp(got, want) != 0)
            report(v, IW_VERIFY_CHANGED, "%s: sha256 %s, registry says %s", full, got, want);
        else
            report(v, IW_VERIFY_OK, NULL);
    } else {
        report(v, IW_VERIFY_OK, NULL);   /* size matches; no hash recorded */
        if (size < 0)
            (*unchecked)++;
    }
    free(full);
}

bool iw_catalog_verify_entry(const cJSON *e, iw_verify_fn fn, void *ud, iw_verify_stats *st)
{
    vrun v = { iw_json_get_str(e, "name"), fn, ud, st };
    if (verify_ollama(e, &v))
        return true;
    const char *root = iw_json_get_str(e, "download_path");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "artifacts"), "files");
    if (!cJSON_IsArray(files) || !cJSON_GetArraySize(files) || !root)
        return false;
    st->entries++;
    struct stat rst;
    bool root_is_file = stat(root, &rst) == 0 && S_ISREG(rst.st_mode);
    size_t unchecked = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, files)
        verify_file(&v, root, root_is_file, f, &unchecked);
    /* The original's save keeps only path and sha256 of artifacts.files
     * (registry.py::_serialize_entry): with neither a size nor a hash a
     * changed file would pass.  What survives is download_directory_checksum
     * (the original's formula over every file's path and size): recompute it. */
    const char *sum = iw_json_get_str(e, "download_directory_checksum");
    char now[17];
    if (unchecked && !root_is_file && sum && strlen(sum) == 16 && iw_registry_dir_checksum_path(root, now) == 0 &&
        strcmp(now, sum) != 0) {
        report(&v, IW_VERIFY_CHANGED, "%s: directory checksum %s, registry says %s (a file's size or the file list "
               "changed)", root, now, sum);
        st->ok -= unchecked;
    }
    return true;
}
