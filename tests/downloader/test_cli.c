/* test_cli.c - the download command as a process: kill -9 then resume,
 * two concurrent downloaders, progress (--quiet, --json, plain lines, the
 * terminal redraw under script(1)), exit codes, traversal names, --unpack
 * (tar.gz, zip, size cap), archive escapes, full disk. */
#include "hubtest.c"
#include "dltest.h"

#include <errno.h>
#include <archive.h>
#include <archive_entry.h>
#include <sys/mount.h>
#include <unistd.h>

#define BIG (4u << 20)

static char *g_root, *g_home;
static iwt_hub g_hub;

static void setup(void)
{
    g_root = iwt_tmpdir("cliroot");
    g_home = iwt_tmpdir("clihome");   /* registry, model root, HF_HOME: never the user's */
    dl_put_text(g_root, "t/k", "config.json", "{\"model_type\":\"llama\"}");
    dl_put(g_root, "t/k", "model.safetensors", BIG, 11);
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, NULL), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    iwt_rm_rf(g_home);
    free(g_root);
    free(g_home);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 90);

static int run_cli(const char *args, char **out, char **err)
{
    return dl_cli(&g_hub, g_home, "", args, out, err);
}

static void check_big(const char *dest)
{
    char p[4096], h[65], want[65];
    snprintf(p, sizeof p, "%s/model.safetensors", dest);
    dl_file_hash(p, true, h);
    char *b = dl_bytes(BIG, 11);
    iw_sha256_hex(b, BIG, want);
    free(b);
    cr_expect_str_eq(h, want);
}

Test(cli, kill9_then_resume_refetches_little)
{
    char *dest = iwt_tmpdir("kill");
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":1000000,\"times\":-1}"), 0);
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "HF_ENDPOINT=%s HF_TOKEN= HF_TOKEN_PATH=/nonexistent IMAGEWORKS_REGISTRY_DIR=%s/reg %s download t/k --dest %s --quiet & "
             "p=$!; sleep 2.5; kill -9 $p; wait $p; echo killed",
             g_hub.hub_url, g_home, iwt_cli(), dest);
    char *out = NULL;
    iwt_run(cmd, &out, NULL);
    cr_assert(out && strstr(out, "killed"));
    free(out);
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors", dest);
    cr_assert(!iw_path_exists(p), "the killed run placed an unverified file");
    usleep(800000); /* let fakehub notice the dropped connection and log it */
    uint64_t first = dl_log_bytes(&g_hub, "cdn", NULL, NULL, NULL);
    cr_assert_gt(first, 500000u, "first run got only %llu bytes", (unsigned long long)first);
    cr_assert_lt(first, BIG, "first run finished before the kill");
    iwt_hub_reset(&g_hub);
    char *err = NULL;
    snprintf(cmd, sizeof cmd, "download t/k --quiet --dest %s", dest);
    int rc = run_cli(cmd, NULL, &err);
    cr_assert_eq(rc, 0, "resume failed: %s", err ? err : "");
    free(err);
    check_big(dest);
    uint64_t second = dl_log_bytes(&g_hub, "cdn", NULL, NULL, NULL);
    /* the second run fetches what the first did not save, plus at most the
     * last second of data (state is saved every second or 4 MiB) */
    cr_expect_leq(second + first, (uint64_t)BIG + 1100000u,
                  "first %llu + second %llu bytes for a %u-byte file", (unsigned long long)first,
                  (unsigned long long)second, BIG);
    cr_expect_lt(second, (uint64_t)BIG - 400000u, "resume re-fetched %llu bytes", (unsigned long long)second);
    /* no partial state left */
    cr_expect_eq(dl_partials(dest), 0, "partials left");
    iwt_rm_rf(dest);
    free(dest);
}

Test(cli, sigterm_stops_cleanly_and_resumes)
{
    char *dest = iwt_tmpdir("term");
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":1000000,\"times\":-1}"), 0);
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "HF_ENDPOINT=%s HF_TOKEN= HF_TOKEN_PATH=/nonexistent IMAGEWORKS_REGISTRY_DIR=%s/reg %s download t/k --dest %s --quiet & "
             "p=$!; sleep 2; kill -TERM $p; wait $p; echo rc=$?",
             g_hub.hub_url, g_home, iwt_cli(), dest);
    char *out = NULL, *err = NULL;
    iwt_run(cmd, &out, &err);
    cr_expect(out && strstr(out, "rc=1"), "out: %s", out);
    cr_expect(err && strstr(err, "interrupted"), "stderr: %s", err);
    free(out);
    free(err);
    /* the state saved on the way out names the bytes already on disk */
    char *ls = NULL;
    {
        char probe[4096];
        dl_state_file(dest, "", probe, sizeof probe);
        snprintf(cmd, sizeof cmd, "cat '%s'*.state", probe);
    }
    iwt_run(cmd, &ls, NULL);
    cr_assert(ls && strstr(ls, "\"segments\""), "no state: %s", ls);
    cJSON *st = cJSON_Parse(ls);
    free(ls);
    cr_assert_not_null(st);
    cJSON *seg0 = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "segments"), 0);
    double pos = cJSON_GetNumberValue(cJSON_GetArrayItem(seg0, 1));
    cJSON_Delete(st);
    cr_expect_gt(pos, 500000, "state records only %.0f bytes", pos);
    usleep(500000);
    iwt_hub_reset(&g_hub);
    snprintf(cmd, sizeof cmd, "download t/k --quiet --dest %s", dest);
    cr_assert_eq(run_cli(cmd, NULL, &err), 0, "%s", err);
    free(err);
    check_big(dest);
    uint64_t second = dl_log_bytes(&g_hub, "cdn", NULL, NULL, NULL);
    cr_expect_leq(second, (uint64_t)BIG - (uint64_t)pos, "resume fetched %llu bytes", (unsigned long long)second);
    iwt_rm_rf(dest);
    free(dest);
}

