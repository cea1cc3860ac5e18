/* buf.h - growable byte buffer with a hard size cap.
 * The content is always NUL-terminated (data[len] == 0) once allocated. */
#ifndef IWDL_BUF_H
#define IWDL_BUF_H

#include <stddef.h>

typedef struct iw_buf {
    char  *data;
    size_t len;
    size_t cap;
    size_t max;   /* hard cap on len; appends beyond it fail with IW_ELIMIT */
} iw_buf;

#define IW_BUF_UNCAPPED ((size_t)-1)
#define IW_BUF_INIT(max_) { NULL, 0, 0, (max_) }

void  iw_buf_init(iw_buf *b, size_t max);
int   iw_buf_reserve(iw_buf *b, size_t extra);
int   iw_buf_append(iw_buf *b, const void *data, size_t n);
int   iw_buf_puts(iw_buf *b, const char *s);
int   iw_buf_putc(iw_buf *b, char c);
int   iw_buf_printf(iw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void  iw_buf_clear(iw_buf *b);            /* len = 0, keeps memory */
char *iw_buf_detach(iw_buf *b);           /* returns malloc'd NUL-terminated data (never NULL on success path; "" if empty); resets b */
void  iw_buf_free(iw_buf *b);
/* One CSV field (RFC 4180): as is, or quoted with '"' doubled when it holds
 * a comma, a quote, CR or LF. */
int   iw_buf_csv_field(iw_buf *b, const char *s);

#endif
