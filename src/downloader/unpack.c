/* unpack.c - safe archive extraction with libarchive (see download.h).
 *
 * Entries are written into a private temp folder next to the target and the
 * folder is renamed into place only when every entry was accepted:
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
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"

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
    snprintf(tmp, sizeof tmp, "%s.unpacking-%ld", dir, (long)getpid());
    rm_rf(tmp);
    int rc = iw_mkdir_p(tmp, 0755);
    if (rc < 0)
        return rc;
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
    if (iw_path_exists(dir))
        rm_rf(dir);
    if (rename(tmp, dir) < 0)
        rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot move unpacked files to %s", dir);
out:
    free(buf);
    archive_read_free(ar);
    if (rc < 0)
        rm_rf(tmp);
    return rc;
}