Test(cli, two_concurrent_downloaders_one_copy)
{
    char *dest = iwt_tmpdir("conc");
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":4000000,\"times\":-1}"), 0);
    char cmd[16384];
    char env[4096];
    snprintf(env, sizeof env, "HF_TOKEN= HF_TOKEN_PATH=/nonexistent IMAGEWORKS_REGISTRY_DIR=%s/reg", g_home);
    snprintf(cmd, sizeof cmd,
             "(HF_ENDPOINT=%s %s %s download t/k --dest %s --quiet; echo rc1=$?) & "
             "(HF_ENDPOINT=%s %s %s download t/k --dest %s --quiet; echo rc2=$?) & wait",
             g_hub.hub_url, env, iwt_cli(), dest, g_hub.hub_url, env, iwt_cli(), dest);
    char *out = NULL, *err = NULL;
    iwt_run(cmd, &out, &err);
    cr_expect(out && strstr(out, "rc1=0") && strstr(out, "rc2=0"), "out: %s err: %s", out, err);
    free(out);
    free(err);
    check_big(dest);
    uint64_t cdn = dl_log_bytes(&g_hub, "cdn", NULL, NULL, NULL);
    cr_expect_eq(cdn, (uint64_t)BIG, "CDN sent %llu bytes: the file was fetched twice", (unsigned long long)cdn);
    iwt_rm_rf(dest);
    free(dest);
}

Test(cli, json_events_and_summary)
{
    char *dest = iwt_tmpdir("json");
    char args[8192];
    snprintf(args, sizeof args, "download t/k --json --dest %s", dest);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_cli(args, &out, &err), 0, "%s", err);
    int starts = 0, dones = 0, done = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(j, "event"));
        cr_assert_not_null(ev);
        if (!strcmp(ev, "start")) starts++;
        if (!strcmp(ev, "file_done")) dones++;
        if (!strcmp(ev, "done")) {
            done++;
            cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
            cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "files")), 2);
        }
        cJSON_Delete(j);
    }
    cr_expect_eq(starts, 2);
    cr_expect_eq(dones, 2);
    cr_expect_eq(done, 1);
    free(out);
    free(err);
    /* plain summary */
    snprintf(args, sizeof args, "download t/k --dest %s", dest);
    cr_assert_eq(run_cli(args, &out, NULL), 0);
    cr_expect(out && strstr(out, "2 files") && strstr(out, "dest: "), "%s", out);
    free(out);
    iwt_rm_rf(dest);
    free(dest);
}

Test(cli, quiet_prints_nothing_on_success)
{
    /* t/k's weights are random bytes: the architecture cannot be read, which
     * is recorded on the entry but not printed under --quiet */
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download t/k --quiet --dest %s/q", g_home);
    cr_assert_eq(run_cli(args, &out, &err), 0, "%s", err);
    cr_expect(out && !*out, "stdout: %s", out);
    cr_expect(err && !*err, "stderr: %s", err);
    free(out);
    free(err);
    /* again, everything present */
    cr_assert_eq(run_cli(args, &out, &err), 0, "%s", err);
    cr_expect(out && !*out, "stdout: %s", out);
    cr_expect(err && !*err, "stderr: %s", err);
    free(out);
    free(err);
    /* an error still goes to stderr */
    snprintf(args, sizeof args, "download t/nothere --quiet --dest %s/q2", g_home);
    cr_expect_eq(run_cli(args, &out, &err), 1);
    cr_expect(out && !*out, "stdout: %s", out);
    cr_expect(err && strstr(err, "t/nothere"), "stderr: %s", err);
    free(out);
    free(err);
}

Test(cli, json_progress_during_a_throttled_download)
{
    /* ~2 s at 2 MB/s: progress events (at most 4 a second) in between */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":2000000,\"times\":-1}"), 0);
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download t/k --json --dest %s/j", g_home);
    cr_assert_eq(run_cli(args, &out, &err), 0, "%s", err);
    int n = 0, starts = 0, progress = 0, file_done = 0, done = 0, with_active = 0;
    double last_done = -1;
    bool order_ok = true;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert(cJSON_IsObject(j), "line %d is not one JSON object: %s", n, line);
        n++;
        const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(j, "event"));
        cr_assert_not_null(ev, "no event: %s", line);
        if (!strcmp(ev, "start")) {
            starts++;
            cr_expect(cJSON_IsString(cJSON_GetObjectItem(j, "file")) && cJSON_IsNumber(cJSON_GetObjectItem(j, "size")), "%s", line);
        } else if (!strcmp(ev, "progress")) {
            progress++;
            double d = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "done"));
            double t = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "total"));
            cr_expect(d <= t && t == (double)BIG + 22, "progress %.0f / %.0f: %s", d, t, line);
            cr_expect(d >= last_done, "progress went backwards: %s", line);
            last_done = d;
            cr_expect(cJSON_IsNumber(cJSON_GetObjectItem(j, "rate")) && cJSON_IsNumber(cJSON_GetObjectItem(j, "elapsed")), "%s", line);
            const cJSON *act = cJSON_GetObjectItem(j, "active"), *a;
            cr_expect(cJSON_IsArray(act), "%s", line);
            cJSON_ArrayForEach(a, act)
                if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a, "file")), "model.safetensors") &&
                    cJSON_GetNumberValue(cJSON_GetObjectItem(a, "size")) == (double)BIG &&
                    cJSON_IsNumber(cJSON_GetObjectItem(a, "connections")))
                    with_active++;
            if (done) order_ok = false;   /* a last progress (all done) may follow file_done */
        } else if (!strcmp(ev, "file_done")) {
            file_done++;
        } else if (!strcmp(ev, "done")) {
            done++;
            if (file_done != 2) order_ok = false;
            cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")), "%s", line);
        }
        cJSON_Delete(j);
    }
    cr_expect_eq(starts, 2);
    cr_expect_eq(file_done, 2);
    cr_expect_eq(done, 1);
    cr_expect_geq(progress, 3, "%d progress events during a ~2 s download", progress);
    cr_expect_geq(with_active, 2, "progress events do not show the active file");
    cr_expect(order_ok, "events out of order");
    cr_expect(err && !*err, "stderr with --json: %s", err);
    free(out);
    free(err);
}

Test(cli, plain_progress_lines_when_not_a_terminal)
{
    /* not a terminal: a plain line every 5 s, no cursor movement */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":700000,\"times\":-1}"), 0);
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download t/k --no-architecture --dest %s/p", g_home);
    cr_assert_eq(run_cli(args, &out, &err), 0, "%s", err);
    int lines = 0;
    for (const char *p = err; p && (p = strstr(p, "progress: ")); p++)
        lines++;
    cr_expect_geq(lines, 1, "no plain progress line in ~6 s: %s", err);
    cr_expect(err && strstr(err, " / 4.0 MiB, ") && strstr(err, " active"), "stderr: %s", err);
    cr_expect(err && !strchr(err, '\x1b'), "escape sequences on a non-terminal: %s", err);
    cr_expect(out && strstr(out, "2 files (2 fetched") && strstr(out, "dest: "), "stdout: %s", out);
    free(out);
    free(err);
}

