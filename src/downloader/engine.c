/* engine.c - the transfer engine (see include/iwdl/download.h, docs/download.md).
 *
 * One libcurl multi handle drives every transfer.  A file is a list of
 * segments [start, end) with pos = next byte wanted; a transfer fetches
 * bytes pos..end-1 of one segment with a Range request and pwrite()s them at
 * their offset in the preallocated partial file.  When a file may use more
 * connections than it has open transfers and no segment is idle, the
 * segment with the latest estimated finish is split at its midpoint; the
 * transfer still serving it stops at the new end (its write callback clips
 * and ends it).  State files record the segments so that another run can
 * resume; data is trusted only after the whole file hashes to the expected
 * value, and only then renamed to where readers look.
 *
 * How many transfers a split file may have is decided per host (the one
 * serving its body, known from its first answer) by a controller (adapt.c)
 * that adds connections while they raise the host's aggregate rate and
 * shrinks on 429/503; when its limit drops, the transfers above it end and
 * their ranges wait for a connection.
 *
 * A split file is cut into ranges of about o->chunk bytes handed out in file
 * order, so the contiguous prefix -- what the hashing thread can read --
 * grows during the download instead of jumping at its end (with one range
 * per connection, most of the file would be hashed after the last byte).
 * Bytes that arrive where the hash has got to are hashed from libcurl's
 * buffer in the write callback; the hashing thread reads back the rest
 * (ranges that came ahead of the frontier), starts writeback of what has
 * been written, and once the file is complete finishes the hash and runs
 * the fdatasync, so neither blocks the loop that serves every other
 * transfer.
 */
#include "engine.h"
#include "adapt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/hash.h"
#include "iwdl/json.h"

#define MAX_SEGS        256
#define MAX_FRESH_SEGS  (MAX_SEGS / 2)  /* leave room for re-splits of the tail */
#define WRITEBACK_EVERY (8u << 20)      /* hashed bytes between writeback hints */
#define ERRBODY_MAX     4096
#define PROGRESS_MS     250
#define STATE_EVERY_MS  1000
#define LOCK_RETRY_MS   200
#define MAX_REFUSALS    20              /* per range, then they count as failures */
#define SPARE_WINDOW_MS 250             /* how often the transfer loop's spare time is judged */

enum { F_PENDING = 0, F_RUNNING, F_DONE, F_FAILED };

typedef struct seg {
    uint64_t start, pos, end;
    int      xfer;          /* index+1 of the active transfer, 0 = idle */
    int      fails;         /* consecutive failures without progress */
    int      refusals;      /* 429/503 while other transfers were served (not counted in fails) */
    uint64_t not_before;    /* ms: backoff */
    uint64_t t_start, b_start; /* for the rate estimate */
} seg;

typedef struct xfer {
    struct xfer_engine *E;
    CURL   *e;
    struct dfile *f;
    size_t  seg;
    struct curl_slist *hl;
    iw_hdrs hdrs;
    char   *url;
    bool    ranged, checked, clipped, restart200, etag_changed, bad_range;
    bool    stalled;        /* no byte for HF_HUB_DOWNLOAD_TIMEOUT: dropped by the engine */
    uint64_t last_rx;       /* ms: start, or when the last body byte arrived */
    int     werr;           /* errno of a failed write */
    long    status;
    iw_buf  errbody;
    uint64_t got;
    int     redirects;
    int     host;           /* index in E->hosts when counted by its controller, else -1 */
    uint64_t t_start;       /* ms */
} xfer;

/* Verification runs beside the transfers: one thread per running file hashes
 * the contiguous prefix of the partial (read back from the page cache) as
 * the main thread reports it, so hashing overlaps the network instead of
 * following it. */
typedef struct hasher {
    pthread_t th;
    bool      running;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    uint64_t  avail;        /* main -> thread: bytes 0..avail-1 are on disk */
    uint64_t  hashed;       /* thread -> main */
    uint64_t  written;      /* main -> thread: bytes of the file on disk (any order) */
    uint64_t  flushed;      /* thread: `written` when writeback was last started */
    uint64_t  inline_bytes; /* hashed from the transfer buffer (hasher_inline) */
    bool      stop;
    int       err;          /* errno of a failed read */
    int       fd;
    uint64_t  size;
    iw_hash  *h;
    /* finishing: main sets `finish` (avail = size); the thread hashes the
     * rest, writes the hex digest, fdatasyncs, sets `finished` and wakes
     * the engine's curl_multi_poll */
    bool      finish, finished;
    int       final_rc;     /* iw_hash_final_hex's result */
    int       sync_err;     /* errno of a failed fdatasync, 0 if none */
    char      hex[65];
    CURLM    *wake;
} hasher;

typedef struct dfile {
    iw_dl_file *spec;
    int      state;
    int      fd;
    iw_lock  lock;
    bool     locked;
    seg     *segs;
    size_t   nseg, segcap;
    int      active;
    char    *location;      /* URL after the hub redirect (CDN) */
    hasher   hs;
    uint64_t done;          /* bytes present (sum of pos - start) */
    uint64_t frontier;      /* bytes 0..frontier-1 are present (only grows, until a restart) */
    bool     finishing;     /* complete; the hashing thread is digesting and syncing it */
    uint64_t state_bytes, state_ms;
    int      verify_failures;
    uint64_t not_before;
    bool     no_range;      /* server ignored Range: single full GET */
    bool     probed;        /* split file: the first answer (redirect or body) came, so
                               its host is known and more transfers may start */
    int      host;          /* index in E->hosts of the host serving its body, -1 unknown */
    uint64_t rate_t, rate_b;
    double   rate;
} dfile;

/* A host that serves the ranges of split files, and its connection
 * controller (adapt.c).  The counts are redone on every pass of the loop. */
typedef struct host {
    char    *key;           /* scheme://host:port */
    iw_adapt ctl;
    int      active;        /* transfers open */
    int      warming;       /* ... of which no body byte yet */
    int      files;         /* running split files with work left (fair share) */
} host;

/* The state of one run (iw_engine_run).  Not iw_engine: that name is the
 * estimator's engine enum (estimate.h). */
typedef struct xfer_engine xfer_engine;
struct xfer_engine {
    iw_hub   *hub;
    CURLM    *m;
    const iw_engine_opts *o;
    dfile    *files;
    size_t    nfiles;
    xfer    **x;            /* slots; NULL = free */
    size_t    nx;
    int       rc;           /* first failure */
    bool      fatal;        /* stop everything (ENOSPC, EROFS, ...) */
    uint64_t  fetched;
    uint64_t  t0, last_progress;
    uint64_t  total_size, total_done;
    host     *hosts;
    size_t    nhosts;
    /* hashing from the transfer buffer (hasher_inline) costs this thread
     * time: it is done only while the thread has time to spare */
    bool      inline_ok;
    uint64_t  spare_t0, spare_ms;   /* window start, time waited in curl_multi_poll */
    bool      fan_out;      /* a split file's first answer came: start its other
                               transfers on this pass, not after the next wait */
    char      err[1024];    /* first failure's message */
};

/* ---------------------------------------------------------------- helpers */

static void emit(xfer_engine *E, iw_dl_event *ev)
{
    if (!E->o->on_event)
        return;
    uint64_t now = iw_now_ms();
    ev->total_done = E->total_done;
    ev->total_size = E->total_size;
    ev->elapsed = (double)(now - E->t0) / 1000.0;
    ev->rate = ev->elapsed > 0 ? (double)E->fetched / ev->elapsed : 0;
    E->o->on_event(ev, E->o->ud);
}

static const char *expected_hash(const iw_dl_file *s) { return s->lfs ? s->sha256 : s->oid; }

