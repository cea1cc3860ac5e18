/* test_adapt.c - the per-host connection controller (src/downloader/adapt.c)
 * against simulated servers: each connection capped, the link capped, a
 * knee between the two, window-to-window noise, too little work to fill
 * the connections, and a server that refuses more than two connections
 * (503).  Time is simulated in 10 ms steps; nothing here sleeps. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "downloader/adapt.h"

typedef struct server {
    double per_conn;    /* bytes/s one connection gets */
    double link;        /* bytes/s all of them together get */
    double noise;       /* +-fraction, one draw per 250 ms (not aligned with the windows) */
    int    work;        /* transfers there is work for (0 = unlimited) */
    int    max_conns;   /* > 0: extra connections are answered 503 */
    long   retry_after; /* Retry-After of those answers (-1 none) */
    int    burst_ms;    /* > 0: each connection gets its bytes in one burst per period
                           (nginx limit_rate: sendfile_max_chunk, then a sleep) */
    int    bonus_ms;    /* > 0: a connection gets twice per_conn for its first bonus_ms
                           (nginx grants rate x (seconds + 1): a second's worth at once) */
} server;

typedef struct run {
    int    max_limit, min_limit_after_first;
    double limit_ms;        /* integral of the limit over the last half */
    double bytes_last_half;
    int    overloads;       /* 503s the engine would see */
    uint64_t first_at_cap;  /* ms when the limit first reached the cap (0 = never) */
    int    final;
    uint64_t first_overload_t, first_increase_after_overload_t;
} run;

static uint32_t g_x = 12345;
static double uniform(void)
{
    g_x ^= g_x << 13; g_x ^= g_x >> 17; g_x ^= g_x << 5;
    return (double)(g_x >> 8) / (double)(1u << 24);
}

static run simulate(const server *s, int start, int cap, uint64_t ms, uint32_t seed)
{
    g_x = seed ? seed : 1;
    iw_adapt a;
    uint64_t t = 1000;
    iw_adapt_init(&a, start, cap, t);
    iw_adapt_rtt(&a, 0.2);
    run r = { .min_limit_after_first = 1 << 30 };
    double factor = 1;
    int last_limit = a.limit;
    uint64_t born[256];             /* when each open connection started (youngest last) */
    int open = 0;
    for (uint64_t el = 0; el < ms; el += 10) {
        t += 10;
        if (el % 250 == 0)
            factor = 1 + s->noise * (2 * uniform() - 1);
        int active = a.limit;
        if (s->work > 0 && active > s->work)
            active = s->work;
        int flowing = active;
        if (s->max_conns > 0 && active > s->max_conns) {
            /* the extra transfers are refused; the engine reports each */
            flowing = s->max_conns;
            for (int k = s->max_conns; k < active; k++) {
                r.overloads++;
                if (!r.first_overload_t)
                    r.first_overload_t = t;
                iw_adapt_overload(&a, t, t - 5, flowing, s->retry_after);
            }
            active = a.limit < flowing ? a.limit : flowing;
        }
        double rate = flowing * s->per_conn;
        if (s->bonus_ms > 0) {
            while (open < flowing && open < 256)
                born[open++] = t;
            if (open > flowing)
                open = flowing;
            rate = 0;
            for (int k = 0; k < open; k++)
                rate += s->per_conn * (t - born[k] < (uint64_t)s->bonus_ms ? 2 : 1);
        }
        if (rate > s->link)
            rate = s->link;
        uint64_t b = (uint64_t)(rate * factor * 0.010);
        if (s->burst_ms > 0) {
            /* in step: connections opened together burst together (the
             * worst case for a short window: all or nothing) */
            b = 0;
            if (el % (uint64_t)s->burst_ms == 0) {
                b = (uint64_t)(rate * factor * s->burst_ms / 1000.0);
                iw_adapt_gap(&a, (uint64_t)s->burst_ms);
            }
        }
        iw_adapt_bytes(&a, b);
        iw_adapt_tick(&a, t, active, 0);
        if (a.limit > r.max_limit)
            r.max_limit = a.limit;
        if (r.first_overload_t && a.limit < r.min_limit_after_first)
            r.min_limit_after_first = a.limit;
        if (r.first_overload_t && !r.first_increase_after_overload_t && a.limit > last_limit)
            r.first_increase_after_overload_t = t;
        if (!r.first_at_cap && a.limit == cap)
            r.first_at_cap = el + 10;
        if (el >= ms / 2) {
            r.limit_ms += a.limit * 10.0;
            r.bytes_last_half += (double)b;
        }
        last_limit = a.limit;
    }
    r.final = a.limit;
    r.limit_ms /= (double)(ms - ms / 2);
    return r;
}

#define MB 1e6