Test(cli, terminal_progress_is_redrawn)
{
    if (iwt_run("command -v script", NULL, NULL) != 0)
        cr_skip_test("script(1) (util-linux/bsdutils) is not installed: the terminal progress path is not tested");
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":2000000,\"times\":-1}"), 0);
    /* script(1) gives the command a pseudo-terminal: stderr is a tty */
    char cmd[16384], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd,
             "script -qec 'HF_ENDPOINT=%s HF_TOKEN= HF_TOKEN_PATH=/nonexistent HF_HUB_OFFLINE= "
             "IMAGEWORKS_REGISTRY_DIR=%s/reg %s download t/k --no-architecture --dest %s/t' /dev/null",
             g_hub.hub_url, g_home, iwt_cli(), g_home);
    int rc = iwt_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s %s", rc, out, err);
    const char *up = out ? strstr(out, "\r\x1b[") : NULL;
    cr_expect(up && up[3] >= '1' && up[3] <= '9' && strchr(up + 3, 'A') && strstr(out, "\x1b[K"),
              "no redraw (cursor up, lines with erase to the end): %s", out);
    cr_expect(out && strstr(out, "total ") && strstr(out, "ETA"), "no total line: %s", out);
    cr_expect(out && strstr(out, "model.safetensors") && strstr(out, "/s  x"), "no per-file line: %s", out);
    cr_expect(out && !strstr(out, "progress: "), "plain lines on a terminal: %s", out);
    cr_expect(out && strstr(out, "2 files (2 fetched"), "no summary: %s", out);
    free(out);
    free(err);
}

/* ---- a small terminal: what a VT100-like screen shows after the bytes ---- */

#define VT_ROWS 24
#define VT_MAXC 200

typedef struct vt {
    int  rows, cols, r, c;
    bool wrap_pending;
    int  wraps;                          /* characters that made a line wrap */
    char cell[VT_ROWS][VT_MAXC][5];      /* one UTF-8 character per cell */
} vt;

static void vt_init(vt *t, int cols)
{
    memset(t, 0, sizeof *t);
    t->rows = VT_ROWS;
    t->cols = cols;
}

static void vt_clear_cells(vt *t, int r, int c0, int c1)
{
    for (int c = c0; c < c1 && c < t->cols; c++)
        t->cell[r][c][0] = 0;
}

static void vt_newline(vt *t)
{
    t->wrap_pending = false;
    if (t->r + 1 < t->rows) {
        t->r++;
        return;
    }
    memmove(t->cell[0], t->cell[1], sizeof t->cell[0] * (size_t)(t->rows - 1));
    vt_clear_cells(t, t->rows - 1, 0, t->cols);
}

static void vt_put(vt *t, const char *ch, size_t n)
{
    if (t->wrap_pending) {             /* the line is full: autowrap */
        t->wraps++;
        t->c = 0;
        vt_newline(t);
    }
    memcpy(t->cell[t->r][t->c], ch, n);
    t->cell[t->r][t->c][n] = 0;
    if (t->c + 1 >= t->cols)
        t->wrap_pending = true;
    else
        t->c++;
}

/* Feed bytes: printable text (UTF-8), \r, \n, \b, and the CSI sequences
 * A B C D (cursor), K and J (erase), H; others are ignored. */
static void vt_feed(vt *t, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r') {
            t->c = 0;
            t->wrap_pending = false;
        } else if (ch == '\n') {
            vt_newline(t);
        } else if (ch == '\b') {
            if (t->c > 0)
                t->c--;
            t->wrap_pending = false;
        } else if (ch == 0x1b && i + 1 < len && s[i + 1] == '[') {
            size_t j = i + 2;
            int arg[4] = {0, 0, 0, 0}, na = 0;
            bool priv = j < len && s[j] == '?';
            if (priv)
                j++;
            while (j < len && ((s[j] >= '0' && s[j] <= '9') || s[j] == ';')) {
                if (s[j] == ';') {
                    if (na < 3)
                        na++;
                } else {
                    arg[na] = arg[na] * 10 + (s[j] - '0');
                }
                j++;
            }
            if (j >= len)
                break;
            char f = s[j];
            int n = arg[0] ? arg[0] : 1;
            if (!priv) {
                if (f == 'A') t->r = t->r - n < 0 ? 0 : t->r - n;
                else if (f == 'B') t->r = t->r + n >= t->rows ? t->rows - 1 : t->r + n;
                else if (f == 'C') t->c = t->c + n >= t->cols ? t->cols - 1 : t->c + n;
                else if (f == 'D') t->c = t->c - n < 0 ? 0 : t->c - n;
                else if (f == 'K') {
                    if (arg[0] == 0) vt_clear_cells(t, t->r, t->c, t->cols);
                    else if (arg[0] == 1) vt_clear_cells(t, t->r, 0, t->c + 1);
                    else vt_clear_cells(t, t->r, 0, t->cols);
                } else if (f == 'J') {
                    int from = arg[0] == 0 ? t->r + 1 : 0;
                    if (arg[0] == 0) vt_clear_cells(t, t->r, t->c, t->cols);
                    for (int r = from; r < t->rows; r++)
                        vt_clear_cells(t, r, 0, t->cols);
                } else if (f == 'H') {
                    t->r = arg[0] ? arg[0] - 1 : 0;
                    t->c = arg[1] ? arg[1] - 1 : 0;
                }
                if (f != 'm')
                    t->wrap_pending = false;
            }
            i = j;
        } else if (ch == 0x1b) {
            i++;                         /* a two-byte escape: ignored */
        } else if (ch >= 0x20 && ch != 0x7f && (ch < 0x80 || ch >= 0xc0)) {
            size_t n = ch < 0x80 ? 1 : ch < 0xe0 ? 2 : ch < 0xf0 ? 3 : 4;
            if (i + n > len)
                n = len - i;
            vt_put(t, s + i, n);
            i += n - 1;
        }
    }
}

