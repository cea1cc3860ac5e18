/* adapt.c - the per-host connection-count controller (adapt.h).
 *
 * One epoch = settle, then measure one window: rate = bytes / time and
 * n = time-averaged open transfers.  Consecutive windows at two limits are
 * compared by what the connections added (or removed) between them
 * delivered, relative to the average connection of the earlier window:
 *
 *     gain per added connection = (rate - base_rate) / (n - base_n)
 *     accept the step when gain >= IW_ADAPT_PAYS x base_rate / base_n
 *
 * If each connection is capped by the server, a doubling doubles the rate
 * (ratio 2); if the link, the disk or the CPU is the limit, it stays (ratio
 * 1).  The threshold for a doubling is a ratio of 1.5, between the two, so
 * a window-to-window noise of +-15% on each side cannot flip a decision
 * (2 x 0.85 / 1.15 = 1.48 ~ 1.5 and 1.15 / 0.85 = 1.35 < 1.5).  Probes of a
 * quarter are judged on windows twice as long, since their expected ratio
 * (1.25 against 1) is closer to the noise. */
#include "adapt.h"

static uint64_t clamp_u64(double v, uint64_t lo, uint64_t hi)
{
    if (v < (double)lo)
        return lo;
    if (v > (double)hi)
        return hi;
    return (uint64_t)v;
}

uint64_t iw_adapt_window_ms(const iw_adapt *a)
{
    double rtt = a->rtt_ms > 0 ? a->rtt_ms : 0, need = 16.0 * rtt;
    uint64_t gap = a->gap_ms > a->gap_now ? a->gap_ms : a->gap_now;
    if (3.0 * (double)gap > need)
        need = 3.0 * (double)gap;
    uint64_t w = clamp_u64(need, IW_ADAPT_WINDOW_MIN_MS, IW_ADAPT_WINDOW_MAX_MS);
    if (a->phase == IW_ADAPT_PROBE_UP || a->phase == IW_ADAPT_PROBE_DOWN)
        w *= 2;
    return w;
}

uint64_t iw_adapt_settle_ms(const iw_adapt *a)
{
    double rtt = a->rtt_ms > 0 ? a->rtt_ms : 0;
    return clamp_u64(8.0 * rtt, IW_ADAPT_SETTLE_MIN_MS, 1000);
}

static void window_reset(iw_adapt *a, uint64_t now)
{
    a->stage_t = now;
    a->bytes = 0;
    a->n_ms = 0;
}

void iw_adapt_init(iw_adapt *a, int start, int cap, uint64_t now)
{
    *a = (iw_adapt){ 0 };
    a->cap = cap < 1 ? 1 : cap;
    a->limit = start < 1 ? 1 : (start > a->cap ? a->cap : start);
    a->prev = a->limit;
    a->phase = IW_ADAPT_GROW;
    a->hold_ms = IW_ADAPT_HOLD_MS;
    a->rtt_ms = -1;
    a->last_t = now;
    window_reset(a, now);
}

void iw_adapt_rtt(iw_adapt *a, double ms)
{
    if (ms >= 0 && (a->rtt_ms < 0 || ms < a->rtt_ms))
        a->rtt_ms = ms;
}

void iw_adapt_bytes(iw_adapt *a, uint64_t n)
{
    a->bytes += n;
}

void iw_adapt_gap(iw_adapt *a, uint64_t ms)
{
    if (ms > a->gap_now)
        a->gap_now = ms;
}

/* A new limit: settle before the next window. */
static void change(iw_adapt *a, uint64_t now, int to)
{
    if (to < 1)
        to = 1;
    if (to > a->cap)
        to = a->cap;
    a->prev = a->limit;
    a->limit = to;
    a->measuring = false;
    window_reset(a, now);
}

static void hold(iw_adapt *a, uint64_t now)
{
    a->phase = IW_ADAPT_HOLD;
    a->hold_until = now + a->hold_ms;
}

static void set_base(iw_adapt *a, double rate, double n)
{
    a->have_base = true;
    a->base_rate = rate;
    a->base_n = n;
}