/* A file fetched as ranges by several transfers, which its host's
 * controller counts (smaller files are one transfer each, bounded by jobs). */
static bool split_file(const xfer_engine *E, const struct dfile *f);

/* Index of url's host in E->hosts (added with a fresh controller), or -1. */
static int host_index(xfer_engine *E, const char *url)
{
    char *key = url ? iw_hub_origin_key(url) : NULL;
    if (!key)
        return -1;
    for (size_t i = 0; i < E->nhosts; i++)
        if (!strcmp(E->hosts[i].key, key)) {
            free(key);
            return (int)i;
        }
    host *nh = realloc(E->hosts, (E->nhosts + 1) * sizeof *nh);
    if (!nh) {
        free(key);
        return -1;
    }
    E->hosts = nh;
    host *h = &E->hosts[E->nhosts];
    memset(h, 0, sizeof *h);
    h->key = key;
    iw_adapt_init(&h->ctl, IW_ADAPT_START, E->o->connections, iw_now_ms());
    return (int)E->nhosts++;
}

static int fail_file(xfer_engine *E, dfile *f, int rc)
{
    f->state = F_FAILED;
    if (E->rc == 0) {
        E->rc = rc;
        snprintf(E->err, sizeof E->err, "%s", iw_error_last());
    }
    iw_dl_event ev = { .kind = IW_DL_EV_ERROR, .path = f->spec->path, .message = iw_error_last() };
    emit(E, &ev);
    return rc;
}

/* ------------------------------------------------------------ state files */

static int state_write(dfile *f)
{
    /* files under IW_DL_STATE_EVERY are cheaper to fetch again than to
     * journal: they keep no resume state */
    if (f->spec->size < IW_DL_STATE_EVERY)
        return 0;
    cJSON *j = cJSON_CreateObject(), *a = cJSON_CreateArray();
    if (!j || !a) { cJSON_Delete(j); cJSON_Delete(a); return IW_ENOMEM; }
    cJSON_AddNumberToObject(j, "version", 1);
    cJSON_AddStringToObject(j, "path", f->spec->path);
    cJSON_AddNumberToObject(j, "size", (double)f->spec->size);
    cJSON_AddStringToObject(j, "hash", expected_hash(f->spec));
    cJSON_AddBoolToObject(j, "no_range", f->no_range);
    cJSON_AddItemToObject(j, "segments", a);
    for (size_t i = 0; i < f->nseg; i++) {
        cJSON *s = cJSON_CreateArray();
        cJSON_AddItemToArray(s, cJSON_CreateNumber((double)f->segs[i].start));
        cJSON_AddItemToArray(s, cJSON_CreateNumber((double)f->segs[i].pos));
        cJSON_AddItemToArray(s, cJSON_CreateNumber((double)f->segs[i].end));
        cJSON_AddItemToArray(a, s);
    }
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!txt)
        return IW_ENOMEM;
    /* not fsynced: it is rewritten every few MiB from the loop that serves
     * every transfer, and a state that a power loss left behind is checked
     * when read and by the file's hash at the end */
    int rc = iw_write_replace(f->spec->state_path, txt, strlen(txt));
    free(txt);
    f->state_bytes = f->done;
    f->state_ms = iw_now_ms();
    return rc;
}

static int seg_push(dfile *f, uint64_t start, uint64_t pos, uint64_t end)
{
    if (f->nseg == f->segcap) {
        size_t nc = f->segcap ? f->segcap * 2 : 8;
        seg *ns = realloc(f->segs, nc * sizeof *ns);
        if (!ns)
            return iw_error_set(IW_ENOMEM, "out of memory");
        f->segs = ns;
        f->segcap = nc;
    }
    seg *s = &f->segs[f->nseg++];
    memset(s, 0, sizeof *s);
    s->start = start; s->pos = pos; s->end = end;
    return 0;
}

/* Load a state file; on any inconsistency return -1 (caller discards). */
static int state_load(dfile *f)
{
    cJSON *j = NULL;
    iw_error_clear();
    if (iw_json_parse_file(f->spec->state_path, 1u << 20, &j, NULL) < 0)
        return -1;
    int rc = -1;
    int64_t size;
    const char *hash = iw_json_get_str(j, "hash");
    cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "segments");
    bool nr = false;
    iw_json_get_bool(j, "no_range", &nr);
    if (!iw_json_get_i64(j, "size", &size) || (uint64_t)size != f->spec->size || !hash ||
        strcmp(hash, expected_hash(f->spec)) || !cJSON_IsArray(a) || cJSON_GetArraySize(a) > MAX_SEGS)
        goto out;
    f->nseg = 0;
    f->done = 0;
    cJSON *s;
    uint64_t covered = 0;
    cJSON_ArrayForEach(s, a) {
        int64_t v[3];
        if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) != 3)
            goto out;
        for (int k = 0; k < 3; k++)
            if (!iw_json_item_i64(cJSON_GetArrayItem(s, k), &v[k]) || v[k] < 0)
                goto out;
        if (v[0] > v[1] || v[1] > v[2] || (uint64_t)v[2] > f->spec->size)
            goto out;
        if (seg_push(f, (uint64_t)v[0], (uint64_t)v[1], (uint64_t)v[2]) < 0)
            goto out;
        covered += (uint64_t)(v[2] - v[0]);
        f->done += (uint64_t)(v[1] - v[0]);
    }
    /* segments must tile the file exactly */
    if (covered != f->spec->size)
        goto out;
    for (size_t i = 0; i < f->nseg; i++)
        for (size_t k = i + 1; k < f->nseg; k++)
            if (f->segs[i].start < f->segs[k].end && f->segs[k].start < f->segs[i].end)
                goto out;
    f->no_range = nr;
    rc = 0;
out:
    cJSON_Delete(j);
    if (rc < 0) { f->nseg = 0; f->done = 0; }
    return rc;
}

/* ------------------------------------------------------------ file setup */

static bool split_file(const xfer_engine *E, const dfile *f)
{
    return f->spec->size >= E->o->split_min && E->o->connections > 1 && !f->no_range;
}

static void build_fresh_segments(xfer_engine *E, dfile *f)
{
    f->nseg = 0;
    f->done = 0;
    uint64_t size = f->spec->size;
    uint64_t n = 1;
    if (size >= E->o->split_min && E->o->connections > 1) {
        /* ranges of about o->chunk bytes, at least one per starting
         * connection (more connections split the ranges as they come) */
        uint64_t conns = (uint64_t)(E->o->connections < IW_ADAPT_START ? E->o->connections : IW_ADAPT_START);
        n = E->o->chunk ? size / E->o->chunk : conns;
        if (n < conns)
            n = conns;
        if (n > MAX_FRESH_SEGS)
            n = MAX_FRESH_SEGS;
        while (n > 1 && size / n < IW_DL_MIN_SPLIT)
            n--;
    }
    uint64_t chunk = size / n, at = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t end = i == n - 1 ? size : at + chunk;
        seg_push(f, at, at, end);
        at = end;
    }
}

static int preallocate(dfile *f)
{
    if (f->spec->size == 0)
        return 0;
    int r = posix_fallocate(f->fd, 0, (off_t)f->spec->size);
    if (r == EOPNOTSUPP || r == EINVAL)
        r = ftruncate(f->fd, (off_t)f->spec->size) == 0 ? 0 : errno;
    if (r)
        return iw_error_set_os(iw_error_from_errno(r), r, "cannot reserve %" PRIu64 " bytes for %s in %s",
                               f->spec->size, f->spec->path, f->spec->part_path);
    return 0;
}

#ifdef SYNC_FILE_RANGE_WRITE
#define WRITEBACK_DUE(hs) ((hs)->written - (hs)->flushed >= WRITEBACK_EVERY)
#else
#define WRITEBACK_DUE(hs) false
#endif