Test(adapt, grows_to_the_cap_when_each_connection_is_capped)
{
    server s = { .per_conn = 4 * MB, .link = 10000 * MB, .retry_after = -1 };
    run r = simulate(&s, 4, 32, 10000, 1);
    cr_expect_eq(r.final, 32, "ended at %d connections", r.final);
    /* three doublings: (settle 50 + window 300 ms) each */
    cr_expect(r.first_at_cap > 0 && r.first_at_cap <= 1500, "reached 32 after %llu ms",
              (unsigned long long)r.first_at_cap);
}

Test(adapt, stays_low_when_the_link_is_the_limit)
{
    /* one connection fills the link: the first doubling (4 -> 8) does not
     * pay, so it goes back, and later probes go down */
    server s = { .per_conn = 400 * MB, .link = 400 * MB, .retry_after = -1 };
    run r = simulate(&s, 4, 32, 60000, 2);
    cr_expect_leq(r.max_limit, 8, "went up to %d", r.max_limit);
    cr_expect_leq(r.limit_ms, 4.0, "average limit %.1f over the last 30 s", r.limit_ms);
}

Test(adapt, finds_the_knee_between_connection_and_link_caps)
{
    /* 4 MB/s each, 40 MB/s in all: 10 connections are enough */
    server s = { .per_conn = 4 * MB, .link = 40 * MB, .retry_after = -1 };
    run r = simulate(&s, 4, 32, 60000, 3);
    cr_expect(r.final >= 8 && r.final <= 13, "ended at %d", r.final);
    cr_expect_leq(r.limit_ms, 14.0, "average limit %.1f over the last 30 s", r.limit_ms);
    cr_expect_geq(r.bytes_last_half / 30.0, 0.9 * 40 * MB, "%.1f MB/s over the last 30 s", r.bytes_last_half / 30.0 / MB);
}

Test(adapt, bursty_connections_lengthen_the_window)
{
    /* nginx limit_rate 4m: 2 MB every 500 ms per connection.  A 300 ms
     * window would see 0 or 1 burst per connection; the window grows to
     * three silences (1.5 s), and the growth still reaches the cap */
    server s = { .per_conn = 4 * MB, .link = 10000 * MB, .burst_ms = 500, .retry_after = -1 };
    run r = simulate(&s, 4, 32, 20000, 8);
    cr_expect_eq(r.final, 32, "ended at %d", r.final);
    cr_expect_geq(r.limit_ms, 30.0, "average limit %.1f over the last 10 s", r.limit_ms);
    /* ... and on a full link in bursts it does not climb */
    server l = { .per_conn = 400 * MB, .link = 400 * MB, .burst_ms = 500, .retry_after = -1 };
    r = simulate(&l, 4, 32, 30000, 9);
    cr_expect_leq(r.limit_ms, 6.0, "average limit %.1f on a full link", r.limit_ms);
}

Test(adapt, a_start_allowance_does_not_stop_the_first_step)
{
    /* nginx's limit_rate as the benchmark meets it: 4 MB/s per connection
     * in bursts every 500 ms, and twice that in each connection's first
     * second; from 8, the cap is reached in two steps (x2, then x4) */
    for (uint32_t seed = 1; seed <= 10; seed++) {
        server s = { .per_conn = 4 * MB, .link = 10000 * MB, .burst_ms = 500, .bonus_ms = 1000, .retry_after = -1 };
        run r = simulate(&s, 8, 32, 8000, seed);
        cr_expect(r.first_at_cap > 0 && r.first_at_cap <= 3500, "seed %u: reached 32 after %llu ms", seed,
                  (unsigned long long)r.first_at_cap);
    }
}

Test(adapt, noise_of_15_percent_does_not_stop_the_growth)
{
    /* window-to-window noise: decisions may err now and then, but the
     * limit must still end at the cap and spend the second half near it */
    for (uint32_t seed = 1; seed <= 20; seed++) {
        server s = { .per_conn = 4 * MB, .link = 10000 * MB, .noise = 0.15, .retry_after = -1 };
        run r = simulate(&s, 4, 32, 30000, seed);
        cr_expect_geq(r.limit_ms, 24.0, "seed %u: average limit %.1f over the last 15 s", seed, r.limit_ms);
    }
}

Test(adapt, noise_of_15_percent_does_not_make_it_climb_on_a_full_link)
{
    for (uint32_t seed = 1; seed <= 20; seed++) {
        server s = { .per_conn = 400 * MB, .link = 400 * MB, .noise = 0.15, .retry_after = -1 };
        run r = simulate(&s, 4, 32, 30000, seed);
        cr_expect_leq(r.max_limit, 10, "seed %u: went up to %d", seed, r.max_limit);
        cr_expect_leq(r.limit_ms, 6.0, "seed %u: average limit %.1f", seed, r.limit_ms);
    }
}