/* What one connection added since the base brought, in units of the base's
 * average connection (1 = as much as each of those); *dn = how many more
 * were open on average.  Returns false when that cannot be said (no base). */
static bool gain(const iw_adapt *a, double rate, double n, double *g, double *dn)
{
    *dn = n - a->base_n;
    if (a->base_n <= 0 || *dn <= 0)
        return false;
    if (a->base_rate <= 0) {
        *g = rate > 0 ? 1e9 : 0;
        return true;
    }
    *g = (rate - a->base_rate) / *dn / (a->base_rate / a->base_n);
    return true;
}

/* +1: the connections added since the base paid; -1: they did not; 0: they
 * were hardly open (no work for them), so nothing can be said. */
static int judge_up(const iw_adapt *a, double rate, double n, double *g)
{
    double step = (double)(a->limit - a->prev), dn;
    if (step <= 0 || !gain(a, rate, n, g, &dn) || dn < 0.5 * step)
        return 0;
    return *g >= IW_ADAPT_PAYS ? 1 : -1;
}

/* +1: the connections removed since the base were not paying (keep the
 * lower limit); -1: they were; 0: nothing can be said. */
static int judge_down(const iw_adapt *a, double rate, double n)
{
    double step = (double)(a->prev - a->limit), dn = a->base_n - n;
    if (step <= 0 || dn < 0.5 * step || a->base_n <= 0 || a->base_rate <= 0)
        return 0;
    return (a->base_rate - rate) / dn < IW_ADAPT_PAYS * a->base_rate / a->base_n ? 1 : -1;
}

static int quarter(int limit)
{
    return limit / 4 > 1 ? limit / 4 : 1;
}

static void probe(iw_adapt *a, uint64_t now, bool used)
{
    if (a->next_down && a->limit > 1) {
        a->phase = IW_ADAPT_PROBE_DOWN;
        change(a, now, a->limit - quarter(a->limit));
    } else if (used && a->limit < a->cap) {
        a->phase = IW_ADAPT_PROBE_UP;
        change(a, now, a->limit + (a->gentle ? 1 : quarter(a->limit)));
    } else {
        hold(a, now);
    }
}

static void reject(iw_adapt *a, uint64_t now, bool down_next)
{
    change(a, now, a->prev);
    a->have_base = false;
    a->next_down = down_next;
    a->hold_ms = a->hold_ms * 2 > IW_ADAPT_HOLD_MAX_MS ? IW_ADAPT_HOLD_MAX_MS : a->hold_ms * 2;
    hold(a, now);
}

/* The next step of the growth: x4 when the last one scaled linearly (each
 * added connection brought as much as an existing one, within the noise),
 * x2 when it only paid. */
static int grow_to(const iw_adapt *a, double g)
{
    return a->limit * (g >= IW_ADAPT_LINEAR ? 4 : 2);
}

static void decide(iw_adapt *a, uint64_t now, double rate, double n)
{
    bool used = n >= IW_ADAPT_USED * a->limit;
    double g = 0;
    int r;
    switch (a->phase) {
    case IW_ADAPT_GROW:
        if (!a->have_base) {
            set_base(a, rate, n);
            if (used && a->limit < a->cap)
                change(a, now, a->limit * 2);
            else
                hold(a, now);
            return;
        }
        r = judge_up(a, rate, n, &g);
        if (r < 0) {
            /* the step did not pay: back to the last limit that did */
            reject(a, now, true);
            a->hold_ms = IW_ADAPT_HOLD_MS;
            a->hold_until = now + a->hold_ms;
            return;
        }
        set_base(a, rate, n);
        if (r > 0 && used && a->limit < a->cap)
            change(a, now, grow_to(a, g));
        else
            hold(a, now);
        return;
    case IW_ADAPT_HOLD:
    case IW_ADAPT_BACKOFF:
        set_base(a, rate, n);
        if (now >= a->hold_until)
            probe(a, now, used);
        return;
    case IW_ADAPT_PROBE_UP:
        r = judge_up(a, rate, n, &g);
        if (r < 0) {
            reject(a, now, true);
            return;
        }
        set_base(a, rate, n);
        if (r > 0) {
            a->overloads = 0;
            a->hold_ms = IW_ADAPT_HOLD_MS;
            if (used && a->limit < a->cap) {
                change(a, now, a->limit + (a->gentle ? 1 : quarter(a->limit)));
                return;
            }
        }
        hold(a, now);
        return;
    case IW_ADAPT_PROBE_DOWN:
        r = judge_down(a, rate, n);
        if (r > 0) {
            /* the removed connections were not paying: keep the lower limit */
            set_base(a, rate, n);
            a->hold_ms = IW_ADAPT_HOLD_MS;
            hold(a, now);
            return;
        }
        reject(a, now, false);
        return;
    }
}

