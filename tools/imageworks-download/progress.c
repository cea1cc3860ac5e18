/* progress.c - the download command's terminal progress (progress.h).
 *
 * A frame is drawn from the line under the previous frame's first line:
 * "\r", cursor up by the lines drawn last time, each line followed by
 * "\x1b[K" (erase the rest of the row) and "\n", then "\x1b[J" (erase what
 * an older, taller frame left below).  A line never reaches the last column
 * (width - 1 at most): the terminal never wraps it, so the cursor-up count is
 * right.  At most rows - 1 lines are drawn, so the frame never scrolls off
 * the top.  When the terminal is resized the width is read again; lines
 * drawn before a narrowing are assumed not to be re-wrapped by the terminal
 * (VT100/xterm behaviour; terminals that reflow may keep a stale line then).
 */
#include "progress.h"
#include "cli.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "iwdl/text.h"

#define MAX_FILE_LINES  16
#define RATE_WINDOW_S   2.0       /* per-file rate over the last 2 s of samples */
#define RING            16        /* samples kept per file (4 a second) */
#define MAX_METERS      128       /* files remembered (active ones and a few done) */
#define NAME_MIN        16        /* a layout is used when names get this many columns */
#define MAX_COLS        400       /* wider terminals get lines of this width */

typedef struct meter {
    char    *path;
    double   t[RING];
    uint64_t done[RING];
    int      n, head;             /* samples held; index of the newest */
    uint64_t last_seen;           /* frame counter, for eviction */
    uint64_t first_done;          /* done at the file's first sample (a resume starts above 0) */
    bool     moved;               /* bytes arrived since then: a rate means something */
} meter;

struct dl_progress {
    FILE    *out;
    int      fd;
    int      cols, rows;
    int      drawn;               /* lines of the last frame */
    uint64_t frame;
    meter    m[MAX_METERS];
    size_t   nm;
    struct sigaction old_winch;
    bool     have_old;
};

static volatile sig_atomic_t g_winch = 1;   /* read the size at the first frame */

static void on_winch(int sig)
{
    (void)sig;
    g_winch = 1;
}