Test(adapt, no_probe_while_there_is_no_work_for_more)
{
    /* each connection capped, but only 2 transfers' worth of work: the
     * limit of 4 is not used, so it is not raised */
    server s = { .per_conn = 4 * MB, .link = 10000 * MB, .work = 2, .retry_after = -1 };
    run r = simulate(&s, 4, 32, 20000, 4);
    cr_expect_leq(r.max_limit, 4, "went up to %d with work for 2", r.max_limit);
    /* work for 5: 4 is used, 8 is tried, and that is where it stops */
    s.work = 5;
    r = simulate(&s, 4, 32, 20000, 4);
    cr_expect_leq(r.max_limit, 8, "went up to %d with work for 5", r.max_limit);
}

Test(adapt, a_server_refusing_more_than_two_shrinks_it_and_backs_off)
{
    server s = { .per_conn = 4 * MB, .link = 10000 * MB, .max_conns = 2, .retry_after = -1 };
    run r = simulate(&s, 4, 32, 60000, 5);
    cr_expect_leq(r.min_limit_after_first, 2, "still %d after the first 503", r.min_limit_after_first);
    cr_expect_geq(r.min_limit_after_first, 1);
    cr_expect_leq(r.final, 3, "ended at %d", r.final);
    /* one 503 per probe, probes 1, 2, 4, 8, 16, 32 s apart: a handful,
     * not one per window */
    cr_expect_leq(r.overloads, 10, "%d refused requests in 60 s", r.overloads);
    cr_expect_geq(r.overloads, 2);
}

Test(adapt, retry_after_holds_the_growth)
{
    server s = { .per_conn = 4 * MB, .link = 10000 * MB, .max_conns = 2, .retry_after = 5 };
    run r = simulate(&s, 4, 32, 20000, 6);
    cr_assert_gt(r.first_overload_t, 0);
    cr_expect(r.first_increase_after_overload_t == 0 ||
              r.first_increase_after_overload_t >= r.first_overload_t + 5000,
              "grew again %llu ms after a 503 with Retry-After: 5",
              (unsigned long long)(r.first_increase_after_overload_t - r.first_overload_t));
}

Test(adapt, one_reaction_per_step)
{
    iw_adapt a;
    iw_adapt_init(&a, 16, 32, 1000);
    cr_expect(iw_adapt_overload(&a, 2000, 1500, 12, -1));
    cr_expect_eq(a.limit, 8, "16 -> %d (halved)", a.limit);
    /* more refusals of transfers started before that reaction: no change */
    cr_expect_not(iw_adapt_overload(&a, 2001, 1600, 8, -1));
    cr_expect_eq(a.limit, 8);
    /* never below what was flowing... but at least one */
    cr_expect(iw_adapt_overload(&a, 3000, 2500, 3, -1));
    cr_expect_eq(a.limit, 3, "8 -> %d (3 were flowing)", a.limit);
    iw_adapt_overload(&a, 4000, 3500, 0, -1);
    cr_expect_eq(a.limit, 1);
}

Test(adapt, the_cap_is_the_cap)
{
    server s = { .per_conn = 4 * MB, .link = 10000 * MB, .retry_after = -1 };
    run r = simulate(&s, 4, 1, 5000, 7);
    cr_expect_eq(r.max_limit, 1);
    r = simulate(&s, 4, 6, 5000, 7);
    cr_expect_eq(r.max_limit, 6);
    cr_expect_eq(r.final, 6);
}

Test(adapt, windows_follow_the_round_trip_time)
{
    iw_adapt a;
    iw_adapt_init(&a, 4, 32, 0);
    cr_expect_eq(iw_adapt_window_ms(&a), IW_ADAPT_WINDOW_MIN_MS);
    iw_adapt_rtt(&a, 80);
    cr_expect_eq(iw_adapt_window_ms(&a), 1280u);
    cr_expect_eq(iw_adapt_settle_ms(&a), 640u);
    iw_adapt_rtt(&a, 500);   /* a larger sample does not raise the minimum */
    cr_expect_eq(iw_adapt_window_ms(&a), 1280u);
    /* a flowing transfer that went silent for 700 ms: three of those */
    iw_adapt_gap(&a, 700);
    cr_expect_eq(iw_adapt_window_ms(&a), 2100u);
    iw_adapt_gap(&a, 5000);
    cr_expect_eq(iw_adapt_window_ms(&a), IW_ADAPT_WINDOW_MAX_MS);
}

Test(adapt, a_transfer_still_starting_does_not_hold_the_measurement)
{
    /* after a change the window waits for the transfers' first bytes; one
     * range being handed over (a transfer waiting for its answer, as
     * happens all the time once a file is fetched range after range) does
     * not hold it while enough flow to use the limit; too few flowing does */
    iw_adapt a;
    iw_adapt_init(&a, 8, 32, 1000);
    iw_adapt_rtt(&a, 0.2);
    uint64_t t = 1000 + iw_adapt_settle_ms(&a);
    iw_adapt_tick(&a, t, 8, 4);
    cr_expect(!a.measuring, "measuring with half of the transfers still starting");
    iw_adapt_tick(&a, t + 10, 8, 1);
    cr_expect(a.measuring, "waiting for one starting transfer of 8");
}