static void *hasher_main(void *arg)
{
    hasher *hs = arg;
    enum { CH = 1 << 20 };
    char *buf = malloc(CH);
    pthread_mutex_lock(&hs->mu);
    if (!buf) {
        hs->err = ENOMEM;
        pthread_cond_broadcast(&hs->cv);
    }
    while (buf) {
        while (!hs->stop && hs->hashed >= hs->avail && !hs->finish && !WRITEBACK_DUE(hs))
            pthread_cond_wait(&hs->cv, &hs->mu);
        if (hs->stop)
            break;
#ifdef SYNC_FILE_RANGE_WRITE
        if (WRITEBACK_DUE(hs)) {
            /* a hint (errors are fdatasync's to report): start writing back
             * every dirty page of the file -- ranges arrive in any order --
             * without waiting, so the final fdatasync finds little left */
            hs->flushed = hs->written;
            pthread_mutex_unlock(&hs->mu);
            (void)sync_file_range(hs->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
            pthread_mutex_lock(&hs->mu);
            continue;
        }
#endif
        if (hs->hashed >= hs->avail) {
            /* finish requested and everything hashed (avail == size) */
            pthread_mutex_unlock(&hs->mu);
            int rc = iw_hash_final_hex(hs->h, hs->hex, sizeof hs->hex);
            int serr = 0;
            if (rc == 0 && fdatasync(hs->fd) < 0 && errno != EINVAL)
                serr = errno;
            pthread_mutex_lock(&hs->mu);
            hs->final_rc = rc;
            hs->sync_err = serr;
            hs->finished = true;
            break;
        }
        /* read back what arrived out of order (hashed < avail, so
         * hasher_inline leaves the hash alone meanwhile) */
        uint64_t at = hs->hashed, left = hs->avail - hs->hashed;
        pthread_mutex_unlock(&hs->mu);
        size_t want = left < CH ? (size_t)left : CH;
        ssize_t r = pread(hs->fd, buf, want, (off_t)at);
        if (r > 0)
            iw_hash_update(hs->h, buf, (size_t)r);
        pthread_mutex_lock(&hs->mu);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            hs->err = r < 0 ? errno : EIO;
            break;
        }
        hs->hashed += (uint64_t)r;
        pthread_cond_broadcast(&hs->cv);
    }
    pthread_cond_broadcast(&hs->cv);
    if (hs->finish && hs->wake)
        curl_multi_wakeup(hs->wake);
    pthread_mutex_unlock(&hs->mu);
    free(buf);
    return NULL;
}

/* Bytes [off, off + len) were just written from the transfer buffer p.  If
 * the hash has reached exactly `off` and the thread has nothing queued (so it
 * is not touching the hash), hash them here, from the buffer, instead of
 * reading them back from the file later.  This is the case for every byte
 * of a single-range file and for the range at the file's frontier; ranges
 * that arrive ahead of the frontier are still read back by the thread when
 * the gap before them fills.  The caller does this only while the transfer
 * loop has time to spare (E->inline_ok): when the network keeps it busy,
 * hashing here would serialise receiving and hashing, and the thread's
 * read-back runs beside it instead (the hash is the same either way). */
static void hasher_inline(dfile *f, uint64_t off, const char *p, size_t len)
{
    hasher *hs = &f->hs;
    if (!hs->running || len == 0)
        return;
    pthread_mutex_lock(&hs->mu);
    if (!hs->finish && !hs->stop && !hs->err && hs->hashed == off && hs->avail <= off) {
        iw_hash_update(hs->h, p, len);
        hs->hashed += len;
        hs->avail = hs->hashed;
        hs->inline_bytes += len;
    }
    pthread_mutex_unlock(&hs->mu);
}

static void hasher_stop(dfile *f)
{
    hasher *hs = &f->hs;
    if (hs->running) {
        pthread_mutex_lock(&hs->mu);
        hs->stop = true;
        pthread_cond_broadcast(&hs->cv);
        pthread_mutex_unlock(&hs->mu);
        pthread_join(hs->th, NULL);
        pthread_mutex_destroy(&hs->mu);
        pthread_cond_destroy(&hs->cv);
        hs->running = false;
    }
    iw_hash_free(hs->h);
    hs->h = NULL;
}

/* (Re)start hashing from byte 0. */
static int hasher_start(dfile *f)
{
    hasher *hs = &f->hs;
    hasher_stop(f);
    hs->avail = hs->hashed = hs->written = hs->flushed = hs->inline_bytes = 0;
    f->frontier = 0;
    hs->stop = false;
    hs->err = 0;
    hs->finish = hs->finished = false;
    hs->final_rc = 0;
    hs->sync_err = 0;
    hs->hex[0] = 0;
    f->finishing = false;
    hs->fd = f->fd;
    hs->size = f->spec->size;
    int rc = f->spec->lfs ? iw_hash_new(&hs->h, IW_HASH_SHA256) : iw_hash_new_git_blob(&hs->h, f->spec->size);
    if (rc < 0)
        return rc;
    pthread_mutex_init(&hs->mu, NULL);
    pthread_cond_init(&hs->cv, NULL);
    if (pthread_create(&hs->th, NULL, hasher_main, hs) != 0) {
        pthread_mutex_destroy(&hs->mu);
        pthread_cond_destroy(&hs->cv);
        return iw_error_set(IW_ENOMEM, "cannot start a hashing thread for %s", f->spec->path);
    }
    hs->running = true;
    return 0;
}

/* Bytes 0..frontier-1 of the partial are on disk.  Advanced from the last
 * value (reset by hasher_start), so a file of many ranges costs one pass
 * over its segments per call, not one per range already done. */
static uint64_t frontier(dfile *f)
{
    uint64_t fr = f->frontier;
    for (;;) {
        const seg *hit = NULL;
        for (size_t i = 0; i < f->nseg; i++)
            if (f->segs[i].start <= fr && fr < f->segs[i].end) { hit = &f->segs[i]; break; }
        if (!hit || hit->pos <= fr)
            break;
        if (hit->pos < hit->end) {
            fr = hit->pos;
            break;
        }
        fr = hit->end;
    }
    f->frontier = fr;
    return fr;
}

static void hasher_feed(dfile *f)
{
    hasher *hs = &f->hs;
    if (!hs->running)
        return;
    uint64_t fr = frontier(f);
    pthread_mutex_lock(&hs->mu);
    hs->written = f->done;
    if (fr > hs->avail || WRITEBACK_DUE(hs)) {
        if (fr > hs->avail)
            hs->avail = fr;
        pthread_cond_signal(&hs->cv);
    }
    pthread_mutex_unlock(&hs->mu);
}

/* The file is complete: let the thread hash the rest, digest and fdatasync. */
static int hasher_finish_begin(dfile *f)
{
    hasher *hs = &f->hs;
    if (!hs->running)
        return iw_error_set(IW_ERR, "%s: no hash in progress", f->spec->path);
    pthread_mutex_lock(&hs->mu);
    hs->avail = hs->size;
    hs->finish = true;
    pthread_cond_broadcast(&hs->cv);
    pthread_mutex_unlock(&hs->mu);
    return 0;
}

/* 1 while the thread is still finishing; 0 with the digest in hex and
 * *sync_err (errno of the fdatasync, or 0); or an error. */
static int hasher_finish_poll(dfile *f, char *hex, size_t hexsz, int *sync_err)
{
    hasher *hs = &f->hs;
    pthread_mutex_lock(&hs->mu);
    bool fin = hs->finished;
    int err = hs->err, frc = hs->final_rc;
    *sync_err = hs->sync_err;
    if (fin)
        snprintf(hex, hexsz, "%s", hs->hex);
    pthread_mutex_unlock(&hs->mu);
    if (err)
        return iw_error_set_os(IW_EIO, err, "cannot read back %s", f->spec->part_path);
    if (!fin)
        return 1;
    if (frc < 0)
        return iw_error_set(frc, "%s: cannot finish its hash", f->spec->path);
    return 0;
}

