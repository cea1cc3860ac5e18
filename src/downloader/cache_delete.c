/* cache_delete.c - delete one revision from a Hugging Face cache repo, as
 * `huggingface-cli delete-cache` does (huggingface_hub
 * utils/_cache_manager.py, HFCacheInfo.delete_revisions and
 * DeleteCacheStrategy.execute):
 *  - blobs linked from the removed snapshot and from no other snapshot of
 *    the repo are deleted, shared ones kept;
 *  - files under refs/ naming the removed commit are deleted;
 *  - order: the snapshot folder, then the refs, then the blobs, so a crash
 *    never leaves a ref or a link pointing at a deleted blob.
 * Then its .no_exist/<commit> markers go, and the folders left empty
 * (refs/pr, refs, snapshots, blobs, .no_exist, the repo folder) are removed
 * with rmdir: where huggingface_hub deletes the whole repo folder when its
 * last revision goes, this keeps anything still in it (an unfinished
 * download's blobs/<etag>.incomplete, a user's file). Only regular files
 * inside <repo>/blobs are ever deleted as blobs. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwdl/arch.h"
#include "iwdl/download.h"
#include "iwdl/error.h"
#include "iwdl/fs.h"

/* The blob name a snapshot link resolves to, or NULL (not a link into
 * blobs_real, dangling, not a regular file). */
static const char *blob_of(const char *link, const char *blobs_real, char *buf)
{
    struct stat st;
    size_t bl = strlen(blobs_real);
    if (!realpath(link, buf) || strncmp(buf, blobs_real, bl) || buf[bl] != '/' || strchr(buf + bl + 1, '/') ||
        lstat(buf, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    return buf + bl + 1;
}

/* nftw has no user pointer: the walk's state, one walk at a time per thread. */
static _Thread_local struct walk { const char *blobs_real; iw_strlist *set; int rc; uint64_t copied; } *g_walk;

static int collect_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    char buf[PATH_MAX];
    if (flag == FTW_SL) {
        const char *b = blob_of(p, g_walk->blobs_real, buf);
        if (b && g_walk->rc == 0)
            g_walk->rc = iw_strlist_push_unique(g_walk->set, b);
    } else if (flag == FTW_F) {
        g_walk->copied += (uint64_t)sb->st_size;   /* a copied (not linked) file: freed with the folder */
    }
    return 0;
}

/* Blob names linked from the snapshot folder dir. */
static int collect(const char *dir, const char *blobs_real, iw_strlist *set, uint64_t *copied)
{
    struct walk w = { blobs_real, set, 0, 0 };
    g_walk = &w;
    if (nftw(dir, collect_cb, 16, FTW_PHYS) != 0 && w.rc == 0)
        w.rc = iw_error_set_os(IW_EIO, errno, "cannot read '%s'", dir);
    g_walk = NULL;
    if (copied)
        *copied = w.copied;
    return w.rc;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)ftw;
    if ((flag == FTW_DP ? rmdir(p) : unlink(p)) != 0 && g_walk->rc == 0)
        g_walk->rc = iw_error_set_os(IW_EIO, errno, "cannot delete '%s'", p);
    return 0;
}

static int rm_tree(const char *p)
{
    struct walk w = { NULL, NULL, 0, 0 };
    g_walk = &w;
    if (nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT && w.rc == 0)
        w.rc = iw_error_set_os(IW_EIO, errno, "cannot delete '%s'", p);
    g_walk = NULL;
    return w.rc;
}

/* Delete the files under refs/ whose content is commit; remove refs folders left empty. */
static int drop_refs(const char *dir, const char *commit, iw_cache_freed *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : iw_error_set_os(IW_EIO, errno, "cannot read '%s'", dir);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[PATH_MAX], text[128];
        struct stat st;
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p || lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if ((rc = drop_refs(p, commit, out)) == 0)
                (void)rmdir(p);
            continue;
        }
        FILE *f = S_ISREG(st.st_mode) && st.st_size < (off_t)sizeof text ? fopen(p, "r") : NULL;
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        if (f)
            fclose(f);
        text[n] = 0;
        text[strcspn(text, "\r\n")] = 0;
        if (n && !strcmp(text, commit)) {
            if (unlink(p) != 0)
                rc = iw_error_set_os(IW_EIO, errno, "cannot delete ref '%s'", p);
            else
                out->refs++;
        }
    }
    closedir(d);
    return rc;
}