/* Row r as text, trailing blanks dropped. */
static void vt_row(const vt *t, int r, char *out, size_t n)
{
    size_t o = 0;
    for (int c = 0; c < t->cols && o + 5 < n; c++) {
        const char *x = t->cell[r][c][0] ? t->cell[r][c] : " ";
        size_t l = strlen(x);
        memcpy(out + o, x, l);
        o += l;
    }
    while (o && out[o - 1] == ' ')
        o--;
    out[o] = 0;
}

/* The download of a repo with long file names under a pseudo-terminal of
 * `cols` columns; returns what the terminal received. */
static char *download_on_a_terminal(int cols, const char *dest)
{
    char cmd[16384], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd,
             "script -qec 'stty cols %d rows %d; HF_ENDPOINT=%s HF_TOKEN= HF_TOKEN_PATH=/nonexistent HF_HUB_OFFLINE= "
             "IMAGEWORKS_REGISTRY_DIR=%s/reg %s download t/long --no-architecture --dest %s' /dev/null",
             cols, VT_ROWS, g_hub.hub_url, g_home, iwt_cli(), dest);
    int rc = iwt_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s %s", rc, out, err);
    free(err);
    return out;
}

Test(cli, terminal_progress_fits_80_and_40_columns)
{
    if (iwt_run("command -v script", NULL, NULL) != 0)
        cr_skip_test("script(1) (util-linux/bsdutils) is not installed: the terminal progress path is not tested");
    static const char *const names[] = {
        "model-00001-of-00002-of-a-checkpoint-with-a-very-long-and-descriptive-name.safetensors",
        "original/consolidated-weights-of-the-same-checkpoint-in-another-layout.safetensors",
    };
    for (size_t i = 0; i < 2; i++) {
        dl_put(g_root, "t/long", names[i], i ? BIG / 2 : BIG, (uint32_t)(20 + i));
        char f[512];
        snprintf(f, sizeof f, "{\"path\":\"%s\",\"host\":\"cdn\",\"rate_bps\":1200000,\"times\":-1}", names[i]);
        cr_assert_gt(iwt_hub_fault(&g_hub, f), 0);
    }
    static const int widths[] = {80, 40};
    for (size_t w = 0; w < 2; w++) {
        char dest[4096];
        snprintf(dest, sizeof dest, "%s/long%d", g_home, widths[w]);
        char *out = download_on_a_terminal(widths[w], dest);
        cr_assert_not_null(out);
        /* the progress phase: everything before the summary line */
        const char *summary = strstr(out, "t/long@");
        cr_assert_not_null(summary, "no summary: %s", out);
        cr_expect(strstr(out, "total "), "no progress was drawn at %d columns: %s", widths[w], out);
        vt t;
        vt_init(&t, widths[w]);
        vt_feed(&t, out, (size_t)(summary - out));
        cr_expect_eq(t.wraps, 0, "%d progress characters wrapped on a %d-column terminal", t.wraps, widths[w]);
        for (int r = 0; r < t.rows; r++) {
            char row[1024];
            vt_row(&t, r, row, sizeof row);
            cr_expect_eq(row[0], 0, "stale line %d after the download at %d columns: '%s'", r, widths[w], row);
        }
        /* bytes were moving from the start: a file line never says "0 B/s" */
        for (const char *l = out; l < summary; ) {
            size_t n = strcspn(l, "\n");
            while (*l == '\r' || *l == '\x1b') {           /* the frame's cursor movements */
                l += *l == '\r' ? 1 : 2;
                while (*l && (*l == ';' || (*l >= '0' && *l <= '9')))
                    l++;
                if (*l)
                    l++;
            }
            char row[1024];
            snprintf(row, sizeof row, "%.*s", (int)(strcspn(l, "\n")), l);
            cr_expect(strncmp(row, "  ", 2) || !strstr(row, " 0 B/s"),
                      "a file showed 0 B/s while it downloaded (%d columns): '%s'", widths[w], row);
            l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + n;
            if (!n && !*l)
                break;
        }
        /* the long names were shortened in the middle, not cut at the end */
        cr_expect(strstr(out, "  model-0") && strstr(out, "...") && strstr(out, "tensors "), "%s", out);
        free(out);
    }
}

/* A complete download leaves no empty .lock files (nor an empty folder)
 * in <dest>/.imageworks/partial/; an interrupted one keeps its resume state. */
Test(cli, complete_download_leaves_no_lock_files)
{
    char args[8192], *err = NULL;
    snprintf(args, sizeof args, "download t/k --quiet --no-architecture --dest %s/locks", g_home);
    cr_assert_eq(run_cli(args, NULL, &err), 0, "%s", err);
    free(err);
    char cmd[8192], *left = NULL;
    /* the state lives beside the folder (<parent>/.<name>.iwdl-*): no partial
     * lock there, and nothing of ours in the folder */
    snprintf(cmd, sizeof cmd, "{ ls -A %s | grep '^\\.locks\\.iwdl-.*\\.lock$' | grep -v manifest; ls -A %s/locks/.imageworks 2>/dev/null; }",
             g_home, g_home);
    iwt_run(cmd, &left, NULL);
    cr_expect(!left || !*left, "lock files left after a complete download:\n%s", left);
    free(left);
    char p[4096];
    snprintf(p, sizeof p, "%s/locks/model.safetensors", g_home);
    cr_expect(iw_path_exists(p));
    /* a second run (everything present) leaves none either */
    cr_assert_eq(run_cli(args, NULL, NULL), 0);
    iwt_run(cmd, &left, NULL);
    cr_expect(!left || !*left, "left after a run that had nothing to fetch:\n%s", left);
    free(left);
}

Test(cli, usage_and_error_exit_codes)
{
    char *err = NULL;
    cr_expect_eq(run_cli("download", NULL, &err), 2);
    free(err);
    cr_expect_eq(run_cli("download t/k --jobs 0", NULL, NULL), 2);
    cr_expect_eq(run_cli("download ../x", NULL, NULL), 2);
    char *dest = iwt_tmpdir("nf");
    char args[8192];
    snprintf(args, sizeof args, "download t/missing --dest %s", dest);
    cr_expect_eq(run_cli(args, NULL, &err), 1);
    cr_expect(err && strstr(err, "repository not found") && !strchr(strchr(err, '\n') + 1, '\n'),
              "stderr: %s", err);
    free(err);
    iwt_rm_rf(dest);
    free(dest);
}

