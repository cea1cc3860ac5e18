/* unpack.c - safe archive extraction with libarchive (see download.h).
 *
 * Entries are written into a fresh private temp folder (mkdtemp) next to the
 * target, and the folder is moved into place only when every entry was
 * accepted and nothing exists at the target (renameat2 RENAME_NOREPLACE):
 * nothing the tool did not write is ever deleted or replaced.
 *  - names must pass iw_path_check_relative after a leading "./" is dropped
 *    (no "..", no absolute paths, no backslashes or control characters);
 *  - regular files and directories are accepted; symlinks only with a
 *    relative target without any ".." component (so they cannot point out);
 *    hardlinks, devices, FIFOs and sockets are refused;
 *  - at most IW_UNPACK_MAX_ENTRIES entries and IW_UNPACK_MAX_BYTES bytes, or
 *    the caller's lower caps (counted on the bytes actually written, not the
 *    headers' claims).
 * Files are created with O_EXCL|O_NOFOLLOW, so a duplicate entry or one that
 * would write through a symlink is refused as well.
 *
 * iw_unpack_download plans a download's archives first (one target each,
 * named, outside the state folder, free or unpacked by us from the same
 * unchanged archive), then unpacks them, recording each beside the
 * install (iw_dl_state_path: <parent>/.<name>.iwdl-unpacked-<sha256>.json),
 * never inside it: the original imageworks counts every file in the folder.
 * A record an older version left in <dest>/.imageworks/unpacked/ is still
 * honoured, and moved beside.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"

bool iw_is_archive_name(const char *name, size_t *stem_len)
{
    static const char *const ext[] = { ".tar.gz", ".tgz", ".tar", ".zip" };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && !strcmp(name + n - e, ext[i])) {
            if (stem_len)
                *stem_len = n - e;
            return true;
        }
    }
    return false;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

static void rm_rf(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static bool link_target_ok(const char *t)
{
    if (!t || !*t || t[0] == '/' || strchr(t, '\\'))
        return false;
    const char *p = t;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (!s)
            break;
        p = s + 1;
    }
    return true;
}

int iw_unpack_archive(const char *archive, const char *dir)
{
    return iw_unpack_archive_capped(archive, dir, 0, 0);
}

int iw_unpack_archive_capped(const char *archive, const char *dir, uint64_t max_bytes, size_t max_entries)
{
    if (max_bytes == 0 || max_bytes > IW_UNPACK_MAX_BYTES)
        max_bytes = IW_UNPACK_MAX_BYTES;
    if (max_entries == 0 || max_entries > IW_UNPACK_MAX_ENTRIES)
        max_entries = IW_UNPACK_MAX_ENTRIES;
    char tmp[8192];
    int rc;
    if (iw_path_exists(dir))
        return iw_error_set(IW_EEXISTS, "%s: cannot unpack into '%s': it already exists (nothing replaced)", archive,
                            dir);
    if ((rc = iw_mkdir_parent(dir, 0755)) < 0)
        return rc;
    if (snprintf(tmp, sizeof tmp, "%s.unpacking-XXXXXX", dir) >= (int)sizeof tmp)
        return iw_error_set(IW_EINVAL, "%s: target path too long", archive);
    if (!mkdtemp(tmp))
        return iw_error_set_os(iw_error_from_errno(errno), errno, "%s: cannot create a folder next to '%s'", archive,
                               dir);
    struct archive *ar = archive_read_new();
    if (!ar) {
        rm_rf(tmp);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    archive_read_support_filter_gzip(ar);
    archive_read_support_format_tar(ar);
    archive_read_support_format_gnutar(ar);
    archive_read_support_format_zip(ar);
    char *buf = malloc(1 << 16);
    uint64_t total = 0;
    size_t entries = 0;
    if (!buf) { rc = iw_error_set(IW_ENOMEM, "out of memory"); goto out; }
    if (archive_read_open_filename(ar, archive, 1 << 16) != ARCHIVE_OK) {
        rc = iw_error_set(IW_EFORMAT, "%s: cannot open archive: %s", archive, archive_error_string(ar));
        goto out;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(ar, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name) { rc = iw_error_set(IW_EFORMAT, "%s: entry %zu has no name", archive, entries); goto out; }
        if (++entries > max_entries) {
            rc = iw_error_set(IW_ELIMIT, "%s: more than %zu entries (refused)", archive, max_entries);
            goto out;
        }
        while (name[0] == '.' && name[1] == '/')
            name += 2;
        char clean[4096];
        size_t nl = strlen(name);
        if (nl >= sizeof clean) { rc = iw_error_set(IW_EUNSAFE, "%s: entry name too long", archive); goto out; }
        memcpy(clean, name, nl + 1);
        while (nl > 0 && clean[nl - 1] == '/')
            clean[--nl] = 0;
        if (nl == 0)
            continue; /* "./" itself */
        if (iw_path_check_relative(clean, nl) < 0) {
            rc = iw_error_prefix("%s: entry refused", archive);
            goto out;
        }
        if (archive_entry_hardlink(e)) {
            rc = iw_error_set(IW_EUNSAFE, "%s: entry '%s' is a hard link (refused)", archive, clean);
            goto out;
        }
        char *dst = NULL;
        if ((rc = iw_path_join(&dst, tmp, clean)) < 0)
            goto out;
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFDIR) {
            rc = iw_mkdir_p(dst, 0755);
        } else if (type == AE_IFLNK) {
            const char *t = archive_entry_symlink(e);
            if (!link_target_ok(t))
                rc = iw_error_set(IW_EUNSAFE, "%s: symlink '%s' -> '%s' points outside (refused)", archive, clean,
                                  t ? t : "");
            else if ((rc = iw_mkdir_parent(dst, 0755)) == 0 && symlink(t, dst) < 0)
                rc = iw_error_set_os(IW_EIO, errno, "%s: cannot create symlink %s", archive, clean);
        } else if (type == AE_IFREG) {
            if ((rc = iw_mkdir_parent(dst, 0755)) == 0) {
                int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0) {
                    rc = iw_error_set_os(errno == EEXIST ? IW_EUNSAFE : iw_error_from_errno(errno), errno,
                                         "%s: cannot create entry '%s'", archive, clean);
                } else {
                    la_ssize_t n;
                    while ((n = archive_read_data(ar, buf, 1 << 16)) > 0) {
                        total += (uint64_t)n;
                        if (total > max_bytes) {
                            rc = iw_error_set(IW_ELIMIT, "%s: more than %llu bytes unpacked (refused)", archive,
                                              (unsigned long long)max_bytes);
                            break;
                        }
                        if (write(fd, buf, (size_t)n) != n) {
                            rc = iw_error_set_os(iw_error_from_errno(errno), errno, "%s: cannot write '%s'", archive, clean);
                            break;
                        }
                    }
                    if (n < 0 && rc == 0)
                        rc = iw_error_set(IW_EFORMAT, "%s: entry '%s': %s", archive, clean, archive_error_string(ar));
                    if (close(fd) < 0 && rc == 0)
                        rc = iw_error_set_os(IW_EIO, errno, "%s: cannot write '%s'", archive, clean);
                }
            }
        } else {
            rc = iw_error_set(IW_EUNSAFE, "%s: entry '%s' is a device, FIFO or socket (refused)", archive, clean);
        }
        free(dst);
        if (rc < 0)
            goto out;
    }
    if (r != ARCHIVE_EOF) {
        rc = iw_error_set(IW_EFORMAT, "%s: %s", archive, archive_error_string(ar));
        goto out;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0)
        rc = errno == EEXIST ? iw_error_set(IW_EEXISTS, "%s: cannot unpack into '%s': it appeared meanwhile "
                                            "(nothing replaced)", archive, dir)
                             : iw_error_set_os(iw_error_from_errno(errno), errno, "cannot move unpacked files to %s", dir);