/* Start over from zero: truncate the partial, fresh segments, new state. */
static int restart_file(xfer_engine *E, dfile *f, bool no_range)
{
    build_fresh_segments(E, f);
    if (no_range) {
        f->nseg = 0;
        seg_push(f, 0, 0, f->spec->size);
    }
    f->no_range = no_range;
    hasher_stop(f);
    if (ftruncate(f->fd, 0) < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot truncate %s", f->spec->part_path);
    int rc = preallocate(f);
    if (rc == 0)
        rc = hasher_start(f);
    if (rc < 0)
        return rc;
    return state_write(f);
}

/* Try to make a pending file runnable: lock, skip check, open partial. */
static int open_file(xfer_engine *E, dfile *f)
{
    iw_dl_file *s = f->spec;
    int rc;
    f->hs.wake = E->m;
    if (!f->locked) {
        if (iw_mkdir_parent(s->lock_path, 0755) < 0)
            return -1;
        rc = iw_lock_acquire(&f->lock, s->lock_path, 0);
        if (rc == IW_ELOCKED) {
            f->not_before = iw_now_ms() + LOCK_RETRY_MS;
            return 1; /* try again later */
        }
        if (rc < 0)
            return rc;
        f->locked = true;
    }
    /* someone (another process) may have finished it while we waited */
    if (E->o->is_present && E->o->is_present(s, E->o->ud_layout)) {
        s->skipped = true;
        return 2;
    }
    if ((rc = iw_mkdir_parent(s->part_path, 0755)) < 0)
        return rc;
    f->fd = open(s->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return iw_error_set_os(iw_error_from_errno(errno), errno, "cannot create %s", s->part_path);
    struct stat st;
    bool resumed = false;
    if (fstat(f->fd, &st) == 0 && (uint64_t)st.st_size == s->size && s->size > 0 && state_load(f) == 0)
        resumed = true;
    if (resumed) {
        if ((rc = hasher_start(f)) < 0)
            return rc;
        s->resumed_bytes = f->done;
        E->total_done += f->done;
        return 0;
    }
    return restart_file(E, f, false);
}

/* ------------------------------------------------------------ transfers */

/* The first body byte of an accepted 2xx answer.  A split file's first
 * answer (after any redirect) shows that the server honours Range and which
 * host serves the body; only then do more transfers start, counted by that
 * host's controller, which also takes the request-to-first-byte time as a
 * round-trip sample.  (A server that ignores Range answers the first
 * request 200 and the file becomes one plain GET without other ranges
 * having been asked for.) */
static void body_started(xfer *x)
{
    xfer_engine *E = x->E;
    dfile *f = x->f;
    if (!f->probed && split_file(E, f)) {
        f->probed = true;
        f->host = host_index(E, x->url);
        E->fan_out = true;
    }
    if (x->host < 0 && f->probed && split_file(E, f))
        x->host = f->host;
    if (f->host >= 0) {
        curl_off_t pre = 0, first = 0;
        if (curl_easy_getinfo(x->e, CURLINFO_PRETRANSFER_TIME_T, &pre) == CURLE_OK &&
            curl_easy_getinfo(x->e, CURLINFO_STARTTRANSFER_TIME_T, &first) == CURLE_OK && first >= pre)
            iw_adapt_rtt(&E->hosts[f->host].ctl, (double)(first - pre) / 1000.0);
    }
}

static size_t x_write(char *p, size_t sz, size_t n, void *ud)
{
    xfer *x = ud;
    dfile *f = x->f;
    size_t len = sz * n;
    uint64_t now = iw_now_ms();
    if (x->host >= 0 && x->got > 0)
        iw_adapt_gap(&x->E->hosts[x->host].ctl, now - x->last_rx);
    x->last_rx = now;
    if (!x->checked) {
        curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &x->status);
        x->checked = true;
        if (x->status == 206 || x->status == 200) {
            seg *s = &f->segs[x->seg];
            if (x->status == 200 && x->ranged && s->pos == 0 && f->done == 0 && f->active == 1 &&
                (f->nseg > 1 || s->end < f->spec->size)) {
                /* the server ignores Range, and this answer to a split file's
                 * first range -- its only transfer, nothing received yet -- is
                 * the whole file from its first byte: keep it as the file's
                 * one plain GET rather than asking again.  (A file asked for
                 * whole, bytes=0-(size-1), takes a 200 as it is and keeps
                 * resuming by Range.) */
                int xs = s->xfer;
                uint64_t t = s->t_start;
                f->nseg = 0;
                seg_push(f, 0, 0, f->spec->size);
                x->seg = 0;
                s = &f->segs[0];
                s->xfer = xs;
                s->t_start = t;
                f->no_range = true;
                x->ranged = false;
                x->host = -1;   /* no longer one of the host's split transfers */
            }
            if (x->status == 200 && (x->ranged && (s->pos > 0 || f->nseg > 1))) {
                x->restart200 = true;
                return 0;
            }
            if (x->status == 206) {
                uint64_t a, b, t;
                if (iw_parse_content_range(x->hdrs.content_range, &a, &b, &t) < 0 || a != s->pos ||
                    t != f->spec->size) {
                    x->bad_range = true;
                    return 0;
                }
            }
            char eb[80];
            const char *et = iw_hdrs_etag(&x->hdrs, eb, sizeof eb);
            if (et && (iw_is_hex(et, 40) || iw_is_hex(et, 64)) && strcmp(et, expected_hash(f->spec))) {
                x->etag_changed = true;
                return 0;
            }
            body_started(x);
        }
    }
    if (x->status != 206 && x->status != 200) {
        size_t room = ERRBODY_MAX - x->errbody.len;
        iw_buf_append(&x->errbody, p, len < room ? len : room);
        return len;
    }
    seg *s = &f->segs[x->seg];
    uint64_t want = s->end - s->pos;
    size_t take = len < want ? len : (size_t)want;
    size_t off = 0;
    while (off < take) {
        ssize_t w = pwrite(f->fd, p + off, take - off, (off_t)(s->pos + off));
        if (w < 0) {
            if (errno == EINTR) continue;
            x->werr = errno;
            return 0;
        }
        off += (size_t)w;
    }
    if (x->E->inline_ok)
        hasher_inline(f, s->pos, p, take);
    if (x->host >= 0)
        iw_adapt_bytes(&x->E->hosts[x->host].ctl, take);
    s->pos += take;
    f->done += take;
    x->got += take;
    x->E->fetched += take;
    s->fails = 0;
    if (take < len) {
        x->clipped = true;
        return 0;
    }
    return len;
}

static void x_free(xfer *x)
{
    if (!x)
        return;
    if (x->e)
        curl_easy_cleanup(x->e);
    curl_slist_free_all(x->hl);
    iw_hdrs_reset(&x->hdrs);
    iw_buf_free(&x->errbody);
    free(x->url);
    free(x);
}

static int start_xfer(xfer_engine *E, dfile *f, size_t si, const char *url_override, int redirects)
{
    seg *s = &f->segs[si];
    size_t slot = 0;
    while (slot < E->nx && E->x[slot])
        slot++;
    if (slot == E->nx) {
        size_t nn = E->nx ? E->nx * 2 : 16;
        xfer **nx = realloc(E->x, nn * sizeof *nx);
        if (!nx)
            return iw_error_set(IW_ENOMEM, "out of memory");
        for (size_t i = E->nx; i < nn; i++)
            nx[i] = NULL;
        E->x = nx;
        E->nx = nn;
    }
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return iw_error_set(IW_ENOMEM, "out of memory");
    x->E = E;
    x->f = f;
    x->seg = si;
    x->host = split_file(E, f) && f->probed ? f->host : -1;
    x->t_start = iw_now_ms();
    if (f->no_range && s->pos > 0) {
        /* no Range support: a retry starts the file over */
        f->done = 0;
        s->pos = 0;
        if (hasher_start(f) < 0) {
            free(x);
            return iw_error_last_code();
        }
    }
    x->hdrs.retry_after = -1;
    x->redirects = redirects;
    iw_buf_init(&x->errbody, ERRBODY_MAX);
    const char *u = url_override ? url_override : (f->location ? f->location : f->spec->url);
    x->url = strdup(u);
    x->e = curl_easy_init();
    char range[80];
    x->ranged = !f->no_range;
    if (x->ranged)
        snprintf(range, sizeof range, "Range: bytes=%" PRIu64 "-%" PRIu64, s->pos, s->end - 1);
    if (x->e && x->url)
        x->hl = iw_hub_headers(E->hub, x->url, x->ranged ? range : NULL, "Accept-Encoding: identity");
    if (!x->e || !x->url || !x->hl) {
        x_free(x);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    iw_hub_setup_easy(E->hub, x->e);
    curl_easy_setopt(x->e, CURLOPT_URL, x->url);
    curl_easy_setopt(x->e, CURLOPT_HTTPHEADER, x->hl);
    curl_easy_setopt(x->e, CURLOPT_HEADERFUNCTION, iw_hdrs_cb);
    curl_easy_setopt(x->e, CURLOPT_HEADERDATA, &x->hdrs);
    curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, x_write);
    curl_easy_setopt(x->e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->e, CURLOPT_BUFFERSIZE, 256L * 1024);
    if (curl_multi_add_handle(E->m, x->e) != CURLM_OK) {
        x_free(x);
        return iw_error_set(IW_ENET, "curl_multi_add_handle failed");
    }
    E->x[slot] = x;
    s->xfer = (int)slot + 1;
    s->t_start = x->t_start;
    s->b_start = s->pos;
    x->last_rx = s->t_start;
    f->active++;
    return 0;
}

/* Remove a transfer from the multi and from its segment. */
static void end_xfer(xfer_engine *E, size_t slot)
{
    xfer *x = E->x[slot];
    curl_multi_remove_handle(E->m, x->e);
    dfile *f = x->f;
    if (x->seg < f->nseg && f->segs[x->seg].xfer == (int)slot + 1)
        f->segs[x->seg].xfer = 0;
    f->active--;
    E->x[slot] = NULL;
    x_free(x);
}

static void cancel_file_xfers(xfer_engine *E, dfile *f)
{
    for (size_t i = 0; i < E->nx; i++)
        if (E->x[i] && E->x[i]->f == f)
            end_xfer(E, i);
}

static long backoff_ms(xfer_engine *E, int fails, long retry_after)
{
    if (retry_after >= 0)
        return (retry_after > IW_DL_MAX_RETRY_AFTER_S ? IW_DL_MAX_RETRY_AFTER_S : retry_after) * 1000;
    int k = fails - 1 < 0 ? 0 : (fails - 1 > 3 ? 3 : fails - 1);
    return E->o->retry_base_ms << k;
}

/* ------------------------------------------------------------ finishing */

static void release_file(dfile *f)
{
    hasher_stop(f);
    if (f->fd >= 0) { close(f->fd); f->fd = -1; }
    if (f->locked) { iw_lock_release(&f->lock); f->locked = false; }
}

/* Called for a complete file on every pass of the loop: the first call hands
 * the tail hash and the fdatasync to the hashing thread, later ones return
 * until it is done, then the file is checked and placed. */
static void finish_file(xfer_engine *E, dfile *f)
{
    iw_dl_file *s = f->spec;
    char got[65];
    int rc, sync_err = 0;
    if (!f->finishing) {
        if ((rc = hasher_finish_begin(f)) < 0) { fail_file(E, f, rc); release_file(f); return; }
        f->finishing = true;
    }
    if ((rc = hasher_finish_poll(f, got, sizeof got, &sync_err)) == 1)
        return;
    f->finishing = false;
    hasher_stop(f);
    if (rc < 0) { fail_file(E, f, rc); release_file(f); return; }
    const char *want = expected_hash(s);
    if (strcmp(got, want) != 0) {
        if (f->verify_failures++ == 0) {
            /* discard and fetch once more, and say so */
            char msg[512];
            snprintf(msg, sizeof msg, "%s: %s mismatch (expected %s, got %s); downloading it again", s->path,
                     s->lfs ? "sha256" : "git blob sha1", want, got);
            iw_dl_event rev = { .kind = IW_DL_EV_VERIFY_RETRY, .path = s->path, .size = s->size, .message = msg };
            emit(E, &rev);
            E->total_done -= f->done;
            if ((rc = restart_file(E, f, f->no_range)) < 0) { fail_file(E, f, rc); release_file(f); }
            return;
        }
        unlink(s->part_path);
        unlink(s->state_path);
        rc = iw_error_set(IW_EVERIFY, "%s: %s mismatch after 2 attempts: expected %s, got %s", s->path,
                          s->lfs ? "sha256" : "git blob sha1", want, got);
        fail_file(E, f, rc);
        release_file(f);
        return;
    }
    if (sync_err) {
        rc = iw_error_set_os(iw_error_from_errno(sync_err), sync_err, "cannot flush %s", s->part_path);
        fail_file(E, f, rc);
        release_file(f);
        return;
    }
    close(f->fd);
    f->fd = -1;
    rc = E->o->place ? E->o->place(s, E->o->ud_layout) : 0;
    if (rc < 0) { fail_file(E, f, rc); release_file(f); return; }
    unlink(s->state_path);
    f->state = F_DONE;
    s->done = true;
    release_file(f);
    iw_dl_event ev = { .kind = IW_DL_EV_FILE_DONE, .path = s->path, .size = s->size,
                       .reverified = f->verify_failures > 0 };
    emit(E, &ev);
}

/* A transfer finished (any way): decide what happens to its segment. */
static void on_done(xfer_engine *E, size_t slot, CURLcode cc)
{
    xfer *x = E->x[slot];
    dfile *f = x->f;
    seg *s = &f->segs[x->seg];
    long st = 0;
    curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &st);
    uint64_t now = iw_now_ms();
    int rc;

    if (x->werr) {
        int code = iw_error_from_errno(x->werr);
        rc = iw_error_set_os(code, x->werr, "cannot write %s (offset %" PRIu64 ")", f->spec->part_path, s->pos);
        end_xfer(E, slot);
        cancel_file_xfers(E, f);
        state_write(f);
        fail_file(E, f, rc);
        release_file(f);
        if (code == IW_ENOSPC || x->werr == EROFS || x->werr == EDQUOT)
            E->fatal = true;
        return;
    }
    if (x->restart200) {
        /* the server ignored Range: restart this file as one plain GET */
        end_xfer(E, slot);
        cancel_file_xfers(E, f);
        E->total_done -= f->done;
        if ((rc = restart_file(E, f, true)) < 0) { fail_file(E, f, rc); release_file(f); }
        return;
    }
    if (cc == CURLE_OK && st >= 300 && st < 400 && x->hdrs.location) {
        /* the hub's redirect names the content it points to (X-Linked-Etag):
         * a different hash means the file changed since the listing */
        char eb[80];
        const char *et = iw_hdrs_etag(&x->hdrs, eb, sizeof eb);
        if (et && (iw_is_hex(et, 40) || iw_is_hex(et, 64)) && strcmp(et, expected_hash(f->spec)))
            x->etag_changed = true;
    }
    if (x->etag_changed) {
        char eb[80];
        const char *et = iw_hdrs_etag(&x->hdrs, eb, sizeof eb);
        rc = iw_error_set(IW_EVERIFY, "%s: the server's ETag %s differs from the listing's %s (repo changed during the download?)",
                          f->spec->path, et ? et : "?", expected_hash(f->spec));
        end_xfer(E, slot);
        cancel_file_xfers(E, f);
        unlink(f->spec->part_path);
        unlink(f->spec->state_path);
        fail_file(E, f, rc);
        release_file(f);
        return;
    }
    if (x->bad_range) {
        rc = iw_error_set(IW_EFORMAT, "%s: Content-Range '%s' does not match the request for bytes %" PRIu64 "-%" PRIu64,
                          f->spec->path, x->hdrs.content_range ? x->hdrs.content_range : "(none)", s->pos, s->end - 1);
        end_xfer(E, slot);
        cancel_file_xfers(E, f);
        state_write(f);
        fail_file(E, f, rc);
        release_file(f);
        return;
    }
    bool body_ok = (st == 200 || st == 206);
    if (body_ok && (x->clipped || s->pos == s->end)) {
        end_xfer(E, slot);
        return; /* segment complete; scheduler finishes the file */
    }
    if (cc == CURLE_OK && st >= 300 && st < 400 && x->hdrs.location) {
        char *next = iw_hub_resolve_location(x->url, x->hdrs.location);
        int red = x->redirects + 1;
        size_t si = x->seg;
        int bad = next ? 0 : iw_hub_redirect_refused(f->spec->path, x->url, x->hdrs.location);
        end_xfer(E, slot);
        if (!next || red > IW_HUB_MAX_REDIRECTS) {
            rc = next ? iw_error_set(IW_ENET, "%s: more than %d redirects", f->spec->path, IW_HUB_MAX_REDIRECTS) : bad;
            free(next);
            cancel_file_xfers(E, f);
            state_write(f);
            fail_file(E, f, rc);
            release_file(f);
            return;
        }
        free(f->location);
        f->location = next;
        if ((rc = start_xfer(E, f, si, NULL, red)) < 0) {
            cancel_file_xfers(E, f);
            fail_file(E, f, rc);
            release_file(f);
        }
        return;
    }
    bool retry = false;
    long ra = -1;
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR)) {
        retry = true;
    } else if (body_ok) {
        retry = true; /* body ended early: resume with Range */
    } else if (st == 408 || st == 429 || st >= 500) {
        retry = true;
        ra = x->hdrs.retry_after;
    } else if (st >= 400 && f->location && !iw_hub_same_origin(E->hub, x->url)) {
        /* the CDN refused a remembered location (an expired signature, or
         * the content changed): ask the hub again, whose redirect also
         * re-checks the ETag against the listing */
        retry = true;
    }
    if (retry) {
        bool refused_extra = false;
        int hi = x->host >= 0 ? x->host : (split_file(E, f) && f->probed ? f->host : -1);
        if ((st == 429 || st == 503) && hi >= 0) {
            /* the host is overloaded or refuses this many connections:
             * shrink (the loop releases the transfers above the new limit) */
            int flowing = 0;
            for (size_t i = 0; i < E->nx; i++)
                if (E->x[i] && E->x[i] != x && E->x[i]->host == hi && E->x[i]->got > 0)
                    flowing++;
            iw_adapt_overload(&E->hosts[hi].ctl, now, x->t_start, flowing, x->hdrs.retry_after);
            /* while others are served, the refusal is about how many of
             * us there are, not about this range */
            refused_extra = flowing > 0 && s->refusals++ < MAX_REFUSALS;
        }
        if (x->got == 0 && !refused_extra)
            s->fails++;
        if (s->fails > IW_DL_MAX_RETRIES) {
            if (x->stalled)
                rc = iw_error_set(IW_ENET, "%s: no data for %ld s (HF_HUB_DOWNLOAD_TIMEOUT) after %d attempts (%s)",
                                  f->spec->path, iw_hub_timeout(E->hub), s->fails, x->url);
            else if (cc != CURLE_OK)
                rc = iw_error_set(IW_ENET, "%s: %s after %d attempts (%s)", f->spec->path, curl_easy_strerror(cc),
                                  s->fails, x->url);
            else
                rc = iw_error_set(IW_ENET, "%s: HTTP %ld after %d attempts (%s)", f->spec->path, st, s->fails, x->url);
            end_xfer(E, slot);
            cancel_file_xfers(E, f);
            state_write(f);
            fail_file(E, f, rc);
            release_file(f);
            return;
        }
        s->not_before = x->got > 0 && ra < 0 ? now : now + (uint64_t)backoff_ms(E, s->fails ? s->fails : 1, ra);
        /* a CDN failure may be a stale signed URL: go back to the hub */
        if (f->location && st >= 400) { free(f->location); f->location = NULL; }
        end_xfer(E, slot);
        return;
    }
    /* a non-retryable HTTP status */
    if (cc == CURLE_OK)
        rc = iw_hub_http_error(E->hub, st, x->hdrs.x_error_code, f->spec->path, x->url);
    else
        rc = iw_error_set(IW_ENET, "%s: %s", f->spec->path, curl_easy_strerror(cc));
    /* only the hub's own answer (it carries X-Repo-Commit) proves the entry
     * is missing at this commit, as huggingface_hub decides */
    if (st == 404 && x->hdrs.x_error_code && !strcmp(x->hdrs.x_error_code, "EntryNotFound") &&
        x->hdrs.repo_commit && E->o->no_exist)
        E->o->no_exist(f->spec, E->o->ud_layout);
    end_xfer(E, slot);
    cancel_file_xfers(E, f);
    state_write(f);
    fail_file(E, f, rc);
    release_file(f);
}

