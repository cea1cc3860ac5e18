/* fuzz_progress.c - libFuzzer harness for the download command's terminal
 * progress (tools/imageworks-download/progress.c), whose file names come
 * from the server.  Input: byte 0 = terminal width, byte 1 = rows, the rest
 * up to three NUL-separated file names.  Checked, for every input:
 *   - dl_fit_middle: NUL-terminated, no control byte, at most `cols`
 *     columns by dl_text_columns, and the whole name when it fits (and is
 *     UTF-8 without control bytes);
 *   - a drawn frame: every line (between the frame's escape sequences) is
 *     narrower than the terminal, and the frame has fewer lines than rows.
 * A violation aborts (a crash for libFuzzer, a failure for the replayer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/imageworks-download/progress.c"
#include "../../tools/imageworks-download/cli_text.c"

/* A broken property: say which, then crash. */
#define FAIL(what) (fprintf(stderr, "fuzz_progress: %s\n", what), abort())

static void check_fit(const char *name, size_t cols)
{
    char out[2048];
    size_t c = dl_fit_middle(name, cols, out, sizeof out);
    if (strlen(out) >= sizeof out || dl_text_columns(out) != c || c > cols)
        FAIL("dl_fit_middle: too wide or wrong column count");
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            FAIL("dl_fit_middle: a control byte");
    if (dl_text_columns(name) <= cols && strlen(name) < sizeof out) {
        bool as_is = true;      /* no control byte, nothing that is not UTF-8 */
        size_t len = strlen(name);
        for (size_t i = 0, k; i < len; i += k)
            as_is &= next_char(name, len, i, &k);
        if (as_is && strcmp(out, name))
            FAIL("dl_fit_middle: a name that fits was changed");
    }
}

/* Every line of the frames written by draw() (text between "\r\x1b[<n>A",
 * "\x1b[K\n" and "\x1b[J", which ends a frame): narrower than the terminal,
 * and fewer lines in a frame than rows. */
static void check_frame(const char *buf, size_t len, size_t cols, size_t rows)
{
    size_t lines = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        if (*p == '\r') {
            p++;
            continue;
        }
        if (*p == '\x1b') {
            p++;
            if (p < end && *p == '[')
                p++;
            while (p < end && ((*p >= '0' && *p <= '9') || *p == ';'))
                p++;
            if (p < end && *p == 'J')
                lines = 0;      /* erase-below ends a frame */
            if (p < end)
                p++;
            continue;
        }
        const char *e = p;
        while (e < end && *e != '\x1b' && *e != '\n')
            e++;
        char text[4096];
        size_t n = (size_t)(e - p) < sizeof text - 1 ? (size_t)(e - p) : sizeof text - 1;
        memcpy(text, p, n);
        text[n] = 0;
        if (dl_text_columns(text) >= cols && cols > 1)
            FAIL("a line reaches the last column");
        p = e;
        while (p < end && *p != '\n') {   /* skip this line's trailing escapes */
            if (*p == '\x1b') {
                p++;
                if (p < end && *p == '[')
                    p++;
                while (p < end && ((*p >= '0' && *p <= '9') || *p == ';'))
                    p++;
            }
            if (p < end && *p != '\n')
                p++;
        }
        if (p < end && *p == '\n') {
            if (++lines >= rows && rows > 1)
                FAIL("the frame has as many lines as the screen");
            p++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t cols = data[0], rows = data[1];
    char *text = malloc(size - 1);
    if (!text)
        return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = 0;
    /* up to three names, NUL-separated */
    const char *names[3] = {"", "", ""};
    size_t nn = 0;
    for (const char *p = text; nn < 3 && p <= text + (size - 2); p += strlen(p) + 1)
        names[nn++] = p;
    for (size_t i = 0; i < nn; i++)
        check_fit(names[i], cols);

    char *frame = NULL;
    size_t flen = 0;
    FILE *f = open_memstream(&frame, &flen);
    if (f) {
        dl_progress *p = dl_progress_new(f);
        if (p) {
            g_winch = 0;        /* the size below, not the (absent) terminal's */
            p->cols = (int)cols;
            p->rows = (int)rows;
            iw_dl_active act[3];
            for (size_t i = 0; i < nn; i++)
                act[i] = (iw_dl_active){names[i], (uint64_t)i * 123456789u, 4000000000u, 1e6 * (double)i, (int)i + 1};
            iw_dl_event ev = {.kind = IW_DL_EV_PROGRESS, .total_done = 1u << 20, .total_size = 1u << 30,
                              .rate = 5e6, .elapsed = 1.0, .active = act, .n_active = nn};
            dl_progress_event(p, &ev);
            ev.elapsed = 1.25;
            dl_progress_event(p, &ev);
            dl_progress_clear(p);
            dl_progress_free(p);
        }
        fclose(f);
        /* rows == 0 or 1: draw() still shows the total; cols 0/1: one column */
        check_frame(frame, flen, cols > 1 ? cols : 2, rows > 2 ? rows : 0);
        free(frame);
    }
    free(text);
    return 0;
}