bool iw_adapt_tick(iw_adapt *a, uint64_t now, int active, int warming)
{
    if (now > a->last_t)
        a->n_ms += (double)a->last_active * (double)(now - a->last_t);
    a->last_t = now;
    a->last_active = active;
    if (active > a->peak)
        a->peak = active;
    uint64_t el = now - a->stage_t;
    if (!a->measuring) {
        /* settled: every transfer has its first byte, or enough of them
         * to use the limit and, after a step up, half of the added ones
         * (with ranges handed out one after another, a transfer is almost
         * always starting somewhere) */
        double need = IW_ADAPT_USED * a->limit;
        if (a->limit > a->prev && need < a->prev + (a->limit - a->prev + 1) / 2)
            need = a->prev + (a->limit - a->prev + 1) / 2;
        bool flowing = warming == 0 || (double)(active - warming) >= need;
        if (el >= iw_adapt_settle_ms(a) && (flowing || el >= IW_ADAPT_SETTLE_MAX_MS)) {
            a->measuring = true;
            window_reset(a, now);
        }
        return false;
    }
    if (el < IW_ADAPT_WINDOW_MIN_MS)
        return false;
    if (el < iw_adapt_window_ms(a)) {
        /* a step up is accepted before the window is over when the added
         * connections already bring as much as the others (a wrong accept
         * costs little: later probes take it back; a wrong reject costs
         * speed), and judged at the end of the window otherwise */
        double g, dn;
        bool up = (a->phase == IW_ADAPT_GROW && a->have_base) || a->phase == IW_ADAPT_PROBE_UP;
        double nn = a->n_ms / (double)el, rr = (double)a->bytes * 1000.0 / (double)el;
        if (!up || !gain(a, rr, nn, &g, &dn) || dn < 0.75 * (double)(a->limit - a->prev) ||
            g < IW_ADAPT_EARLY)
            return false;
    }
    double n = a->n_ms / (double)el, rate = (double)a->bytes * 1000.0 / (double)el;
    int before = a->limit;
    a->last_rate = rate;
    a->last_n = n;
    a->gap_ms = a->gap_now;
    a->gap_now = 0;
    window_reset(a, now);
    if (n < 0.5)
        return false;   /* nothing was open: no information */

    decide(a, now, rate, n);
    return a->limit != before;
}

bool iw_adapt_overload(iw_adapt *a, uint64_t now, uint64_t started, int flowing, long retry_after_s)
{
    if (a->dec_t && started < a->dec_t)
        return false;   /* already reacted to the step that caused it */
    int to = (a->limit + 1) / 2;
    if (flowing < to)
        to = flowing;
    if (to < 1)
        to = 1;
    int before = a->limit;
    a->overloads++;
    int k = a->overloads - 1 > 5 ? 5 : a->overloads - 1;
    uint64_t back = 1000ull << k;
    if (retry_after_s > 0) {
        uint64_t ra = (uint64_t)(retry_after_s > 60 ? 60 : retry_after_s) * 1000u;
        if (ra > back)
            back = ra;
    }
    change(a, now, to);
    a->prev = to;
    a->phase = IW_ADAPT_BACKOFF;
    a->hold_until = now + back;
    a->gentle = true;
    a->next_down = false;
    a->have_base = false;
    a->dec_t = now ? now : 1;
    return a->limit != before;
}
