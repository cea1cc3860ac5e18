/* register_download.c - download -> extract -> register (catalog.h).
 *
 * Per-file sha256 for the registry's artifacts: LFS files were verified
 * against their sha256 while streaming, and the downloader's manifest (plain
 * layout) or the blob name (HF cache layout) records it; small files carry a
 * git blob sha1 there, so their sha256 is computed here (they are small). */
#include "iwdl/catalog.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/fs.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* sha256 of one installed file: manifest, HF blob name, or hashing it. */
static int file_sha256(const char *dest, const char *rel, const cJSON *manifest_files,
                       uint64_t size, char out[65])
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(manifest_files, rel);
    const char *kind = iw_json_get_str(m, "hash_kind"), *hash = iw_json_get_str(m, "hash");
    if (kind && hash && strcmp(kind, "sha256") == 0 && is_hex64(hash)) {
        memcpy(out, hash, 65);
        return 0;
    }
    char *p = NULL;
    int rc = iw_path_join(&p, dest, rel);
    if (rc < 0)
        return rc;
    char target[PATH_MAX];
    ssize_t n = readlink(p, target, sizeof target - 1);
    if (n > 0) {
        target[n] = 0;
        const char *base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (is_hex64(base)) {            /* HF cache: blobs/<sha256> */
            memcpy(out, base, 65);
            free(p);
            return 0;
        }
    }
    if (size > IW_DL_REGISTER_REHASH_CAP) {
        free(p);
        return IW_ENOTFOUND;             /* recorded without a hash */
    }
    rc = iw_hash_file_hex(p, IW_HASH_SHA256, out, 65);
    free(p);
    return rc;
}

static const char *format_of(const iw_dl_result *r)
{
    for (size_t i = 0; i < r->n_paths; i++) {
        size_t n = strlen(r->paths[i]);
        if (n > 5 && strcmp(r->paths[i] + n - 5, ".gguf") == 0)
            return "gguf";
    }
    for (size_t i = 0; i < r->n_paths; i++)
        if (strstr(r->paths[i], ".safetensors"))
            return "safetensors";
    return NULL;
}

void iw_dl_registration_init(iw_dl_registration *g)
{
    memset(g, 0, sizeof *g);
    iw_arch_init(&g->arch);
}

void iw_dl_registration_free(iw_dl_registration *g)
{
    free(g->name);
    free(g->arch_error);
    free(g->manifest_warning);
    iw_arch_free(&g->arch);
    iw_dl_registration_init(g);
}

int iw_catalog_register_download(const iw_dl_result *r, const iw_dl_register_opts *o, iw_dl_registration *g)
{
    int rc = iw_opts_version_check(o->version, IW_DL_REGISTER_OPTS_VERSION, "iw_dl_register_opts");
    if (rc < 0) {
        g->failed_at = "register";
        return rc;
    }
    iw_arch *a = &g->arch;
    iw_registry *reg = NULL;
    cJSON *manifest = NULL;
    iw_reg_file *files = NULL;
    char (*hashes)[65] = NULL;

    iw_extract_opts eo = { .support_dir = o->support_dir, .support_id = o->support_id };
    g->have_arch = iw_extract_path(r->dest, &eo, a) == 0;
    if (!g->have_arch) {
        /* The files are in place and verified; an unreadable architecture is
         * recorded as a warning on the entry rather than failing the download. */
        g->arch_error = strdup(iw_error_last());
        iw_arch_free(a);
        iw_arch_init(a);
        iw_arch_warn(a, "extraction failed after download: %s", iw_error_last());
        iw_arch_stamp_now(a);
        iw_error_clear();
    }
    if (o->support_note)
        iw_arch_warn(a, "%s", o->support_note);

    char *mpath = NULL;
    if ((rc = iw_dl_state_path(r->dest, "manifest.json", &mpath)) < 0) {
        g->failed_at = "register";
        goto out;
    }
    if (iw_path_is_file(mpath) && iw_json_parse_file(mpath, IW_DL_REGISTER_MANIFEST_CAP, &manifest, NULL) < 0) {
        g->manifest_warning = strdup(iw_error_last());
        manifest = NULL;
    }
    free(mpath);
    const cJSON *mfiles = cJSON_GetObjectItemCaseSensitive(manifest, "files");

    files = calloc(r->n_paths ? r->n_paths : 1, sizeof *files);
    hashes = calloc(r->n_paths ? r->n_paths : 1, sizeof *hashes);
    if (!files || !hashes) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        g->failed_at = "register";
        goto out;
    }
    for (size_t i = 0; i < r->n_paths; i++) {
        char *p = NULL;
        struct stat st;
        files[i].path = r->paths[i];
        if (iw_path_join(&p, r->dest, r->paths[i]) == 0 && stat(p, &st) == 0)
            files[i].size = (uint64_t)st.st_size;
        free(p);
        int hrc = file_sha256(r->dest, r->paths[i], mfiles, files[i].size, hashes[i]);
        if (hrc == 0)
            files[i].sha256 = hashes[i];
        else if (hrc != IW_ENOTFOUND) {
            rc = hrc;
            g->failed_at = r->paths[i];
            goto out;
        }
    }

    if ((rc = iw_registry_open(&reg, o->registry_dir)) < 0) {
        g->failed_at = "registry";
        goto out;
    }
    iw_reg_download d = {
        .repo_id = o->repo, .revision = o->revision, .commit = r->commit,
        .dest_path = r->dest, .files = files, .n_files = r->n_paths,
        .format = format_of(r), .arch = a, .backend = o->backend, .name = o->name,
    };
    if ((rc = iw_registry_register_download(reg, &d, &g->name)) < 0) {
        g->failed_at = "register";
        goto out;
    }
    rc = 0;
out:
    free(files);
    free(hashes);
    cJSON_Delete(manifest);
    iw_registry_close(reg);
    return rc;
}
