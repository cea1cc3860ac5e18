/* reader.c - bounded reader over memory and the read-at source abstraction. */
#include "iwdl/reader.h"
#include "iwdl/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void iw_reader_init(iw_reader *r, const void *data, size_t len, bool big_endian)
{
    r->p = data;
    r->len = data ? len : 0;
    r->pos = 0;
    r->big_endian = big_endian;
    r->base = 0;
}

size_t iw_reader_remaining(const iw_reader *r) { return r->len - r->pos; }
uint64_t iw_reader_offset(const iw_reader *r) { return r->base + r->pos; }

static int need(iw_reader *r, size_t n)
{
    if (n > r->len - r->pos)
        return iw_error_set(IW_EFORMAT,
            "unexpected end of data at offset %llu (need %zu bytes, %zu left)",
            (unsigned long long)iw_reader_offset(r), n, r->len - r->pos);
    return 0;
}

static uint64_t load(iw_reader *r, size_t n)
{
    const uint8_t *p = r->p + r->pos;
    uint64_t v = 0;
    if (r->big_endian)
        for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
    else
        for (size_t i = n; i > 0; i--) v = (v << 8) | p[i - 1];
    r->pos += n;
    return v;
}

int iw_rd_u8(iw_reader *r, uint8_t *out)
{
    int rc = need(r, 1);
    if (rc == 0) *out = (uint8_t)load(r, 1);
    return rc;
}
int iw_rd_u16(iw_reader *r, uint16_t *out)
{
    int rc = need(r, 2);
    if (rc == 0) *out = (uint16_t)load(r, 2);
    return rc;
}
int iw_rd_u32(iw_reader *r, uint32_t *out)
{
    int rc = need(r, 4);
    if (rc == 0) *out = (uint32_t)load(r, 4);
    return rc;
}
int iw_rd_u64(iw_reader *r, uint64_t *out)
{
    int rc = need(r, 8);
    if (rc == 0) *out = load(r, 8);
    return rc;
}
int iw_rd_i32(iw_reader *r, int32_t *out)
{
    uint32_t u;
    int rc = iw_rd_u32(r, &u);
    if (rc == 0) memcpy(out, &u, 4);
    return rc;
}
int iw_rd_i64(iw_reader *r, int64_t *out)
{
    uint64_t u;
    int rc = iw_rd_u64(r, &u);
    if (rc == 0) memcpy(out, &u, 8);
    return rc;
}
int iw_rd_f32(iw_reader *r, float *out)
{
    uint32_t u;
    int rc = iw_rd_u32(r, &u);
    if (rc == 0) memcpy(out, &u, 4);
    return rc;
}
int iw_rd_f64(iw_reader *r, double *out)
{
    uint64_t u;
    int rc = iw_rd_u64(r, &u);
    if (rc == 0) memcpy(out, &u, 8);
    return rc;
}
int iw_rd_bytes(iw_reader *r, size_t n, const uint8_t **out)
{
    int rc = need(r, n);
    if (rc == 0) {
        *out = r->p + r->pos;
        r->pos += n;
    }
    return rc;
}
int iw_rd_skip(iw_reader *r, size_t n)
{
    int rc = need(r, n);
    if (rc == 0)
        r->pos += n;
    return rc;
}

/* ---- sources ----------------------------------------------------------- */

struct buf_src { const uint8_t *p; size_t len; };

static int buf_read_at(void *ctx, uint64_t off, void *dst, size_t len, size_t *got)
{
    struct buf_src *b = ctx;
    *got = 0;
    if (off >= b->len)
        return 0;
    size_t n = b->len - (size_t)off;
    if (n > len) n = len;
    memcpy(dst, b->p + off, n);
    *got = n;
    return 0;
}

static void buf_close(void *ctx) { free(ctx); }

void iw_source_from_buffer(iw_source *s, const void *data, size_t len, const char *name)
{
    memset(s, 0, sizeof *s);
    struct buf_src *b = malloc(sizeof *b);
    if (b) {
        b->p = data;
        b->len = data ? len : 0;
    }
    s->ctx = b;
    s->read_at = b ? buf_read_at : NULL;
    s->close = buf_close;
    s->size = b ? b->len : 0;
    snprintf(s->name, sizeof s->name, "%s", name ? name : "<buffer>");
}

static int fd_read_at(void *ctx, uint64_t off, void *dst, size_t len, size_t *got)
{
    int fd = (int)(intptr_t)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)dst + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            *got = done;
            return iw_error_set_os(IW_EIO, errno, "read at offset %llu failed",
                                   (unsigned long long)(off + done));
        }
        if (n == 0) break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

static void fd_close(void *ctx) { close((int)(intptr_t)ctx); }

int iw_source_open_file(iw_source *s, const char *path)
{
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return iw_error_set(IW_EIO, "'%s' is not a regular file", path);
    }
    s->ctx = (void *)(intptr_t)fd;
    s->read_at = fd_read_at;
    s->close = fd_close;
    s->size = (uint64_t)st.st_size;
    snprintf(s->name, sizeof s->name, "%s", path);
    return 0;
}

void iw_source_close(iw_source *s)
{
    if (s->close && (s->ctx || s->read_at == fd_read_at))
        s->close(s->ctx);
    s->close = NULL;
    s->ctx = NULL;
    s->read_at = NULL;
}

int iw_source_read_at(iw_source *s, uint64_t off, void *dst, size_t len, size_t *got)
{
    size_t g = 0;
    if (!s->read_at)
        return iw_error_set(IW_EINVAL, "source '%s' is not open", s->name);
    int rc = s->read_at(s->ctx, off, dst, len, &g);
    s->bytes_read += g;
    if (got)
        *got = g;
    return rc;
}