bool iw_hf_cache_is_snapshot(const char *path, char *repo_dir, size_t n)
{
    char p[PATH_MAX];
    size_t l = strlen(path);
    while (l > 1 && path[l - 1] == '/')
        l--;
    if (l >= sizeof p)
        return false;
    memcpy(p, path, l);
    p[l] = 0;
    char *commit = strrchr(p, '/');
    if (!commit || commit == p || !commit[1] || !strcmp(commit + 1, ".") || !strcmp(commit + 1, ".."))
        return false;
    *commit = 0;
    char *snaps = strrchr(p, '/');
    if (!snaps || strcmp(snaps + 1, "snapshots"))
        return false;
    *snaps = 0;
    const char *repo = strrchr(p, '/');
    repo = repo ? repo + 1 : p;
    if (strncmp(repo, "models--", 8) && strncmp(repo, "datasets--", 10) && strncmp(repo, "spaces--", 8))
        return false;
    char blobs[PATH_MAX];
    struct stat st;
    if (snprintf(blobs, sizeof blobs, "%s/blobs", p) >= (int)sizeof blobs || lstat(blobs, &st) != 0 ||
        !S_ISDIR(st.st_mode) || lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return false;
    if (repo_dir)
        snprintf(repo_dir, n, "%s", p);
    return true;
}

/* Blobs linked from the snapshots other than commit. */
static int blobs_kept(const char *repo, const char *commit, const char *blobs_real, iw_strlist *keep)
{
    char sdir[PATH_MAX];
    snprintf(sdir, sizeof sdir, "%s/snapshots", repo);
    DIR *d = opendir(sdir);
    if (!d)
        return iw_error_set_os(IW_EIO, errno, "cannot read '%s'", sdir);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        char p[PATH_MAX];
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, commit) ||
            snprintf(p, sizeof p, "%s/%s", sdir, de->d_name) >= (int)sizeof p)
            continue;
        rc = collect(p, blobs_real, keep, NULL);
    }
    closedir(d);
    return rc;
}

static void rmdir_in(const char *repo, const char *sub)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", repo, sub) < (int)sizeof p)
        (void)rmdir(p);
}

int iw_hf_cache_delete_snapshot(const char *snapshot, iw_cache_freed *out)
{
    char repo[PATH_MAX], blobs_real[PATH_MAX], p[PATH_MAX];
    iw_strlist mine = {0}, keep = {0};
    memset(out, 0, sizeof *out);
    if (!iw_hf_cache_is_snapshot(snapshot, repo, sizeof repo))
        return iw_error_set(IW_EINVAL, "'%s' is not a snapshot folder of a Hugging Face cache repo", snapshot);
    snprintf(p, sizeof p, "%s/blobs", repo);
    if (!realpath(p, blobs_real))
        return iw_error_set_os(IW_EIO, errno, "cannot resolve '%s'", p);
    const char *commit = strrchr(snapshot, '/') + 1;
    char cm[PATH_MAX];
    snprintf(cm, sizeof cm, "%s", commit);
    cm[strcspn(cm, "/")] = 0;
    uint64_t copied = 0;
    int rc = collect(snapshot, blobs_real, &mine, &copied);
    if (rc == 0)
        rc = blobs_kept(repo, cm, blobs_real, &keep);
    if (rc == 0 && (rc = rm_tree(snapshot)) == 0) {
        out->bytes += copied;
        snprintf(p, sizeof p, "%s/refs", repo);
        rc = drop_refs(p, cm, out);
    }
    for (size_t i = 0; rc == 0 && i < mine.n; i++) {
        struct stat st;
        if (iw_strlist_contains(&keep, mine.v[i])) {
            out->blobs_kept++;
            continue;
        }
        snprintf(p, sizeof p, "%s/%s", blobs_real, mine.v[i]);
        if (lstat(p, &st) == 0 && unlink(p) == 0) {
            out->bytes += (uint64_t)st.st_size;
            out->blobs++;
        } else if (errno != ENOENT) {
            rc = iw_error_set_os(IW_EIO, errno, "cannot delete blob '%s'", p);
        }
    }
    if (rc == 0) {
        snprintf(p, sizeof p, "%s/.no_exist/%s", repo, cm);
        rc = rm_tree(p);
        static const char *const empty[] = { "refs", "snapshots", "blobs", ".no_exist" };
        for (size_t i = 0; i < sizeof empty / sizeof *empty; i++)
            rmdir_in(repo, empty[i]);
        out->repo_removed = rmdir(repo) == 0;
    }
    iw_strlist_free(&mine);
    iw_strlist_free(&keep);
    return rc;
}
