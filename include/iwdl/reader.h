/* reader.h - bounded readers for untrusted bytes.
 *
 * iw_reader walks a memory buffer, tracking bytes remaining; every read checks
 * the bound first and fails with IW_EFORMAT naming the offset.  Byte order is
 * chosen per reader (little or big endian).
 *
 * iw_source is a read-at-offset callback so that one parser serves a local
 * file, a memory buffer, an HTTP Range reader or fuzz input.
 */
#ifndef IWDL_READER_H
#define IWDL_READER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct iw_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool   big_endian;
    uint64_t base;   /* file offset of p[0], used in error messages */
} iw_reader;

void   iw_reader_init(iw_reader *r, const void *data, size_t len, bool big_endian);
size_t iw_reader_remaining(const iw_reader *r);
uint64_t iw_reader_offset(const iw_reader *r);   /* base + pos */
int iw_rd_u8 (iw_reader *r, uint8_t  *out);
int iw_rd_u16(iw_reader *r, uint16_t *out);
int iw_rd_u32(iw_reader *r, uint32_t *out);
int iw_rd_u64(iw_reader *r, uint64_t *out);
int iw_rd_i32(iw_reader *r, int32_t  *out);
int iw_rd_i64(iw_reader *r, int64_t  *out);
int iw_rd_f32(iw_reader *r, float    *out);
int iw_rd_f64(iw_reader *r, double   *out);
/* Borrow n bytes (no copy). */
int iw_rd_bytes(iw_reader *r, size_t n, const uint8_t **out);
int iw_rd_skip(iw_reader *r, size_t n);

#define IW_SIZE_UNKNOWN UINT64_MAX

/* Read up to len bytes at off into dst; *got receives the count (short only at EOF). */
typedef int (*iw_read_at_fn)(void *ctx, uint64_t off, void *dst, size_t len, size_t *got);

typedef struct iw_source {
    iw_read_at_fn read_at;
    void   *ctx;
    uint64_t size;          /* IW_SIZE_UNKNOWN when not known */
    char    name[512];      /* for error messages: path or URL */
    uint64_t bytes_read;    /* bytes delivered so far (bench and --json report) */
    void  (*close)(void *ctx);
} iw_source;

void iw_source_from_buffer(iw_source *s, const void *data, size_t len, const char *name);
int  iw_source_open_file(iw_source *s, const char *path);
void iw_source_close(iw_source *s);
/* Reads exactly len bytes unless EOF; counts bytes_read. */
int  iw_source_read_at(iw_source *s, uint64_t off, void *dst, size_t len, size_t *got);

#endif
