/* tty_guard.c - text from files never reaches a terminal raw.
 *
 * Model types, architecture names, entry names and paths come from files
 * and servers; printed raw, a config.json can clear the screen or set the
 * window title.  When stdout is a terminal, cli_guard_stdout() replaces it
 * by a stream that escapes on the way out:
 *  - C0 control characters other than newline and tab, DEL, and C1
 *    (U+0080..U+009F) as \u00XX: inside a JSON string that is the JSON
 *    escape of the same character, so --json output keeps its values;
 *  - bytes that are not part of valid UTF-8 as \xNN.
 * The tool writes no control sequence of its own to stdout (progress
 * redraws go to stderr), so nothing it means is lost.  Not a terminal:
 * stdout is left alone, and files or pipes get the exact bytes.
 */
#include "cli.h"

#include "iwdl/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct guard {
    int           fd;
    unsigned char carry[4];   /* an incomplete UTF-8 sequence from the last write */
    size_t        ncarry;
} guard;

static int put_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Escape p[0..n) into out (room for 6 bytes per input byte); returns the
 * bytes consumed (an incomplete sequence at the end is left) and *outn. */
static size_t escape(const unsigned char *p, size_t n, bool final, char *out, size_t *outn)
{
    size_t i = 0, k = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
                k += (size_t)sprintf(out + k, "\\u%04x", c);
            else
                out[k++] = (char)c;
            i++;
            continue;
        }
        int len = iw_utf8_len(p + i, n - i);
        if (len == 0 && !final)
            break;
        if (len <= 0) {
            k += (size_t)sprintf(out + k, "\\x%02x", c);
            i++;
        } else if (c == 0xc2 && p[i + 1] <= 0x9f) {
            k += (size_t)sprintf(out + k, "\\u%04x", p[i + 1]);
            i += 2;
        } else {
            memcpy(out + k, p + i, (size_t)len);
            k += (size_t)len;
            i += (size_t)len;
        }
    }
    *outn = k;
    return i;
}

/* Escape and write p[0..n); an incomplete sequence at the end is carried
 * to the next write unless final. */
static int guard_out(guard *g, const unsigned char *p, size_t n, bool final)
{
    char out[6 * 512];
    while (n) {
        size_t chunk = n > 512 ? 512 : n, outn;
        size_t used = escape(p, chunk, final && chunk == n, out, &outn);
        if (put_all(g->fd, out, outn) < 0)
            return -1;
        if (used == 0) {   /* fewer than 4 bytes left, an unfinished sequence */
            memcpy(g->carry, p, n);
            g->ncarry = n;
            return 0;
        }
        p += used;
        n -= used;
    }
    return 0;
}

static ssize_t guard_write(void *cookie, const char *buf, size_t size)
{
    guard *g = cookie;
    unsigned char joined[8];
    size_t take = 0;
    if (g->ncarry) {   /* complete the carried sequence first */
        memcpy(joined, g->carry, g->ncarry);
        take = size < sizeof joined - g->ncarry ? size : sizeof joined - g->ncarry;
        memcpy(joined + g->ncarry, buf, take);
        size_t jn = g->ncarry + take, outn;
        char out[6 * sizeof joined];
        size_t used = escape(joined, jn, false, out, &outn);
        if (used < g->ncarry) {   /* still incomplete: all of buf was taken */
            memcpy(g->carry, joined, jn);
            g->ncarry = jn;
            return (ssize_t)size;
        }
        if (put_all(g->fd, out, outn) < 0)
            return -1;
        take = used - g->ncarry;   /* bytes of buf consumed */
        g->ncarry = 0;
    }
    if (guard_out(g, (const unsigned char *)buf + take, size - take, false) < 0)
        return -1;
    return (ssize_t)size;
}

static int guard_close(void *cookie)
{
    guard *g = cookie;
    unsigned char rest[4];
    size_t n = g->ncarry;
    memcpy(rest, g->carry, n);
    g->ncarry = 0;
    return n ? guard_out(g, rest, n, true) : 0;
}

void cli_guard_stdout(void)
{
    static guard g = { STDOUT_FILENO, {0}, 0 };
    if (!isatty(STDOUT_FILENO))
        return;
    cookie_io_functions_t io = { .read = NULL, .write = guard_write, .seek = NULL, .close = guard_close };
    FILE *f = fopencookie(&g, "w", io);
    if (!f)
        return;   /* raw output is still output */
    setvbuf(f, NULL, _IOLBF, BUFSIZ);
    fflush(stdout);
    stdout = f;
}