/* A repo t/<tag> whose listing (fakehub extra_tree_entries) adds the file
 * `name`: the download fails with `want` on one stderr line, and nothing
 * is written. */
static void listing_refused(const char *tag, const char *name, const char *want)
{
    char repo[64], meta[1024], p[4096];
    snprintf(repo, sizeof repo, "t/%s", tag);
    dl_put_text(g_root, repo, "good.txt", "ok");
    snprintf(meta, sizeof meta,
             "{\"extra_tree_entries\":[{\"type\":\"file\",\"oid\":\"0123456789012345678901234567890123456789\","
             "\"size\":3,\"path\":\"%s\"}]}", name);
    snprintf(p, sizeof p, "%s/t/%s.hub.json", g_root, tag);
    cr_assert_eq(iwt_write(p, meta, strlen(meta)), 0);
    char *dest = iwt_tmpdir("trav");
    char args[8192];
    snprintf(args, sizeof args, "download %s --dest %s/out", repo, dest);
    char *err = NULL;
    cr_expect_eq(run_cli(args, NULL, &err), 1, "name %s accepted", name);
    cr_expect(err && strstr(err, want) && !strchr(strchr(err, '\n') + 1, '\n'), "stderr: %s", err);
    free(err);
    snprintf(p, sizeof p, "%s/out", dest);
    cr_expect(!iw_path_exists(p), "something was written before the check (%s)", name);
    snprintf(p, sizeof p, "%s/escape.txt", dest);
    cr_expect(!iw_path_exists(p));
    iwt_rm_rf(dest);
    free(dest);
}

Test(cli, traversal_names_from_server_refused)
{
    static const char *names[] = { "../escape.txt", "/abs.txt", "a\\\\b.txt", "ok/../../x.txt" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "bad%zu", i);
        listing_refused(tag, names[i], "unsafe");
    }
}

/* A served .git/config can run commands (core.fsmonitor) when the user runs
 * git in the model folder; the state folder is the tool's own.  Both are
 * refused before anything is written, with the path named on one line. */
Test(cli, git_and_state_folder_paths_refused)
{
    static const char *names[] = { ".git/config", "sub/.git/hooks/pre-commit", ".GIT/config", ".git",
                                   ".imageworks/manifest.json", ".imageworks/partial/x.state" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "git%zu", i);
        listing_refused(tag, names[i], names[i]);
    }
}

/* A revision names a file under refs/ in the HF cache: a newline, "..", an
 * absolute or empty component is refused before any request or write. */
Test(cli, hostile_revisions_refused)
{
    static const char *revs[] = { "\"$(printf 'main\\nevil')\"", "../../escape", "/abs", "a//b", "\"$(printf 'x\\033]0;t\\007')\"" };
    for (size_t i = 0; i < sizeof revs / sizeof *revs; i++) {
        char *cache = iwt_tmpdir("rev");
        char args[8192], *err = NULL;
        char env[4200];
        snprintf(env, sizeof env, "HF_HUB_CACHE=%s", cache);
        snprintf(args, sizeof args, "download t/k --hf-cache --no-architecture --revision %s", revs[i]);
        cr_expect_eq(dl_cli(&g_hub, g_home, env, args, NULL, &err), 1, "revision %s accepted", revs[i]);
        cr_expect(err && strstr(err, "revision refused") && !strchr(strchr(err, '\n') + 1, '\n'), "stderr: %s", err);
        free(err);
        char cmd[8192], *n = NULL;
        snprintf(cmd, sizeof cmd, "find %s -mindepth 1 | wc -l", cache);
        iwt_run(cmd, &n, NULL);
        cr_expect(n && atoi(n) == 0, "revision %s wrote %s files", revs[i], n);
        free(n);
        iwt_rm_rf(cache);
        free(cache);
    }
}

/* A file that fails verification and passes on the retry is reported: a
 * line on stderr, and with --json a verify_retry event and file_done
 * "reverified": true (before, nothing was said). */
Test(cli, verify_retry_is_reported)
{
    char *dest = iwt_tmpdir("vretry");
    char args[8192], *out = NULL, *err = NULL;
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"corrupt_offset\":1000,\"times\":1}"), 0);
    snprintf(args, sizeof args, "download t/k --no-architecture --json --dest %s/j", dest);
    cr_assert_eq(run_cli(args, &out, &err), 0, "%s", err);
    bool retry = false, reverified = false;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "not JSON: %s", line);
        const char *evn = cJSON_GetStringValue(cJSON_GetObjectItem(j, "event"));
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItem(j, "file"));
        if (evn && !strcmp(evn, "verify_retry") && file && !strcmp(file, "model.safetensors"))
            retry = strstr(cJSON_GetStringValue(cJSON_GetObjectItem(j, "message")), "sha256 mismatch") != NULL;
        if (evn && !strcmp(evn, "file_done") && file && !strcmp(file, "model.safetensors"))
            reverified = cJSON_IsTrue(cJSON_GetObjectItem(j, "reverified"));
        cJSON_Delete(j);
    }
    cr_expect(retry, "no verify_retry event");
    cr_expect(reverified, "file_done does not say reverified");
    free(out);
    free(err);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"corrupt_offset\":1000,\"times\":1}"), 0);
    snprintf(args, sizeof args, "download t/k --no-architecture --dest %s/p", dest);
    cr_assert_eq(run_cli(args, &out, &err), 0, "%s", err);
    cr_expect(err && strstr(err, "model.safetensors: sha256 mismatch") && strstr(err, "downloading it again"),
              "stderr: %s", err);
    free(out);
    free(err);
    char pd[4200];
    snprintf(pd, sizeof pd, "%s/p", dest);
    check_big(pd);
    iwt_hub_reset(&g_hub);
    iwt_rm_rf(dest);
    free(dest);
}

/* ----------------------------------------------------------- archives */

typedef struct aent { const char *name; int type; const char *data; const char *link; } aent;