/* Order the segments by start and merge runs of finished ones, so a file
 * whose ranges keep being split (many connections) never runs out of
 * segments; the transfers follow their segments to the new indices. */
static void compact_segs(xfer_engine *E, dfile *f)
{
    size_t n = f->nseg, m = 0;
    size_t *order = malloc(n * sizeof *order), *to = malloc(n * sizeof *to);
    seg *ns = malloc(n * sizeof *ns);
    if (!order || !to || !ns) {
        free(order); free(to); free(ns);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        while (k > 0 && f->segs[order[k - 1]].start > f->segs[i].start) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    for (size_t i = 0; i < n; i++) {
        const seg *s = &f->segs[order[i]];
        seg *last = m ? &ns[m - 1] : NULL;
        if (last && !last->xfer && last->pos == last->end && last->end == s->start && !s->xfer && s->pos == s->end) {
            last->end = last->pos = s->end;
        } else {
            ns[m++] = *s;
        }
        to[order[i]] = m - 1;
    }
    memcpy(f->segs, ns, m * sizeof *ns);
    f->nseg = m;
    for (size_t i = 0; i < E->nx; i++)
        if (E->x[i] && E->x[i]->f == f)
            E->x[i]->seg = to[E->x[i]->seg];
    free(order); free(to); free(ns);
}

/* The rate of a segment's transfer, in bytes/s, or -1 while it has none
 * yet: less than 50 ms old, or without a byte for less than `young` ms
 * (after that, no byte is a rate of 0: a transfer stuck before its answer
 * is the first to be split). */
static double seg_rate(const seg *s, uint64_t now, uint64_t young)
{
    double el = (double)(now - s->t_start) / 1000.0;
    if (!s->xfer || el <= 0.05)
        return -1;
    if (s->pos <= s->b_start)
        return now - s->t_start < young ? -1 : 0;
    return (double)(s->pos - s->b_start) / el;
}

/* Split the active segment with the latest estimated finish.  A transfer
 * that has no rate yet is taken to run at the average of the file's others
 * (it was just started, most often by the previous split: taken as the
 * slowest, it would be split again at once, and a split ends the connection
 * at the new boundary); with no rate at all, the longest range goes. */
static bool try_split(xfer_engine *E, dfile *f, uint64_t now)
{
    if (f->nseg >= MAX_SEGS / 2)
        compact_segs(E, f);
    if (f->nseg >= MAX_SEGS || f->no_range)
        return false;
    /* young: the host's settle time after a change (8 x RTT, 50 ms..1 s),
     * what a new transfer is given to bring its first byte */
    uint64_t young = f->host >= 0 ? iw_adapt_settle_ms(&E->hosts[f->host].ctl) : 1000;
    double sum = 0;
    int known = 0;
    for (size_t i = 0; i < f->nseg; i++) {
        double r = seg_rate(&f->segs[i], now, young);
        if (r >= 0) { sum += r; known++; }
    }
    size_t best = SIZE_MAX;
    double best_eta = -1;
    for (size_t i = 0; i < f->nseg; i++) {
        seg *s = &f->segs[i];
        uint64_t rem = s->end - s->pos;
        if (!s->xfer || rem < 2 * IW_DL_MIN_SPLIT)
            continue;
        double rate = seg_rate(s, now, young);
        if (rate < 0)
            rate = known ? sum / known : 0;
        double eta = rate > 0 ? (double)rem / rate : 1e9 + (double)rem;
        if (eta > best_eta) { best_eta = eta; best = i; }
    }
    if (best == SIZE_MAX)
        return false;
    seg *s = &f->segs[best];
    uint64_t mid = s->pos + (s->end - s->pos) / 2;
    uint64_t end = s->end;
    s->end = mid;
    if (seg_push(f, mid, mid, end) < 0) {
        f->segs[best].end = end;
        return false;
    }
    return true;
}

/* The idle range (not waiting for a backoff) nearest the start of the file,
 * so the hashing frontier keeps moving; SIZE_MAX if none. */
static size_t next_idle(const dfile *f, uint64_t now)
{
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < f->nseg; k++) {
        const seg *s = &f->segs[k];
        if (s->xfer || s->pos >= s->end || s->not_before > now)
            continue;
        if (best == SIZE_MAX || s->start < f->segs[best].start)
            best = k;
    }
    return best;
}

