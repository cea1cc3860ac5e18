/* error.c - thread-local last error (see include/iwdl/error.h). */
#include "iwdl/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define IW_ERRMSG_MAX 1024

static _Thread_local char tl_msg[IW_ERRMSG_MAX];
static _Thread_local int  tl_code;

/* Messages are one line a terminal does not interpret: control characters
 * (newlines, ESC from a hostile server or file) are replaced by spaces. */
void iw_text_sanitize(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
        else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)   /* C1: U+0080..U+009F */
            p[0] = p[1] = ' ';
    }
}

static void sanitize(char *s) { iw_text_sanitize(s); }

int iw_error_setv(int code, const char *fmt, va_list ap)
{
    vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
    sanitize(tl_msg);
    tl_code = code;
    return code;
}

int iw_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    iw_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int iw_error_set_os(int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    iw_error_setv(code, fmt, ap);
    va_end(ap);
    size_t n = strlen(tl_msg);
    if (n < sizeof tl_msg - 3)
        snprintf(tl_msg + n, sizeof tl_msg - n, ": %s", strerror(errnum));
    sanitize(tl_msg);
    return code;
}

int iw_error_prefix(const char *fmt, ...)
{
    char pre[IW_ERRMSG_MAX], old[IW_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, tl_msg, sizeof old);
    snprintf(tl_msg, sizeof tl_msg, "%s: %s", pre, old);
    sanitize(tl_msg);
    return tl_code;
}

const char *iw_error_last(void) { return tl_msg; }
int iw_error_last_code(void) { return tl_code; }

void iw_error_clear(void)
{
    tl_msg[0] = 0;
    tl_code = IW_OK;
}

const char *iw_error_name(int code)
{
    switch (code) {
    case IW_OK: return "OK";
    case IW_ERR: return "ERR";
    case IW_ENOMEM: return "ENOMEM";
    case IW_EINVAL: return "EINVAL";
    case IW_EFORMAT: return "EFORMAT";
    case IW_ELIMIT: return "ELIMIT";
    case IW_EIO: return "EIO";
    case IW_ENOTFOUND: return "ENOTFOUND";
    case IW_EAUTH: return "EAUTH";
    case IW_ENET: return "ENET";
    case IW_EVERIFY: return "EVERIFY";
    case IW_ELOCKED: return "ELOCKED";
    case IW_EEXISTS: return "EEXISTS";
    case IW_EUNSUPPORTED: return "EUNSUPPORTED";
    case IW_ENOSPC: return "ENOSPC";
    case IW_EOFFLINE: return "EOFFLINE";
    case IW_EUNSAFE: return "EUNSAFE";
    case IW_EHTTP: return "EHTTP";
    default: return "EUNKNOWN";
    }
}

int iw_error_from_errno(int e)
{
    switch (e) {
    case ENOSPC: case EDQUOT: return IW_ENOSPC;
    case ENOENT: case ENOTDIR: return IW_ENOTFOUND;
    case ENOMEM: return IW_ENOMEM;
    case EEXIST: return IW_EEXISTS;
    case EAGAIN: return IW_ELOCKED;
    default: return IW_EIO;
    }
}

int iw_opts_version_check(unsigned version, unsigned known, const char *what)
{
    if (version <= known)
        return 0;
    return iw_error_set(IW_EINVAL, "%s: options version %u, this library knows %u", what, version, known);
}