static void make_archive(const char *path, const aent *e, size_t n, bool zip)
{
    struct archive *a = archive_write_new();
    if (zip) {
        archive_write_set_format_zip(a);
    } else {
        archive_write_add_filter_gzip(a);
        archive_write_set_format_pax_restricted(a);
    }
    cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, e[i].name);
        archive_entry_set_perm(en, 0644);
        if (e[i].type == 'f') {
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_size(en, (la_int64_t)strlen(e[i].data));
        } else if (e[i].type == 'd') {
            archive_entry_set_filetype(en, AE_IFDIR);
        } else if (e[i].type == 'l') {
            archive_entry_set_filetype(en, AE_IFLNK);
            archive_entry_set_symlink(en, e[i].link);
        } else if (e[i].type == 'h') {
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_hardlink(en, e[i].link);
        }
        archive_write_header(a, en);
        if (e[i].type == 'f')
            archive_write_data(a, e[i].data, strlen(e[i].data));
        archive_entry_free(en);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void make_tar(const char *path, const aent *e, size_t n) { make_archive(path, e, n, false); }

Test(unpack, refuses_escapes_and_leaves_nothing)
{
    char *d = iwt_tmpdir("unp");
    char tar[4096], out[4096], p[4096];
    snprintf(tar, sizeof tar, "%s/a.tar.gz", d);
    snprintf(out, sizeof out, "%s/x/a", d);
    const aent cases[][2] = {
        { { "ok.txt", 'f', "ok", NULL }, { "../evil.txt", 'f', "evil", NULL } },
        { { "ok.txt", 'f', "ok", NULL }, { "/tmp/evil-abs.txt", 'f', "evil", NULL } },
        { { "ok.txt", 'f', "ok", NULL }, { "link", 'l', NULL, "../../etc" } },
        { { "ok.txt", 'f', "ok", NULL }, { "link", 'l', NULL, "/etc/passwd" } },
        { { "ok.txt", 'f', "ok", NULL }, { "hard", 'h', NULL, "/etc/passwd" } },
        { { "ok.txt", 'f', "ok", NULL }, { "ok.txt", 'f', "again", NULL } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        make_tar(tar, cases[i], 2);
        int rc = iw_unpack_archive(tar, out);
        cr_expect(rc == IW_EUNSAFE, "case %zu: rc %d (%s)", i, rc, iw_error_last());
        cr_expect(!iw_path_exists(out), "case %zu left %s", i, out);
        snprintf(p, sizeof p, "%s/x/evil.txt", d);
        cr_expect(!iw_path_exists(p), "case %zu wrote outside", i);
        unlink(tar);
    }
    /* a good archive with a folder and an inside symlink */
    const aent good[] = { { "./dir/", 'd', NULL, NULL }, { "dir/a.txt", 'f', "A", NULL },
                          { "l", 'l', NULL, "dir/a.txt" } };
    make_tar(tar, good, 3);
    cr_assert_eq(iw_unpack_archive(tar, out), 0, "%s", iw_error_last());
    snprintf(p, sizeof p, "%s/l", out);
    char *c = iwt_slurp(p, NULL);
    cr_expect(c && !strcmp(c, "A"));
    free(c);
    /* unpacking again into the existing folder replaces nothing */
    const aent other[] = { { "dir/a.txt", 'f', "B", NULL } };
    make_tar(tar, other, 1);
    cr_expect_eq(iw_unpack_archive(tar, out), IW_EEXISTS, "%s", iw_error_last());
    snprintf(p, sizeof p, "%s/dir/a.txt", out);
    c = iwt_slurp(p, NULL);
    cr_expect(c && !strcmp(c, "A"), "an existing folder was replaced");
    free(c);
    snprintf(p, sizeof p, "ls -A %s/x | wc -l", d);
    char *nl = NULL;
    iwt_run(p, &nl, NULL);
    cr_expect(nl && atoi(nl) == 1, "a temp folder was left next to the target: %s", nl);
    free(nl);
    /* the same refusals in a zip */
    char zip[4096];
    snprintf(zip, sizeof zip, "%s/a.zip", d);
    for (size_t i = 0; i < 2; i++) {
        make_archive(zip, cases[i], 2, true);
        char zout[4096];
        snprintf(zout, sizeof zout, "%s/z/a", d);
        int rc = iw_unpack_archive(zip, zout);
        cr_expect(rc == IW_EUNSAFE, "zip case %zu: rc %d (%s)", i, rc, iw_error_last());
        cr_expect(!iw_path_exists(zout), "zip case %zu left %s", i, zout);
        snprintf(p, sizeof p, "%s/z/evil.txt", d);
        cr_expect(!iw_path_exists(p), "zip case %zu wrote outside", i);
        unlink(zip);
    }
    size_t stem = 0;
    cr_expect(iw_is_archive_name("x/y.tar.gz", &stem) && stem == 3);
    cr_expect(iw_is_archive_name("m.zip", &stem) && stem == 1);
    cr_expect(!iw_is_archive_name("m.safetensors", &stem));
    iwt_rm_rf(d);
    free(d);
}

Test(cli, unpack_flag_unpacks_repo_archives)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/t/arch/data", g_root);
    iw_mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/t/arch/data/bundle.tar.gz", g_root);
    const aent good[] = { { "inner/x.txt", 'f', "X", NULL } };
    make_tar(p, good, 1);
    char *dest = iwt_tmpdir("unpcli");
    char args[8192];
    snprintf(args, sizeof args, "download t/arch --unpack --quiet --dest %s", dest);
    char *err = NULL;
    cr_assert_eq(run_cli(args, NULL, &err), 0, "%s", err);
    free(err);
    snprintf(p, sizeof p, "%s/data/bundle/inner/x.txt", dest);
    cr_expect(iw_path_is_file(p), "missing %s", p);
    iwt_rm_rf(dest);
    free(dest);
}

/* Download repo into dest with --unpack; returns the exit code, stderr in *err. */
static int unpack_cli(const char *repo, const char *dest, char **out, char **err)
{
    char args[8192];
    snprintf(args, sizeof args, "download %s --unpack --no-architecture --dest %s", repo, dest);
    return dl_cli(&g_hub, g_home, "", args, out, err);
}

static void expect_text(const char *dir, const char *rel, const char *want)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *c = iwt_slurp(p, NULL);
    cr_expect(c && !strcmp(c, want), "%s: '%s', want '%s'", p, c ? c : "(missing)", want);
    free(c);
}