/* Recount, per host, the transfers open to it and the running split files
 * with ranges left to fetch. */
static void host_counts(xfer_engine *E)
{
    for (size_t h = 0; h < E->nhosts; h++)
        E->hosts[h].active = E->hosts[h].warming = E->hosts[h].files = 0;
    for (size_t i = 0; i < E->nx; i++) {
        const xfer *x = E->x[i];
        if (x && x->host >= 0) {
            E->hosts[x->host].active++;
            if (x->got == 0)
                E->hosts[x->host].warming++;
        }
    }
    for (size_t i = 0; i < E->nfiles; i++) {
        const dfile *f = &E->files[i];
        if (f->state != F_RUNNING || f->host < 0 || !f->probed || !split_file(E, f))
            continue;
        for (size_t k = 0; k < f->nseg; k++)
            if (f->segs[k].pos < f->segs[k].end) {
                E->hosts[f->host].files++;
                break;
            }
    }
}

/* A host's limit went down: end the transfers above it now (their ranges
 * keep what arrived and wait, idle, for a connection).  The one at a file's
 * hashing frontier goes last; then those of the file with the most
 * transfers, the range furthest into the file first. */
static void release_excess(xfer_engine *E)
{
    for (size_t hi = 0; hi < E->nhosts; hi++) {
        host *h = &E->hosts[hi];
        while (h->active > h->ctl.limit) {
            size_t victim = SIZE_MAX;
            bool vfront = true;
            int vact = -1;
            uint64_t vstart = 0;
            for (size_t i = 0; i < E->nx; i++) {
                const xfer *x = E->x[i];
                if (!x || x->host != (int)hi)
                    continue;
                const dfile *f = x->f;
                const seg *s = &f->segs[x->seg];
                bool front = s->start <= f->frontier && f->frontier < s->end;
                bool better = victim == SIZE_MAX || (vfront && !front) ||
                              (front == vfront && (f->active > vact ||
                                                   (f->active == vact && s->start > vstart)));
                if (better) {
                    victim = i;
                    vfront = front;
                    vact = f->active;
                    vstart = s->start;
                }
            }
            if (victim == SIZE_MAX)
                break;
            if (E->x[victim]->got == 0)
                h->warming--;
            end_xfer(E, victim);
            h->active--;
        }
    }
}