out:
    free(buf);
    archive_read_free(ar);
    if (rc < 0)
        rm_rf(tmp);
    return rc;
}

/* ------------------------------------------------------------ a download's archives */

typedef struct unpack_plan {
    const char *rel;        /* the archive, relative to dest */
    char       *stem;       /* the target folder, relative to dest */
    char       *archive;    /* <dest>/<rel> */
    char       *dir;        /* <dest>/<stem> */
    char       *record;     /* iw_dl_state_path(dest, "unpacked-<sha256(stem)>.json") */
    char       *old_record; /* <dest>/.imageworks/unpacked/<sha256(stem)>.json (older versions) */
    bool        already;    /* dir is what we unpacked from this unchanged archive */
    bool        move_old;   /* ... as old_record says: move it to record */
} unpack_plan;

static char *join_fmt(const char *a, const char *b, size_t blen)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%.*s", a, (int)blen, b) < 0)
        return NULL;
    return p;
}

/* The record at path names this archive at its current size and mtime. */
static bool record_matches(const unpack_plan *pl, const char *path)
{
    struct stat st;
    iw_buf b = IW_BUF_INIT(4096);
    cJSON *j = NULL;
    int64_t size = -1, sec = -1, ns = -1;
    bool ok = stat(pl->archive, &st) == 0 && iw_read_file(path, 4096, &b) == 0 &&
              iw_json_parse(b.data, b.len, path, &j, NULL) == 0;
    ok = ok && iw_json_get_str(j, "archive") && !strcmp(iw_json_get_str(j, "archive"), pl->rel) &&
         iw_json_get_i64(j, "size", &size) && iw_json_get_i64(j, "mtime_s", &sec) &&
         iw_json_get_i64(j, "mtime_ns", &ns) && size == (int64_t)st.st_size && sec == (int64_t)st.st_mtim.tv_sec &&
         ns == (int64_t)st.st_mtim.tv_nsec;
    cJSON_Delete(j);
    iw_buf_free(&b);
    iw_error_clear();
    return ok;
}

