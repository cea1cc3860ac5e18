/* fs.c - safe paths, mkdir -p, capped reads, atomic writes, file locks. */
#include "iwdl/fs.h"
#include "iwdl/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int iw_path_check_relative(const char *rel, size_t len)
{
    if (!rel || len == 0)
        return iw_error_set(IW_EUNSAFE, "unsafe path: empty name");
    if (len > 4096)
        return iw_error_set(IW_EUNSAFE, "unsafe path: name longer than 4096 bytes");
    if (memchr(rel, 0, len))
        return iw_error_set(IW_EUNSAFE, "unsafe path '%.*s': contains NUL", (int)strnlen(rel, len), rel);
    if (rel[0] == '/')
        return iw_error_set(IW_EUNSAFE, "unsafe path '%.*s': absolute", (int)len, rel);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)rel[i];
        if (c == '\\')
            return iw_error_set(IW_EUNSAFE, "unsafe path '%.*s': contains a backslash", (int)len, rel);
        if (c < 0x20 || c == 0x7f)
            return iw_error_set(IW_EUNSAFE, "unsafe path: contains a control character at byte %zu", i);
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || rel[i] == '/') {
            size_t clen = i - start;
            const char *c = rel + start;
            if (clen == 0)
                return iw_error_set(IW_EUNSAFE, "unsafe path '%.*s': empty component", (int)len, rel);
            if ((clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.'))
                return iw_error_set(IW_EUNSAFE, "unsafe path '%.*s': '.' or '..' component", (int)len, rel);
            start = i + 1;
        }
    }
    return 0;
}

int iw_path_join(char **out, const char *base, const char *rel)
{
    *out = NULL;
    int rc = iw_path_check_relative(rel, strlen(rel));
    if (rc < 0)
        return rc;
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/')
        bl--;
    size_t n = bl + 1 + strlen(rel) + 1;
    char *p = malloc(n);
    if (!p)
        return iw_error_set(IW_ENOMEM, "out of memory");
    snprintf(p, n, "%.*s/%s", (int)bl, base, rel);
    *out = p;
    return 0;
}

const char *iw_path_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

bool iw_path_ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcasecmp(path + n - m, suffix) == 0;
}

int iw_mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return iw_error_set(IW_EINVAL, "cannot create directory: bad path length");
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char save = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, mode) != 0 && errno != EEXIST)
                return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot create directory '%s'", tmp);
            tmp[i] = save;
        }
    }
    if (!iw_path_is_dir(path))
        return iw_error_set(IW_EIO, "'%s' exists and is not a directory", path);
    return 0;
}

int iw_mkdir_parent(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *s = strrchr(tmp, '/');
    if (!s || s == tmp)
        return 0;
    *s = 0;
    return iw_mkdir_p(tmp, mode);
}

bool iw_path_exists(const char *p) { struct stat st; return lstat(p, &st) == 0; }
bool iw_path_is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
bool iw_path_is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

int iw_read_file(const char *path, size_t max, iw_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return iw_error_set_os(IW_EIO, e, "cannot stat '%s'", path);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return iw_error_set(IW_EIO, "'%s' is a directory", path);
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        close(fd);
        return iw_error_set(IW_ELIMIT, "'%s' is %lld bytes, over the %zu-byte cap",
                            path, (long long)st.st_size, max);
    }
    iw_buf_init(out, max);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            iw_buf_free(out);
            return iw_error_set_os(IW_EIO, e, "cannot read '%s'", path);
        }
        if (n == 0) break;
        if (iw_buf_append(out, chunk, (size_t)n) < 0) {
            close(fd);
            iw_buf_free(out);
            return iw_error_set(IW_ELIMIT, "'%s' is over the %zu-byte cap", path, max);
        }
    }
    close(fd);
    if (!out->data && iw_buf_reserve(out, 0) < 0)   /* always NUL-terminated */
        return IW_ENOMEM;
    if (out->data)
        out->data[out->len] = 0;
    return 0;
}

int iw_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return iw_error_set_os(IW_EIO, errno, "cannot open directory '%s'", dir);
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = iw_error_set_os(IW_EIO, errno, "cannot fsync directory '%s'", dir);
    close(fd);
    return rc;
}

static void dir_of(const char *path, char *out, size_t n)
{
    snprintf(out, n, "%s", path);
    char *s = strrchr(out, '/');
    if (!s)
        snprintf(out, n, ".");
    else if (s == out)
        out[1] = 0;
    else
        *s = 0;
}