static size_t running_files(xfer_engine *E)
{
    size_t n = 0;
    for (size_t i = 0; i < E->nfiles; i++)
        if (E->files[i].state == F_RUNNING)
            n++;
    return n;
}

static void schedule(xfer_engine *E, uint64_t now)
{
    /* promote pending files */
    size_t running = running_files(E);
    for (size_t i = 0; i < E->nfiles && running < (size_t)E->o->jobs && !E->fatal; i++) {
        dfile *f = &E->files[i];
        if (f->state != F_PENDING || f->not_before > now)
            continue;
        /* same content twice in one repo: one partial at a time (fcntl
         * locks do not exclude within one process) */
        bool twin = false;
        for (size_t k = 0; k < E->nfiles; k++)
            if (k != i && E->files[k].state == F_RUNNING && !strcmp(E->files[k].spec->part_path, f->spec->part_path))
                twin = true;
        if (twin) {
            f->not_before = now + LOCK_RETRY_MS;
            continue;
        }
        int r = open_file(E, f);
        if (r == 1)
            continue;
        if (r == 2) {
            f->state = F_DONE;
            E->total_done += f->spec->size;
            release_file(f);
            iw_dl_event ev = { .kind = IW_DL_EV_FILE_DONE, .path = f->spec->path, .size = f->spec->size, .skipped = true };
            emit(E, &ev);
            continue;
        }
        if (r < 0) {
            fail_file(E, f, r);
            release_file(f);
            int c = iw_error_last_code();
            if (c == IW_ENOSPC || c == IW_EIO || c == IW_EUNSAFE)
                E->fatal = true;
            continue;
        }
        f->state = F_RUNNING;
        running++;
        iw_dl_event ev = { .kind = IW_DL_EV_START, .path = f->spec->path, .size = f->spec->size };
        emit(E, &ev);
    }
    /* start transfers.  A file below split_min (or whose server ignores
     * Range) is one transfer; a split file makes one until its first answer
     * shows which host serves it, then as many as that host's controller
     * allows: first an even share of the limit among the host's running
     * split files (pass 0), then what is left to files in order (pass 1). */
    host_counts(E);
    for (int pass = 0; pass < 2 && !E->fatal; pass++) {
        for (size_t i = 0; i < E->nfiles && !E->fatal; i++) {
            dfile *f = &E->files[i];
            if (f->state != F_RUNNING)
                continue;
            bool complete = true;
            for (size_t k = 0; k < f->nseg; k++)
                if (f->segs[k].pos < f->segs[k].end || f->segs[k].xfer)
                    complete = false;
            if (complete) {
                if (pass == 0 && f->active == 0)
                    finish_file(E, f);
                continue;
            }
            host *h = NULL;
            int maxc = 1;
            if (split_file(E, f) && f->probed && f->host >= 0) {
                h = &E->hosts[f->host];
                int share = h->files > 0 ? (h->ctl.limit + h->files - 1) / h->files : h->ctl.limit;
                maxc = pass == 0 ? share : INT_MAX;
            }
            while (f->active < maxc && (!h || h->active < h->ctl.limit)) {
                size_t k = next_idle(f, now);
                if (k == SIZE_MAX) {
                    /* no idle range: split the one that would finish last,
                     * unless some range only waits for its backoff */
                    bool waiting = false;
                    for (size_t j = 0; j < f->nseg; j++)
                        if (!f->segs[j].xfer && f->segs[j].pos < f->segs[j].end)
                            waiting = true;
                    if (waiting || !try_split(E, f, now)) {
                        break;
                    }
                    k = f->nseg - 1;
                }
                int rc = start_xfer(E, f, k, NULL, 0);
                if (rc < 0) { cancel_file_xfers(E, f); fail_file(E, f, rc); release_file(f); break; }
                if (h) { h->active++; h->warming++; }
            }
        }
    }
}

