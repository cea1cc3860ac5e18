/* buf.c - capped growable buffer. */
#include "iwdl/buf.h"
#include "iwdl/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void iw_buf_init(iw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

int iw_buf_reserve(iw_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return iw_error_set(IW_ELIMIT, "buffer cap of %zu bytes exceeded", b->max);
    size_t need = b->len + extra + 1;   /* +1 for the terminating NUL */
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2) { ncap = need; break; }
        ncap *= 2;
    }
    char *nd = realloc(b->data, ncap);
    if (!nd)
        return iw_error_set(IW_ENOMEM, "out of memory growing a buffer to %zu bytes", ncap);
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int iw_buf_append(iw_buf *b, const void *data, size_t n)
{
    int rc = iw_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int iw_buf_puts(iw_buf *b, const char *s) { return iw_buf_append(b, s, strlen(s)); }
int iw_buf_putc(iw_buf *b, char c) { return iw_buf_append(b, &c, 1); }

int iw_buf_printf(iw_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return iw_error_set(IW_EINVAL, "bad format string");
    }
    int rc = iw_buf_reserve(b, (size_t)n);
    if (rc == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return rc;
}

void iw_buf_clear(iw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

char *iw_buf_detach(iw_buf *b)
{
    char *d = b->data;
    if (!d)
        d = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void iw_buf_free(iw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int iw_buf_csv_field(iw_buf *b, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL)
        return iw_buf_puts(b, s);
    int rc = iw_buf_putc(b, '"');
    for (; rc == 0 && *s; s++)
        rc = *s == '"' ? iw_buf_puts(b, "\"\"") : iw_buf_putc(b, *s);
    return rc ? rc : iw_buf_putc(b, '"');
}