/* --unpack never deletes or replaces what it did not write: a repo folder
 * or a user's folder at the target, a nameless archive (weights/.tar), the
 * state folder (.imageworks.tar), and two archives with one target are
 * refused with both paths named; a re-run skips what it unpacked itself. */
Test(cli, unpack_never_replaces_what_it_did_not_write)
{
    char p[4096];
    const aent inner[] = { { "inner.txt", 'f', "I", NULL } };
    char *dest = iwt_tmpdir("unpkeep");
    char d[4096], *out = NULL, *err = NULL;
    /* 1. the repo's own folder a/ next to a.tar.gz */
    dl_put_text(g_root, "t/u1", "a/keep.txt", "repo file");
    snprintf(p, sizeof p, "%s/t/u1/a.tar.gz", g_root);
    make_tar(p, inner, 1);
    snprintf(d, sizeof d, "%s/1", dest);
    cr_expect_eq(unpack_cli("t/u1", d, NULL, &err), 1, "%s", err);
    cr_expect(err && strstr(err, "/1/a.tar.gz'") && strstr(err, "/1/a'") && strstr(err, "nothing replaced"), "%s", err);
    free(err);
    expect_text(d, "a/keep.txt", "repo file");
    snprintf(p, sizeof p, "%s/a/inner.txt", d);
    cr_expect(!iw_path_exists(p), "unpacked over the repo's folder");
    /* 2. a user's own folder at the target */
    snprintf(p, sizeof p, "%s/t/u2", g_root);
    iw_mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/t/u2/b.zip", g_root);
    make_archive(p, inner, 1, true);
    snprintf(d, sizeof d, "%s/2", dest);
    snprintf(p, sizeof p, "%s/b/mine.txt", d);
    cr_assert_eq(iwt_write(p, "mine", 4), 0);
    cr_expect_eq(unpack_cli("t/u2", d, NULL, &err), 1, "%s", err);
    cr_expect(err && strstr(err, "/2/b.zip'") && strstr(err, "/2/b'"), "%s", err);
    free(err);
    expect_text(d, "b/mine.txt", "mine");
    /* 3. weights/.tar would have removed weights/ */
    dl_put_text(g_root, "t/u3", "weights/w.bin", "weights");
    snprintf(p, sizeof p, "%s/t/u3/weights/.tar", g_root);
    make_archive(p, inner, 1, false);
    snprintf(d, sizeof d, "%s/3", dest);
    cr_expect_eq(unpack_cli("t/u3", d, NULL, &err), 1, "%s", err);
    cr_expect(err && strstr(err, "weights/.tar: no name before the extension"), "%s", err);
    free(err);
    expect_text(d, "weights/w.bin", "weights");
    /* 4. .imageworks.tar would have replaced the state folder */
    dl_put_text(g_root, "t/u4", "config.json", "{}");
    snprintf(p, sizeof p, "%s/t/u4/.imageworks.tar", g_root);
    const aent state[] = { { "manifest.json", 'f', "hostile", NULL } };
    make_archive(p, state, 1, false);
    snprintf(d, sizeof d, "%s/4", dest);
    cr_expect_eq(unpack_cli("t/u4", d, NULL, &err), 1, "%s", err);
    cr_expect(err && strstr(err, ".imageworks.tar: would unpack into the tool's state folder"), "%s", err);
    free(err);
    snprintf(p, sizeof p, "%s/.imageworks/manifest.json", d);
    cr_expect(!iw_path_exists(p), "unpacked into the tool's state folder");
    char *mp = NULL;
    cr_assert_eq(iw_dl_state_path(d, "manifest.json", &mp), 0);
    char *m = iwt_slurp(mp, NULL);
    cr_expect(m && strstr(m, "config.json") && !strstr(m, "hostile"), "the manifest was replaced: %s", m ? m : "(missing)");
    free(m);
    free(mp);
    /* 5. a.tar.gz and a.zip: both named, neither unpacked */
    snprintf(p, sizeof p, "%s/t/u5", g_root);
    iw_mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/t/u5/a.tar.gz", g_root);
    make_tar(p, inner, 1);
    snprintf(p, sizeof p, "%s/t/u5/a.zip", g_root);
    make_archive(p, state, 1, true);
    snprintf(d, sizeof d, "%s/5", dest);
    cr_expect_eq(unpack_cli("t/u5", d, NULL, &err), 1, "%s", err);
    cr_expect(err && strstr(err, "/5/a.tar.gz'") && strstr(err, "/5/a.zip'") && strstr(err, "both unpack into"),
              "%s", err);
    free(err);
    snprintf(p, sizeof p, "%s/a", d);
    cr_expect(!iw_path_exists(p), "one of two clashing archives was unpacked");
    /* 6. a re-run skips what this tool unpacked from the same archive */
    snprintf(p, sizeof p, "%s/t/u6", g_root);
    iw_mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/t/u6/c.tgz", g_root);
    make_tar(p, inner, 1);
    snprintf(d, sizeof d, "%s/6", dest);
    cr_assert_eq(unpack_cli("t/u6", d, &out, &err), 0, "%s", err);
    cr_expect(out && strstr(out, "unpacked c.tgz into"), "%s", out);
    free(out);
    free(err);
    /* the record is beside the install: nothing of ours inside it */
    char hex[65], leaf[96], *rec = NULL;
    iw_sha256_hex("c", 1, hex);
    snprintf(leaf, sizeof leaf, "unpacked-%s.json", hex);
    cr_assert_eq(iw_dl_state_path(d, leaf, &rec), 0);
    cr_expect(iw_path_exists(rec), "no unpack record at %s", rec);
    snprintf(p, sizeof p, "%s/.imageworks", d);
    cr_expect(!iw_path_exists(p), "the tool left %s inside the model folder", p);
    cr_assert_eq(unpack_cli("t/u6", d, &out, &err), 0, "a re-run failed: %s", err);
    cr_expect(out && strstr(out, "already unpacked c.tgz into"), "%s", out);
    free(out);
    free(err);
    /* an older version's record inside the folder is honoured and moved beside */
    snprintf(p, sizeof p, "%s/.imageworks/unpacked", d);
    cr_assert_eq(iw_mkdir_p(p, 0755), 0);
    snprintf(p, sizeof p, "%s/.imageworks/unpacked/%s.json", d, hex);
    cr_assert_eq(rename(rec, p), 0);
    cr_assert_eq(unpack_cli("t/u6", d, &out, &err), 0, "a run after an older version's failed: %s", err);
    cr_expect(out && strstr(out, "already unpacked c.tgz into"), "%s", out);
    free(out);
    free(err);
    cr_expect(iw_path_exists(rec) && !iw_path_exists(p), "the older record was not moved beside");
    snprintf(p, sizeof p, "%s/.imageworks", d);
    cr_expect(!iw_path_exists(p), "the older version's state folder %s is still there", p);
    free(rec);
    expect_text(d, "c/inner.txt", "I");
    iwt_rm_rf(dest);
    free(dest);
}