static int record_write(const unpack_plan *pl)
{
    struct stat st;
    if (stat(pl->archive, &st) != 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot stat '%s'", pl->archive);
    int rc = iw_mkdir_parent(pl->record, 0755);
    cJSON *j = cJSON_CreateObject();
    char *txt = NULL;
    if (rc == 0 && j && cJSON_AddStringToObject(j, "archive", pl->rel) && cJSON_AddStringToObject(j, "dir", pl->stem) &&
        cJSON_AddNumberToObject(j, "size", (double)st.st_size) &&
        cJSON_AddNumberToObject(j, "mtime_s", (double)st.st_mtim.tv_sec) &&
        cJSON_AddNumberToObject(j, "mtime_ns", (double)st.st_mtim.tv_nsec))
        txt = cJSON_PrintUnformatted(j);
    if (rc == 0)
        rc = txt ? iw_write_atomic(pl->record, txt, strlen(txt)) : iw_error_set(IW_ENOMEM, "out of memory");
    free(txt);
    cJSON_Delete(j);
    return rc;
}

/* Where rel unpacks to, and whether that is allowed. */
static int plan_one(const char *dest, const char *rel, size_t stem_len, unpack_plan *pl)
{
    pl->rel = rel;
    if (stem_len == 0 || rel[stem_len - 1] == '/')
        return iw_error_set(IW_EUNSAFE, "%s: no name before the extension to unpack into (refused)", rel);
    size_t first = strcspn(rel, "/");
    if (first > stem_len)
        first = stem_len;
    if (first == strlen(IW_DL_STATE_DIR) && !strncmp(rel, IW_DL_STATE_DIR, first))
        return iw_error_set(IW_EUNSAFE, "%s: would unpack into the tool's state folder %s/%s (refused)", rel, dest,
                            IW_DL_STATE_DIR);
    char hex[65];
    if (!(pl->stem = strndup(rel, stem_len)) || !(pl->archive = join_fmt(dest, rel, strlen(rel))) ||
        !(pl->dir = join_fmt(dest, rel, stem_len)) || iw_sha256_hex(pl->stem, stem_len, hex) < 0 ||
        asprintf(&pl->old_record, "%s/%s/unpacked/%s.json", dest, IW_DL_STATE_DIR, hex) < 0) {
        pl->old_record = NULL;
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    char leaf[96];
    snprintf(leaf, sizeof leaf, "unpacked-%s.json", hex);
    if (iw_dl_state_path(dest, leaf, &pl->record) < 0)
        return -1;
    int rc = iw_path_check_relative(pl->stem, stem_len);
    if (rc < 0)
        return iw_error_prefix("%s", rel);
    if (iw_path_exists(pl->dir)) {
        pl->already = record_matches(pl, pl->record) || (pl->move_old = record_matches(pl, pl->old_record));
        if (!pl->already)
            return iw_error_set(IW_EEXISTS, "cannot unpack '%s' into '%s': that path already exists and was not "
                                "unpacked from this archive (nothing replaced; move it away to unpack)",
                                pl->archive, pl->dir);
    }
    return 0;
}

int iw_unpack_download(const char *dest, char *const *paths, size_t n, uint64_t max_bytes, iw_unpack_fn fn, void *ud)
{
    unpack_plan *pl = calloc(n ? n : 1, sizeof *pl);
    size_t np = 0;
    int rc = pl ? 0 : iw_error_set(IW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t stem;
        if (iw_is_archive_name(paths[i], &stem))
            rc = plan_one(dest, paths[i], stem, &pl[np++]);
    }
    for (size_t i = 0; i < np && rc == 0; i++)
        for (size_t k = 0; k < i && rc == 0; k++)
            if (!strcmp(pl[i].stem, pl[k].stem))
                rc = iw_error_set(IW_EEXISTS, "'%s' and '%s' would both unpack into '%s' (refused; nothing unpacked)",
                                  pl[k].archive, pl[i].archive, pl[i].dir);
    for (size_t i = 0; i < np && rc == 0; i++) {
        if (!pl[i].already && (rc = iw_unpack_archive_capped(pl[i].archive, pl[i].dir, max_bytes, 0)) == 0)
            rc = record_write(&pl[i]);
        if (rc == 0 && pl[i].move_old && (rc = record_write(&pl[i])) == 0)
            unlink(pl[i].old_record);
        if (rc == 0 && fn)
            fn(pl[i].rel, pl[i].dir, pl[i].already, ud);
    }
    for (size_t i = 0; i < np; i++) {
        free(pl[i].stem);
        free(pl[i].archive);
        free(pl[i].dir);
        free(pl[i].record);
        free(pl[i].old_record);
    }
    free(pl);
    if (rc == 0) {
        /* an older version's record folder, when nothing else is in it */
        char *d = NULL;
        if (asprintf(&d, "%s/%s/unpacked", dest, IW_DL_STATE_DIR) >= 0) {
            rmdir(d);
            d[strlen(d) - strlen("/unpacked")] = '\0';
            rmdir(d);
            free(d);
        }
    }
    return rc;
}
