/* error.h - error codes and the thread-local last-error message.
 *
 * Convention (libgit2 style): functions return 0 on success or a negative
 * iw_error_code.  The failing function sets a one-line message exactly once,
 * where the failure happens, naming what failed and where (file, offset, key).
 * Callers propagate the code without overwriting the message; a caller may add
 * context with iw_error_prefix().  The library never prints, exits or aborts
 * on bad input.
 */
#ifndef IWDL_ERROR_H
#define IWDL_ERROR_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum iw_error_code {
    IW_OK          = 0,
    IW_ERR         = -1,  /* generic failure */
    IW_ENOMEM      = -2,  /* allocation failed */
    IW_EINVAL      = -3,  /* invalid argument (caller error) */
    IW_EFORMAT     = -4,  /* malformed input: bad magic, truncated, wrong type */
    IW_ELIMIT      = -5,  /* input exceeds a documented cap */
    IW_EIO         = -6,  /* read/write/OS error */
    IW_ENOTFOUND   = -7,  /* file, repo, revision, entry or key not found */
    IW_EAUTH       = -8,  /* authentication required or refused (gated repo) */
    IW_ENET        = -9,  /* network/transport failure */
    IW_EVERIFY     = -10, /* checksum mismatch */
    IW_ELOCKED     = -11, /* lock held by another process */
    IW_EEXISTS     = -12, /* already exists / duplicate */
    IW_EUNSUPPORTED= -13, /* valid but not supported */
    IW_ENOSPC      = -14, /* no space left on device */
    IW_EOFFLINE    = -15, /* HF_HUB_OFFLINE set and the data is not cached */
    IW_EUNSAFE     = -16, /* unsafe path (traversal, absolute, NUL, backslash) */
    IW_EHTTP       = -17  /* HTTP status error not covered above */
} iw_error_code;

/* Set the last error for this thread; returns `code` so callers can write
 * `return iw_error_set(IW_EFORMAT, "...")`. */
int iw_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int iw_error_setv(int code, const char *fmt, va_list ap);
/* As iw_error_set, appending ": <strerror(errnum)>". */
int iw_error_set_os(int code, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepend "<context>: " to the current message; returns the current code. */
int iw_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *iw_error_last(void);      /* never NULL; "" when no error */
int         iw_error_last_code(void); /* IW_OK when none */
void        iw_error_clear(void);
const char *iw_error_name(int code);  /* "EFORMAT", ... */

/* Options structs carry a version first, as in libgit2 (IW_<X>_VERSION,
 * IW_<X>_INIT, an init function).  A function taking one reads version 0
 * (a zeroed struct) and versions up to `known`, and refuses a later one
 * with IW_EINVAL naming `what`, rather than misreading it. */
int iw_opts_version_check(unsigned version, unsigned known, const char *what);

/* Map an errno value to an error code (ENOSPC -> IW_ENOSPC, ENOENT -> IW_ENOTFOUND, ...). */
int iw_error_from_errno(int errnum);

/* Replace control characters (C0, DEL and C1 U+0080..U+009F) by spaces in
 * place: the text is one line and nothing in it drives a terminal.  Error
 * messages and iw_arch warnings get this. */
void iw_text_sanitize(char *s);

#ifdef __cplusplus
}
#endif
#endif