Test(unpack, caps_refuse_and_leave_nothing)
{
    char *d = iwt_tmpdir("cap");
    char tar[4096], out[4096], cmd[8192];
    snprintf(tar, sizeof tar, "%s/a.tar.gz", d);
    snprintf(out, sizeof out, "%s/x/a", d);
    static char big[5000];
    memset(big, 'B', sizeof big - 1);
    const aent e[] = { { "a.txt", 'f', "small", NULL }, { "b.txt", 'f', big, NULL }, { "c.txt", 'f', "c", NULL } };
    make_tar(tar, e, 3);
    /* bytes: counted on what is decompressed */
    int rc = iw_unpack_archive_capped(tar, out, 1000, 0);
    cr_expect_eq(rc, IW_ELIMIT, "rc %d (%s)", rc, iw_error_last());
    cr_expect(strstr(iw_error_last(), "more than 1000 bytes"), "%s", iw_error_last());
    cr_expect(!iw_path_exists(out), "a refused archive left %s", out);
    snprintf(cmd, sizeof cmd, "ls -A %s/x | wc -l", d);
    char *n = NULL;
    iwt_run(cmd, &n, NULL);
    cr_expect(n && atoi(n) == 0, "temp folder left: %s", n);
    free(n);
    /* entries */
    rc = iw_unpack_archive_capped(tar, out, 0, 2);
    cr_expect_eq(rc, IW_ELIMIT, "rc %d (%s)", rc, iw_error_last());
    cr_expect(strstr(iw_error_last(), "more than 2 entries"), "%s", iw_error_last());
    cr_expect(!iw_path_exists(out));
    /* exactly at the caps: fine */
    cr_expect_eq(iw_unpack_archive_capped(tar, out, 5 + (sizeof big - 1) + 1, 3), 0, "%s", iw_error_last());
    iwt_rm_rf(d);
    free(d);
}

Test(cli, unpack_zip_and_the_size_cap)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/t/zipr", g_root);
    iw_mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/t/zipr/pkg.zip", g_root);
    static char body[3000];
    memset(body, 'z', sizeof body - 1);
    const aent z[] = { { "inner/y.txt", 'f', body, NULL }, { "top.txt", 'f', "T", NULL } };
    make_archive(p, z, 2, true);
    char args[8192], *out = NULL, *err = NULL;
    /* over the cap (IMAGEWORKS_UNPACK_MAX_BYTES): one clear error, nothing unpacked */
    snprintf(args, sizeof args, "download t/zipr --unpack --quiet --no-architecture --dest %s/z1", g_home);
    cr_expect_eq(dl_cli(&g_hub, g_home, "IMAGEWORKS_UNPACK_MAX_BYTES=1000", args, &out, &err), 1);
    cr_expect(err && strstr(err, "pkg.zip") && strstr(err, "more than 1000 bytes") &&
              !strchr(strchr(err, '\n') + 1, '\n'), "stderr: %s", err);
    free(out);
    free(err);
    snprintf(p, sizeof p, "%s/z1/pkg", g_home);
    cr_expect(!iw_path_exists(p), "a refused archive was unpacked");
    snprintf(p, sizeof p, "%s/z1/pkg.zip", g_home);
    cr_expect(iw_path_is_file(p), "the archive itself was not kept");
    /* a bad value is a usage error */
    cr_expect_eq(dl_cli(&g_hub, g_home, "IMAGEWORKS_UNPACK_MAX_BYTES=lots", args, NULL, NULL), 2);
    /* under the default cap: unpacked next to it */
    snprintf(args, sizeof args, "download t/zipr --unpack --no-architecture --dest %s/z2", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "%s", err);
    cr_expect(out && strstr(out, "unpacked pkg.zip"), "stdout: %s", out);
    free(out);
    free(err);
    snprintf(p, sizeof p, "%s/z2/pkg/inner/y.txt", g_home);
    size_t len = 0;
    char *c = iwt_slurp(p, &len);
    cr_expect(c && len == sizeof body - 1, "missing or wrong %s", p);
    free(c);
    snprintf(p, sizeof p, "%s/z2/pkg/top.txt", g_home);
    cr_expect(iw_path_is_file(p), "missing %s", p);
}

Test(cli, full_disk_one_clear_error)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a small tmpfs");
    char *d = iwt_tmpdir("enospc");
    if (mount("tmpfs", d, "tmpfs", 0, "size=1m") != 0) {
        iwt_rm_rf(d);
        free(d);
        cr_skip_test("cannot mount a tmpfs here");
    }
    char args[8192];
    snprintf(args, sizeof args, "download t/k --quiet --dest %s/m", d);
    char *err = NULL;
    int rc = run_cli(args, NULL, &err);
    cr_expect_eq(rc, 1);
    cr_expect(err && strstr(err, "No space left") && !strchr(strchr(err, '\n') + 1, '\n'), "stderr: %s", err);
    free(err);
    umount(d);
    /* read-only destination */
    if (mount("tmpfs", d, "tmpfs", MS_RDONLY, "size=1m") == 0) {
        rc = run_cli(args, NULL, &err);
        cr_expect_eq(rc, 1);
        cr_expect(err && strstr(err, "Read-only") && !strchr(strchr(err, '\n') + 1, '\n'), "stderr: %s", err);
        free(err);
        umount(d);
    } else {
        cr_log_warn("skip: the read-only half of full_disk_one_clear_error: cannot mount a read-only tmpfs (%s)",
                    strerror(errno));
        fprintf(stderr, "cli::full_disk_one_clear_error: SKIPPED the read-only destination case: "
                        "cannot mount a read-only tmpfs (%s)\n", strerror(errno));
    }
    iwt_rm_rf(d);
    free(d);
}