static void read_size(dl_progress *p)
{
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    if (ioctl(p->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        p->cols = ws.ws_col < MAX_COLS ? ws.ws_col : MAX_COLS;
        p->rows = ws.ws_row > 0 ? ws.ws_row : 24;
    } else {
        p->cols = 80;
        p->rows = 24;
    }
}

dl_progress *dl_progress_new(FILE *out)
{
    dl_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->out = out;
    p->fd = fileno(out);
    g_winch = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    p->have_old = sigaction(SIGWINCH, &sa, &p->old_winch) == 0;
    return p;
}

void dl_progress_free(dl_progress *p)
{
    if (!p)
        return;
    if (p->have_old)
        sigaction(SIGWINCH, &p->old_winch, NULL);
    for (size_t i = 0; i < p->nm; i++)
        free(p->m[i].path);
    free(p);
}

/* ---------------------------------------------------------------- text */

/* The character at s[i] (len bytes in all): *n its bytes; returns false when
 * it is not one a terminal shows as is (a control byte, a C1 control
 * U+0080..U+009F, or bytes that are not UTF-8: a stray continuation, a bad
 * lead, a cut sequence, an overlong form), which are shown as one '?'. */
static bool next_char(const char *s, size_t len, size_t i, size_t *n)
{
    const unsigned char *p = (const unsigned char *)s + i;
    int l = iw_utf8_len(p, len - i);
    *n = l > 0 ? (size_t)l : 1;
    if (l <= 0)
        return false;
    if (l == 1)
        return p[0] >= 0x20 && p[0] != 0x7f;
    return !(p[0] == 0xc2 && p[1] <= 0x9f);
}

/* Columns of one shown character: ASCII 1, '?' for a bad one 1, any other
 * code point 2 (never less than a terminal gives it). */
static size_t char_cols(bool ok, size_t n)
{
    return ok && n > 1 ? 2 : 1;
}

size_t dl_text_columns(const char *s)
{
    size_t cols = 0, len = s ? strlen(s) : 0;
    for (size_t i = 0, n; i < len; i += n) {
        bool ok = next_char(s, len, i, &n);
        cols += char_cols(ok, n);
    }
    return cols;
}

/* Append the characters of s[from..to) (byte offsets on character starts)
 * to out: each shown as is, or '?'. */
static size_t put_range(const char *s, size_t len, size_t from, size_t to, char *out, size_t o, size_t n)
{
    for (size_t i = from, k; i < to && o + 1 < n; i += k) {
        if (next_char(s, len, i, &k)) {
            if (o + k + 1 > n)
                break;
            memcpy(out + o, s + i, k);
            o += k;
        } else {
            out[o++] = '?';
        }
    }
    out[o] = 0;
    return o;
}

/* Byte offset where the first `cols` columns of s[from..len) end. */
static size_t cut_at(const char *s, size_t len, size_t from, size_t cols, size_t *used)
{
    size_t i = from, c = 0, n;
    while (i < len) {
        bool ok = next_char(s, len, i, &n);
        size_t w = char_cols(ok, n);
        if (c + w > cols)
            break;
        c += w;
        i += n;
    }
    *used = c;
    return i;
}

size_t dl_fit_middle(const char *s, size_t cols, char *out, size_t n)
{
    if (!n)
        return 0;
    out[0] = 0;
    if (!s)
        s = "";
    size_t len = strlen(s), total = dl_text_columns(s), used;
    if (total <= cols) {
        put_range(s, len, 0, len, out, 0, n);
        return dl_text_columns(out);
    }
    if (cols < 5) {                  /* no room for "...": the head only */
        put_range(s, len, 0, cut_at(s, len, 0, cols, &used), out, 0, n);
        return dl_text_columns(out);
    }
    /* keep the end (the extension and shard number) a little longer */
    size_t room = cols - 3, tail_cols = (room + 1) / 2, head_cols = room - tail_cols;
    size_t hi = cut_at(s, len, 0, head_cols, &used);
    /* the tail: the first character start after hi from which the rest
     * takes at most tail_cols columns */
    size_t rest = total - used, ti = hi, k;
    while (ti < len && rest > tail_cols) {
        bool ok = next_char(s, len, ti, &k);
        rest -= char_cols(ok, k);
        ti += k;
    }
    size_t o = put_range(s, len, 0, hi, out, 0, n);
    o = put_range("...", 3, 0, 3, out, o, n);
    put_range(s, len, ti, len, out, o, n);
    return dl_text_columns(out);
}

static void human(char *out, size_t n, double b)
{
    cli_human_bytes(out, n, b, 1);
}

static void eta_text(char *out, size_t n, double s)
{
    long v = (long)(s + 0.5);
    if (v < 60)
        snprintf(out, n, "%lds", v);
    else if (v < 3600)
        snprintf(out, n, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(out, n, "%ldh%02ldm", v / 3600, (v % 3600) / 60);
}

/* ---------------------------------------------------------------- rates */

static meter *meter_for(dl_progress *p, const char *path, bool create)
{
    for (size_t i = 0; i < p->nm; i++)
        if (!strcmp(p->m[i].path, path))
            return &p->m[i];
    if (!create)
        return NULL;
    meter *m;
    if (p->nm < MAX_METERS) {
        m = &p->m[p->nm++];
    } else {                         /* forget the file not seen the longest */
        m = &p->m[0];
        for (size_t i = 1; i < p->nm; i++)
            if (p->m[i].last_seen < m->last_seen)
                m = &p->m[i];
        free(m->path);
    }
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    if (!m->path) {
        p->nm--;
        return NULL;
    }
    return m;
}

static void meter_add(meter *m, double t, uint64_t done)
{
    if (m->n && done < m->done[m->head]) {
        m->n = 0;                    /* started over (a retry from zero) */
        m->moved = false;
    }
    if (m->n == 0 && !m->moved)
        m->first_done = done;
    else if (done > m->first_done)
        m->moved = true;
    m->head = m->n ? (m->head + 1) % RING : 0;
    m->t[m->head] = t;
    m->done[m->head] = done;
    if (m->n < RING)
        m->n++;
}

/* Bytes per second over the samples of the last RATE_WINDOW_S seconds (at
 * least two samples); < 0 (no rate shown) before the file's second sample
 * and until its first bytes arrive: a connection waiting for its first
 * answer is not a stalled one ("0 B/s" is kept for a file that stops). */
static double meter_rate(const meter *m)
{
    if (!m || m->n < 2 || !m->moved)
        return -1;
    int newest = m->head, oldest = newest;
    for (int k = 1; k < m->n; k++) {
        int i = (newest - k + RING) % RING;
        oldest = i;
        if (m->t[newest] - m->t[i] >= RATE_WINDOW_S)
            break;
    }
    double dt = m->t[newest] - m->t[oldest];
    return dt > 0 ? (double)(m->done[newest] - m->done[oldest]) / dt : -1;
}

/* ---------------------------------------------------------------- frames */

typedef struct line {
    char text[4 * MAX_COLS + 64];      /* MAX_COLS columns of 4-byte characters */
} line;

/* The per-file layouts, widest first: the columns they take besides the
 * name, given the widest rate text. */
enum { L_FULL, L_SIZES, L_PERCENT_RATE, L_PERCENT, L_COUNT };

static size_t layout_fixed(int l)
{
    switch (l) {
    case L_FULL:         return 2 + 2 + 9 + 3 + 9 + 2 + 12 + 4;   /* "  N  done / size  rate/s  xC" */
    case L_SIZES:        return 2 + 1 + 9 + 1 + 9 + 1 + 12;       /* "  N done/size rate/s" */
    case L_PERCENT_RATE: return 2 + 1 + 4 + 1 + 12;               /* "  N  42% rate/s" */
    default:             return 2 + 1 + 4;                        /* "  N  42%" */
    }
}

static void file_line(line *L, int layout, size_t name_cols, const iw_dl_active *a, double rate)
{
    char name[4 * MAX_COLS + 8], d[32], s[32], r[40] = "", pad[MAX_COLS + 1];
    size_t nc = dl_fit_middle(a->path, name_cols, name, sizeof name);
    size_t np = name_cols > nc ? name_cols - nc : 0;
    if (np >= sizeof pad)
        np = sizeof pad - 1;
    memset(pad, ' ', np);
    pad[np] = 0;
    human(d, sizeof d, (double)a->done);
    human(s, sizeof s, (double)a->size);
    if (rate >= 0) {
        char h[32];
        human(h, sizeof h, rate);
        snprintf(r, sizeof r, "%s/s", h);
    }
    int pct = a->size ? (int)((double)a->done * 100.0 / (double)a->size) : 0;
    switch (layout) {
    case L_FULL:
        snprintf(L->text, sizeof L->text, "  %s%s  %9s / %-9s  %12s  x%-2d", name, pad, d, s, r, a->connections);
        break;
    case L_SIZES:
        snprintf(L->text, sizeof L->text, "  %s%s %9s/%-9s %12s", name, pad, d, s, r);
        break;
    case L_PERCENT_RATE:
        snprintf(L->text, sizeof L->text, "  %s%s %3d%% %12s", name, pad, pct, r);
        break;
    default:
        snprintf(L->text, sizeof L->text, "  %s%s %3d%%", name, pad, pct);
        break;
    }
}

/* The first text of the NULL-terminated list that fits `width` columns,
 * else the last one cut at the end (numbers stay readable). */
static void first_fitting(line *L, const char *const *cands, size_t width)
{
    const char *pick = "";
    for (size_t i = 0; cands[i]; i++) {
        pick = cands[i];
        if (dl_text_columns(pick) <= width)
            break;
    }
    size_t len = strlen(pick), used;
    put_range(pick, len, 0, cut_at(pick, len, 0, width, &used), L->text, 0, sizeof L->text);
}

static void total_line(line *L, const iw_dl_event *ev, size_t width)
{
    char a[32], b[32], r[32], eta[32] = "", t1[256], t2[256], t3[256], t4[64];
    human(a, sizeof a, (double)ev->total_done);
    human(b, sizeof b, (double)ev->total_size);
    human(r, sizeof r, ev->rate);
    if (ev->rate > 0 && ev->total_size >= ev->total_done)
        eta_text(eta, sizeof eta, (double)(ev->total_size - ev->total_done) / ev->rate);
    int pct = ev->total_size ? (int)((double)ev->total_done * 100.0 / (double)ev->total_size) : 0;
    snprintf(t1, sizeof t1, "total %s / %s  %s/s%s%s", a, b, r, eta[0] ? "  ETA " : "", eta);
    snprintf(t2, sizeof t2, "total %s / %s  %s/s", a, b, r);
    snprintf(t3, sizeof t3, "total %d%%  %s/s%s%s", pct, r, eta[0] ? "  ETA " : "", eta);
    snprintf(t4, sizeof t4, "total %d%%", pct);
    const char *const c[] = {t1, t3, t2, t4, NULL};   /* the ETA before the sizes */
    first_fitting(L, c, width);
}

static void draw(dl_progress *p, const iw_dl_event *ev)
{
    if (g_winch) {
        g_winch = 0;
        read_size(p);
    }
    size_t cols = p->cols < MAX_COLS ? (size_t)p->cols : MAX_COLS;
    size_t width = cols > 1 ? cols - 1 : 1;                  /* never the last column */
    size_t room = p->rows > 2 ? (size_t)p->rows - 1 : 1;     /* lines that fit on the screen */
    size_t nf = ev->n_active;
    size_t max_files = room - 1 < MAX_FILE_LINES ? room - 1 : MAX_FILE_LINES;   /* a row for the total */
    size_t show = nf;
    bool more = false;
    if (nf > max_files) {            /* the last row says how many are not shown */
        more = max_files > 0;
        show = more ? max_files - 1 : 0;
    }
    line *lines = calloc(show + 2, sizeof *lines);
    if (!lines)
        return;
    size_t n = 0;
    size_t maxname = 0;
    for (size_t i = 0; i < show; i++) {
        size_t c = dl_text_columns(ev->active[i].path);
        if (c > maxname)
            maxname = c;
    }
    int layout = L_PERCENT;
    size_t name_cols = 0;
    for (int l = 0; l < L_COUNT; l++) {
        size_t fixed = layout_fixed(l);
        size_t avail = width > fixed ? width - fixed : 0;
        size_t want = maxname < NAME_MIN ? maxname : NAME_MIN;
        if (avail >= want || l == L_PERCENT) {
            layout = l;
            name_cols = avail < maxname ? avail : maxname;
            break;
        }
    }
    for (size_t i = 0; i < show; i++) {
        meter *m = meter_for(p, ev->active[i].path, false);
        file_line(&lines[n], layout, name_cols, &ev->active[i], meter_rate(m));
        if (dl_text_columns(lines[n].text) > width) {          /* a terminal narrower than any layout */
            line cut;
            const char *const c[] = {lines[n].text, NULL};
            first_fitting(&cut, c, width);
            memcpy(&lines[n], &cut, sizeof cut);
        }
        n++;
    }
    if (more) {
        char t[64];
        snprintf(t, sizeof t, "  ... and %zu more", nf - show);
        const char *const c[] = {t, NULL};
        first_fitting(&lines[n++], c, width);
    }
    total_line(&lines[n++], ev, width);

    /* one write per frame */
    size_t cap = 64 + n * (sizeof lines[0].text + 8);
    char *buf = malloc(cap);
    if (!buf) {
        free(lines);
        return;
    }
    size_t o = 0;
    buf[0] = 0;
    if (p->drawn > 0)
        o += (size_t)snprintf(buf + o, cap - o, "\r\x1b[%dA", p->drawn);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s\x1b[K\n", lines[i].text);
    o += (size_t)snprintf(buf + o, cap - o, "\x1b[J");
    fwrite(buf, 1, o, p->out);
    fflush(p->out);
    p->drawn = (int)n;
    free(buf);
    free(lines);
}

void dl_progress_clear(dl_progress *p)
{
    if (!p || p->drawn <= 0)
        return;
    fprintf(p->out, "\r\x1b[%dA\x1b[J", p->drawn);
    fflush(p->out);
    p->drawn = 0;
}

void dl_progress_event(dl_progress *p, const iw_dl_event *ev)
{
    if (!p)
        return;
    p->frame++;
    switch (ev->kind) {
    case IW_DL_EV_PROGRESS:
        for (size_t i = 0; i < ev->n_active; i++) {
            meter *m = meter_for(p, ev->active[i].path, true);
            if (m) {
                meter_add(m, ev->elapsed, ev->active[i].done);
                m->last_seen = p->frame;
            }
        }
        draw(p, ev);
        break;
    case IW_DL_EV_FILE_DONE:
    case IW_DL_EV_ERROR: {
        meter *m = ev->path ? meter_for(p, ev->path, false) : NULL;
        if (m)
            m->n = 0;
        break;
    }
    default:
        break;
    }
}