void iw_test_pause_before_rename(void)
{
    const char *e = getenv("IW_TEST_PAUSE_BEFORE_RENAME_MS");
    if (!e || !*e)
        return;
    char *end;
    long ms = strtol(e, &end, 10);
    if (*end || ms <= 0)
        return;
    if (ms > 60000)
        ms = 60000;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int iw_staged_open(iw_staged *s, const char *path)
{
    static unsigned long counter;
    s->fd = -1;
    s->tmp = NULL;
    s->path = path;
    const char *base = iw_path_base(path);
    size_t dlen = (size_t)(base - path);
    size_t cap = dlen + strlen(base) + 96;
    if (!(s->tmp = malloc(cap)))
        return iw_error_set(IW_ENOMEM, "out of memory writing '%s'", path);
    snprintf(s->tmp, cap, "%.*s.%s.tmp.%ld.%ld.%lu", (int)dlen, path, base, (long)getpid(), (long)gettid(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        int e = errno;
        int rc = iw_error_set_os(iw_error_from_errno(e), e, "cannot create '%s'", s->tmp);
        free(s->tmp);
        s->tmp = NULL;
        return rc;
    }
    return 0;
}

int iw_staged_writev(iw_staged *s, struct iovec *v, size_t n)
{
    while (n) {
        int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
        ssize_t w = writev(s->fd, v, cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot write '%s'", s->path);
        }
        size_t left = (size_t)w;
        while (n && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            n--;
        }
        if (n && left) {
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(s->fd, 0, 0, SYNC_FILE_RANGE_WRITE);   /* start writeback: fsync is what counts */
#endif
    return 0;
}

int iw_staged_sync(iw_staged *s)
{
    if (fsync(s->fd) != 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot fsync '%s'", s->path);
    int fd = s->fd;
    s->fd = -1;
    if (close(fd) != 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot close '%s'", s->path);
    return 0;
}

int iw_staged_rename(iw_staged *s)
{
    if (rename(s->tmp, s->path) != 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot rename '%s' to '%s'", s->tmp, s->path);
    free(s->tmp);
    s->tmp = NULL;
    return 0;
}

void iw_staged_abort(iw_staged *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->tmp)
        unlink(s->tmp);
    free(s->tmp);
    s->tmp = NULL;
    s->fd = -1;
}

/* The whole of data replaces path through one staged temp; durable: the
 * temp is fsynced before and the folder after the rename (iw_write_atomic),
 * else the temp is only closed (iw_write_replace). */
static int replace_whole(const char *path, const void *data, size_t len, bool durable)
{
    iw_staged s = IW_STAGED_INIT;
    struct iovec v = { (void *)data, len };
    int rc;
    if ((rc = iw_staged_open(&s, path)) < 0)
        return rc;
    if ((rc = iw_staged_writev(&s, &v, 1)) == 0) {
        if (durable) {
            rc = iw_staged_sync(&s);
        } else {
            int fd = s.fd;
            s.fd = -1;
            if (close(fd) != 0)
                rc = iw_error_set_os(iw_error_from_errno(errno), errno, "cannot close '%s'", s.path);
        }
    }
    if (rc == 0 && durable)
        iw_test_pause_before_rename();
    if (rc == 0)
        rc = iw_staged_rename(&s);
    if (rc < 0) {
        iw_staged_abort(&s);
        return rc;
    }
    if (!durable)
        return 0;
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    return iw_fsync_dir(dir);
}

int iw_write_atomic(const char *path, const void *data, size_t len)
{
    return replace_whole(path, data, len, true);
}

int iw_write_replace(const char *path, const void *data, size_t len)
{
    return replace_whole(path, data, len, false);
}

/* Open-file-description locks (F_OFD_*) belong to the open file, not to the
 * process: two threads of one process (serve answers each request on its
 * own thread) exclude each other exactly as two processes do, and closing
 * another descriptor of the file does not drop the lock.  They conflict with
 * classic fcntl locks held by other programs and work over NFS.  Linux
 * before 3.15 lacks them (EINVAL): that is an error, not a silent fallback
 * to per-process locks. */
int iw_lock_acquire(iw_lock *lk, const char *lock_path, int timeout_ms)
{
    lk->fd = -1;
    lk->path = NULL;
    /* O_NOFOLLOW: a symlink planted there would have its target written */
    int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ELOOP)
        return iw_error_set(IW_EUNSAFE, "lock file '%s' is a symbolic link (refused; remove it)", lock_path);
    if (fd < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open lock file '%s'", lock_path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return iw_error_set(IW_EUNSAFE, "lock file '%s' is not a regular file (refused)", lock_path);
    }
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    int waited = 0;
    for (;;) {
        int r = fcntl(fd, timeout_ms < 0 ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if ((errno == EACCES || errno == EAGAIN) && timeout_ms >= 0 && waited < timeout_ms) {
            usleep(10000);
            waited += 10;
            continue;
        }
        int e = errno;
        close(fd);
        if (e == EACCES || e == EAGAIN)
            return iw_error_set(IW_ELOCKED, "'%s' is locked by another writer (waited %d ms)", lock_path, waited);
        if (e == EINVAL)
            return iw_error_set(IW_EIO, "cannot lock '%s': open-file-description locks are not supported here "
                                "(Linux 3.15 or later is needed)", lock_path);
        return iw_error_set_os(IW_EIO, e, "cannot lock '%s'", lock_path);
    }
    lk->fd = fd;
    lk->path = strdup(lock_path);
    return 0;
}

void iw_lock_release(iw_lock *lk)
{
    if (lk->fd >= 0) {
        struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
        (void)fcntl(lk->fd, F_OFD_SETLK, &fl);
        close(lk->fd);
    }
    free(lk->path);
    lk->fd = -1;
    lk->path = NULL;
}
