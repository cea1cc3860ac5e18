/* safetensors_testutil.h - tiny safetensors writer for the tests.
 *
 * Files are written as "u64 LE N | header JSON padded with spaces to a
 * multiple of 8 | data"; the data section is extended with ftruncate, so it
 * is sparse (zeros) and a "7B" test model costs no disk.  Independent of the
 * library's dtype table on purpose (the tests must not trust the code under
 * test for the expected sizes). */
#ifndef SAFETENSORS_TESTUTIL_H
#define SAFETENSORS_TESTUTIL_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STW_MAX_DIMS 6

typedef struct stw_t {
    const char *name;
    const char *dtype;
    int         nd;
    int64_t     shape[STW_MAX_DIMS];
} stw_t;

static inline unsigned stw_bits(const char *dt)
{
    static const struct { const char *n; unsigned b; } tab[] = {
        { "BOOL", 8 }, { "F4", 4 }, { "F6_E2M3", 6 }, { "F6_E3M2", 6 }, { "U8", 8 }, { "I8", 8 },
        { "F8_E5M2", 8 }, { "F8_E4M3", 8 }, { "F8_E8M0", 8 }, { "E8M0", 8 }, { "I16", 16 },
        { "U16", 16 }, { "F16", 16 }, { "BF16", 16 }, { "I32", 32 }, { "U32", 32 }, { "F32", 32 },
        { "C64", 64 }, { "F64", 64 }, { "I64", 64 }, { "U64", 64 },
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(tab[i].n, dt) == 0)
            return tab[i].b;
    return 16;
}

static inline uint64_t stw_elems(const stw_t *t)
{
    uint64_t e = 1;
    for (int d = 0; d < t->nd; d++)
        e *= (uint64_t)t->shape[d];
    return e;
}

static inline uint64_t stw_bytes(const stw_t *t) { return stw_elems(t) * stw_bits(t->dtype) / 8; }

/* Growable string. */
typedef struct stw_str { char *p; size_t n, cap; } stw_str;

static inline void stw_cat(stw_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void stw_cat(stw_str *s, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = s->cap - s->n;
        va_start(ap, fmt);
        int k = vsnprintf(s->p ? s->p + s->n : NULL, s->p ? room : 0, fmt, ap);
        va_end(ap);
        if (s->p && (size_t)k < room) {
            s->n += (size_t)k;
            return;
        }
        size_t nc = (s->cap + (size_t)k + 1) * 2;
        s->p = realloc(s->p, nc);
        s->cap = nc;
    }
}

/* Header JSON for the tensors laid out back to back in order; *data_bytes
 * receives the data-section size.  meta: extra JSON object text for
 * __metadata__ or NULL. */
static inline char *stw_header(const stw_t *t, size_t n, const char *meta, uint64_t *data_bytes)
{
    stw_str s = { 0 };
    uint64_t off = 0;
    stw_cat(&s, "{");
    if (meta)
        stw_cat(&s, "\"__metadata__\":%s%s", meta, n ? "," : "");
    for (size_t i = 0; i < n; i++) {
        uint64_t b = stw_bytes(&t[i]);
        stw_cat(&s, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].nd; d++)
            stw_cat(&s, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        stw_cat(&s, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + b));
        off += b;
    }
    stw_cat(&s, "}");
    if (data_bytes)
        *data_bytes = off;
    return s.p;
}

/* Write 8-byte length + header (space padded to 8) and extend the file to
 * hold data_bytes more (sparse).  Returns 0 on success. */
static inline int stw_write_raw(const char *path, const char *hdr, uint64_t data_bytes)
{
    size_t hl = strlen(hdr);
    size_t padded = (hl + 7) / 8 * 8;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    char *buf = malloc(padded);
    memcpy(buf, hdr, hl);
    memset(buf + hl, ' ', padded - hl);
    int rc = (write(fd, lenb, 8) == 8 && write(fd, buf, padded) == (ssize_t)padded) ? 0 : -1;
    free(buf);
    if (rc == 0 && ftruncate(fd, (off_t)(8 + padded + data_bytes)) != 0)
        rc = -1;
    close(fd);
    return rc;
}

static inline int stw_write(const char *path, const stw_t *t, size_t n)
{
    uint64_t db;
    char *h = stw_header(t, n, "{\"format\":\"pt\"}", &db);
    int rc = stw_write_raw(path, h, db);
    free(h);
    return rc;
}

/* In-memory file: length + header (unpadded) + data_bytes zeros. */
static inline unsigned char *stw_buffer(const char *hdr, uint64_t data_bytes, size_t *len)
{
    size_t hl = strlen(hdr);
    *len = 8 + hl + (size_t)data_bytes;
    unsigned char *b = calloc(1, *len ? *len : 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    return b;
}

/* Index JSON for shards: tensor i goes to shard_of[i]. total_size < 0 omits it. */
static inline char *stw_index(const stw_t *t, size_t n, const int *shard_of, int n_shards, long long total_size)
{
    stw_str s = { 0 };
    if (total_size >= 0)
        stw_cat(&s, "{\"metadata\":{\"total_size\":%lld},\"weight_map\":{", total_size);
    else
        stw_cat(&s, "{\"metadata\":{},\"weight_map\":{");
    for (size_t i = 0; i < n; i++)
        stw_cat(&s, "%s\"%s\":\"model-%05d-of-%05d.safetensors\"", i ? "," : "", t[i].name,
                shard_of[i] + 1, n_shards);
    stw_cat(&s, "}}");
    return s.p;
}

#endif