static void progress(xfer_engine *E, uint64_t now, bool force)
{
    if (!force && now - E->last_progress < PROGRESS_MS)
        return;
    E->last_progress = now;
    iw_dl_active act[64];
    size_t na = 0;
    for (size_t i = 0; i < E->nfiles; i++) {
        dfile *f = &E->files[i];
        if (f->state != F_RUNNING)
            continue;
        if (now - f->rate_t >= 1000) {
            if (f->rate_t)
                f->rate = (double)(f->done - f->rate_b) * 1000.0 / (double)(now - f->rate_t);
            f->rate_t = now;
            f->rate_b = f->done;
        }
        if (na < 64)
            act[na++] = (iw_dl_active){ f->spec->path, f->done, f->spec->size, f->rate, f->active };
    }
    iw_dl_event ev = { .kind = IW_DL_EV_PROGRESS, .active = act, .n_active = na };
    emit(E, &ev);
}

int iw_engine_run(iw_hub *hub, iw_dl_file *files, size_t n, const iw_engine_opts *o, uint64_t *fetched)
{
    xfer_engine E;
    memset(&E, 0, sizeof E);
    E.hub = hub;
    E.o = o;
    E.t0 = iw_now_ms();
    E.inline_ok = true;
    E.spare_t0 = E.t0;
    *fetched = 0;
    if (n == 0)
        return 0;
    E.files = calloc(n, sizeof *E.files);
    E.m = curl_multi_init();
    if (!E.files || !E.m) {
        free(E.files);
        if (E.m) curl_multi_cleanup(E.m);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    /* No HTTP/2 multiplexing: every transfer gets a connection of its own
     * (reused one transfer after another).  Multiplexed, all ranges of a
     * file would share one TCP connection, and a CDN's per-connection rate
     * limit -- what makes range splitting worthwhile -- would cap them all. */
    curl_multi_setopt(E.m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    /* per host: the ranges of split files (at most o->connections, see
     * adapt.c) plus one transfer per other file (at most o->jobs) */
    curl_multi_setopt(E.m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)(o->jobs + o->connections));
    E.nfiles = n;
    for (size_t i = 0; i < n; i++) {
        E.files[i].spec = &files[i];
        E.files[i].fd = -1;
        E.files[i].lock.fd = -1;
        E.files[i].host = -1;
        E.total_size += files[i].size;
    }
    for (;;) {
        uint64_t now = iw_now_ms();
        schedule(&E, now);
        bool left = false;
        for (size_t i = 0; i < n; i++)
            if (E.files[i].state == F_PENDING || E.files[i].state == F_RUNNING)
                left = true;
        if (!left || E.fatal)
            break;
        if (o->cancel && *o->cancel) {
            if (E.rc == 0) {
                E.rc = iw_error_set(IW_ERR, "interrupted; run the same command again to resume");
                snprintf(E.err, sizeof E.err, "%s", iw_error_last());
            }
            break;
        }
        int still = 0;
        curl_multi_perform(E.m, &still);
        CURLMsg *msg;
        int q, completed = 0;
        while ((msg = curl_multi_info_read(E.m, &q)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            completed++;
            xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            for (size_t s = 0; s < E.nx; s++)
                if (E.x[s] == x) { on_done(&E, s, cc); break; }
        }
        /* a transfer that received nothing for HF_HUB_DOWNLOAD_TIMEOUT is
         * dropped and retried (resuming where it stopped).  libcurl's own
         * low-speed check averages over a window of several seconds, so a
         * stall after a burst of data would take that much longer */
        uint64_t idle_ms = (uint64_t)iw_hub_timeout(hub) * 1000u, tnow = iw_now_ms();
        for (size_t s = 0; s < E.nx; s++)
            if (E.x[s] && E.x[s]->last_rx + idle_ms < tnow) {
                E.x[s]->stalled = true;
                on_done(&E, s, CURLE_OPERATION_TIMEDOUT);
            }
        /* the controllers see the counts and bytes of this pass; a lower
         * limit ends transfers now, a higher one starts them right away */
        host_counts(&E);
        bool raised = false;
        for (size_t h = 0; h < E.nhosts; h++) {
            int before = E.hosts[h].ctl.limit;
            if (iw_adapt_tick(&E.hosts[h].ctl, tnow, E.hosts[h].active, E.hosts[h].warming) &&
                E.hosts[h].ctl.limit > before)
                raised = true;
        }
        release_excess(&E);
        /* account bytes and persist state */
        for (size_t i = 0; i < n; i++) {
            dfile *f = &E.files[i];
            if (f->state == F_RUNNING) {
                hasher_feed(f);
                if ((f->done - f->state_bytes >= IW_DL_STATE_EVERY) ||
                    (f->done != f->state_bytes && now - f->state_ms >= STATE_EVERY_MS))
                    state_write(f);
            }
        }
        E.total_done = 0;
        for (size_t i = 0; i < n; i++) {
            dfile *f = &E.files[i];
            if (f->state == F_DONE) E.total_done += f->spec->size;
            else if (f->state == F_RUNNING) E.total_done += f->done;
        }
        progress(&E, now, false);
        uint64_t lnow = iw_now_ms();
        if (lnow - E.spare_t0 >= SPARE_WINDOW_MS) {
            /* hash from the transfer buffer in the next window only if this
             * loop waited for the network at least half of this one */
            E.inline_ok = 2 * E.spare_ms >= lnow - E.spare_t0;
            E.spare_t0 = lnow;
            E.spare_ms = 0;
        }
        if (completed || raised || E.fan_out) {
            E.fan_out = false;
            continue;   /* start the next transfers right away */
        }
        /* a hashing thread that finished a file wakes this up */
        curl_multi_poll(E.m, NULL, 0, still > 0 ? 100 : 20, NULL);
        E.spare_ms += iw_now_ms() - lnow;
    }
    /* stop: keep partial state resumable */
    for (size_t s = 0; s < E.nx; s++)
        if (E.x[s]) {
            dfile *f = E.x[s]->f;
            end_xfer(&E, s);
            (void)f;
        }
    for (size_t i = 0; i < n; i++) {
        dfile *f = &E.files[i];
        if (f->state == F_RUNNING) {
            state_write(f);
            if (E.rc == 0) {
                E.rc = iw_error_set(IW_ERR, "%s: interrupted", f->spec->path);
                snprintf(E.err, sizeof E.err, "%s", iw_error_last());
            }
        }
        release_file(f);
        free(f->segs);
        free(f->location);
    }
    *fetched = E.fetched;
    progress(&E, iw_now_ms(), true);
    for (size_t h = 0; h < E.nhosts; h++)
        free(E.hosts[h].key);
    free(E.hosts);
    free(E.x);
    curl_multi_cleanup(E.m);
    free(E.files);
    if (E.rc < 0)
        iw_error_set(E.rc, "%s", E.err[0] ? E.err : "download failed");
    return E.rc;
}
