/* adapt.h - how many connections the transfer engine keeps open to one host
 * for the ranges of large files (engine.c; design in docs/download.md,
 * "Connections").
 *
 * The controller sees only what the engine can measure: body bytes that
 * arrived from the host, and how many transfers were open to it (their
 * time average over a window).  It climbs while the last step of
 * connections paid off -- each added connection brought at least half of
 * what an existing one delivers on average -- and goes back when it did
 * not; a 429/503 halves it (never below what was flowing).  Pure logic
 * over the times and counts it is given, so tests drive it with simulated
 * servers. */
#ifndef IW_ADAPT_H
#define IW_ADAPT_H

#include <stdbool.h>
#include <stdint.h>

#define IW_ADAPT_START         8      /* connections at first ("a few"; main's former fixed count) */
#define IW_ADAPT_PAYS          0.5    /* an added connection must bring >= this x the average one's rate */
#define IW_ADAPT_USED          0.75   /* probe up only while >= this x the limit was open on average */
#define IW_ADAPT_LINEAR        0.85   /* ... brought >= this x: linear within the noise, next step x4 */
#define IW_ADAPT_EARLY         1.0    /* ... brought this x already: accepted before the window ends */
#define IW_ADAPT_WINDOW_MIN_MS 300    /* measuring window: 16 x RTT and 3 x the longest */
#define IW_ADAPT_WINDOW_MAX_MS 3000   /* silence of a flowing transfer, within [300 ms, 3 s] */
#define IW_ADAPT_SETTLE_MIN_MS 50     /* after a change: 8 x RTT within [50 ms, 1 s], and until */
#define IW_ADAPT_SETTLE_MAX_MS 2000   /* every transfer has its first byte (at most 2 s) */
#define IW_ADAPT_HOLD_MS       2000   /* after a rejected probe; doubles up to 30 s */
#define IW_ADAPT_HOLD_MAX_MS   30000

typedef enum iw_adapt_phase {
    IW_ADAPT_GROW = 0,      /* doubling from the start while each doubling pays */
    IW_ADAPT_HOLD,          /* measuring at a fixed limit until the next probe */
    IW_ADAPT_PROBE_UP,      /* + a quarter (+1 after an overload) */
    IW_ADAPT_PROBE_DOWN,    /* - a quarter, after a rejected probe up */
    IW_ADAPT_BACKOFF        /* after a 429/503: no probe until the backoff ends */
} iw_adapt_phase;

typedef struct iw_adapt {
    int      cap;           /* --connections */
    int      limit;         /* transfers allowed now */
    int      prev;          /* limit before the change being judged */
    iw_adapt_phase phase;
    bool     measuring;     /* false: settling after a change */
    uint64_t stage_t;       /* ms: settling / the window began */
    uint64_t last_t;        /* ms: last tick */
    int      last_active;
    uint64_t bytes;         /* body bytes in the current window */
    double   n_ms;          /* integral of open transfers over the window (connection-ms) */
    bool     have_base;     /* last window at the current limit: */
    double   base_rate;     /*   bytes/s */
    double   base_n;        /*   transfers open on average */
    uint64_t hold_until, hold_ms;
    bool     next_down;     /* a probe up was rejected: the next probe goes down */
    bool     gentle;        /* an overload was seen: probes up add one */
    uint64_t dec_t;         /* ms: last decrease on overload (0 = none) */
    int      overloads;     /* consecutive, for the backoff */
    double   rtt_ms;        /* smallest request-to-first-byte seen; < 0 unknown */
    uint64_t gap_ms;        /* longest silence of a flowing transfer, last window */
    uint64_t gap_now;       /* ... in the current window */
    int      peak;          /* most transfers open at once */
    double   last_rate, last_n; /* the last window's measurement */
} iw_adapt;

void iw_adapt_init(iw_adapt *a, int start, int cap, uint64_t now);
/* A request-to-first-byte time of a transfer to this host. */
void iw_adapt_rtt(iw_adapt *a, double ms);
/* Body bytes that arrived from this host. */
void iw_adapt_bytes(iw_adapt *a, uint64_t n);
/* A transfer that had already received bytes received more after `ms` of
 * silence (servers that pace a connection send bursts: nginx's limit_rate
 * sends up to sendfile_max_chunk, then sleeps). */
void iw_adapt_gap(iw_adapt *a, uint64_t ms);
/* Called on every pass of the engine loop: `active` transfers are open to
 * the host, `warming` of them have no body byte yet.  Closes a window when
 * it is due and decides.  Returns true when the limit changed. */
bool iw_adapt_tick(iw_adapt *a, uint64_t now, int active, int warming);
/* The host answered 429 or 503 to a transfer started at `started` while
 * `flowing` others were receiving bytes: shrink (at most once per reaction:
 * a transfer started before the last decrease is ignored) and back off for
 * max(Retry-After, 1, 2, 4 .. 32 s).  Returns true when the limit changed. */
bool iw_adapt_overload(iw_adapt *a, uint64_t now, uint64_t started, int flowing, long retry_after_s);
/* Window and settling times for the current RTT estimate (ms). */
uint64_t iw_adapt_window_ms(const iw_adapt *a);
uint64_t iw_adapt_settle_ms(const iw_adapt *a);

#endif
