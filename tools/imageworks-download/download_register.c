/* download_register.c - download -> extract -> register.
 *
 * Per-file sha256 for the registry's artifacts: LFS files were verified
 * against their sha256 while streaming, and the downloader's manifest (plain
 * layout) or the blob name (HF cache layout) records it; small files carry a
 * git blob sha1 there, so their sha256 is computed here (they are small). */
#include "download_register.h"
#include "cli.h"

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

#define MANIFEST_CAP (64u << 20)
#define REHASH_CAP   ((uint64_t)64 << 20)   /* hash files up to 64 MiB when no sha256 is recorded */

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
    if (size > REHASH_CAP) {
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

int download_register(const iw_dl_result *r, const dl_register_opts *o)
{
    int ret = IW_EXIT_FAIL;
    iw_arch a;
    iw_arch_init(&a);
    iw_registry *reg = NULL;
    cJSON *manifest = NULL;
    iw_reg_file *files = NULL;
    char (*hashes)[65] = NULL;
    char *name = NULL;

    iw_extract_opts eo = { .support_dir = o->support_dir, .support_id = o->support_id };
    bool have_arch = iw_extract_path(r->dest, &eo, &a) == 0;
    if (!have_arch) {
        /* The files are in place and verified; an unreadable architecture is
         * recorded as a warning on the entry rather than failing the download
         * (shown unless --quiet; a JSON event with --json). */
        if (o->json) {
            cJSON *ev = cJSON_CreateObject();
            char msg[2048];
            snprintf(msg, sizeof msg, "architecture of %s: %s", r->dest, iw_error_last());
            cJSON_AddStringToObject(ev, "event", "warning");
            cJSON_AddStringToObject(ev, "message", msg);
            char *q = ev ? cJSON_PrintUnformatted(ev) : NULL;
            if (q)
                printf("%s\n", q);
            free(q);
            cJSON_Delete(ev);
        } else if (!o->quiet) {
            fprintf(stderr, "imageworks-download: warning: architecture of %s: %s\n", r->dest, iw_error_last());
        }
        iw_arch_free(&a);
        iw_arch_init(&a);
        iw_arch_warn(&a, "extraction failed after download: %s", iw_error_last());
        iw_arch_stamp_now(&a);
        iw_error_clear();
    }
    if (o->support_note)
        iw_arch_warn(&a, "%s", o->support_note);

    char *mpath = NULL;
    if (iw_dl_state_path(r->dest, "manifest.json", &mpath) < 0) {
        ret = cli_fail("register");
        goto out;
    }
    if (iw_path_is_file(mpath) && iw_json_parse_file(mpath, MANIFEST_CAP, &manifest, NULL) < 0) {
        fprintf(stderr, "imageworks-download: warning: %s\n", iw_error_last());
        manifest = NULL;
    }
    free(mpath);
    const cJSON *mfiles = cJSON_GetObjectItemCaseSensitive(manifest, "files");

    files = calloc(r->n_paths ? r->n_paths : 1, sizeof *files);
    hashes = calloc(r->n_paths ? r->n_paths : 1, sizeof *hashes);
    if (!files || !hashes) {
        iw_error_set(IW_ENOMEM, "out of memory");
        ret = cli_fail("register");
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
            ret = cli_fail(r->paths[i]);
            goto out;
        }
    }

    if (iw_registry_open(&reg, NULL) < 0) {
        ret = cli_fail("registry");
        goto out;
    }
    iw_reg_download d = {
        .repo_id = o->repo, .revision = o->revision, .commit = r->commit,
        .dest_path = r->dest, .files = files, .n_files = r->n_paths,
        .format = format_of(r), .arch = &a, .backend = o->backend, .name = o->name,
    };
    if (iw_registry_register_download(reg, &d, &name) < 0) {
        ret = cli_fail("register");
        goto out;
    }
    if (o->json) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "event", "registered");
        cJSON_AddStringToObject(ev, "name", name);
        char *q = ev ? cJSON_PrintUnformatted(ev) : NULL;
        printf("%s\n", q ? q : "{\"event\":\"registered\"}");
        free(q);
        cJSON_Delete(ev);
    } else if (!o->quiet) {
        printf("registered: %s", name);
        if (have_arch && a.parameters.total > 0) {
            double p = (double)a.parameters.total;
            printf(" (%s, %.3g%s parameters, %s)", a.model_type ? a.model_type : "?",
                   p >= 1e9 ? p / 1e9 : p >= 1e6 ? p / 1e6 : p / 1e3, p >= 1e9 ? "B" : p >= 1e6 ? "M" : "K",
                   a.parameters.source ? a.parameters.source : "?");
        }
        printf("\n");
        for (size_t i = 0; i < a.warnings.n; i++)
            if (!o->support_note || strcmp(a.warnings.v[i], o->support_note))   /* already shown */
                printf("warning: %s\n", a.warnings.v[i]);
    }
    ret = IW_EXIT_OK;
out:
    free(name);
    free(files);
    free(hashes);
    cJSON_Delete(manifest);
    iw_registry_close(reg);
    iw_arch_free(&a);
    return ret;
}
