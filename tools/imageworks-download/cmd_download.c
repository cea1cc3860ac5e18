/* cmd_download.c - `imageworks-download download REPO ...` (docs/download.md). */
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iwdl/catalog.h"
#include "iwdl/download.h"
#include "iwdl/error.h"
#include "iwdl/hub.h"
#include "iwdl/json.h"

#include <signal.h>

#define MAX_GLOBS 256

static volatile int g_cancel;
static void on_signal(int sig) { (void)sig; g_cancel = 1; }

/* The help text is the reference: scripts/gen-cli-doc.sh copies it into
 * docs/cli.md and tests/tools/test_cli_docs.c checks the two agree. */
#define USAGE \
    "usage: imageworks-download download REPO [--revision REV] [--include GLOB]... [--exclude GLOB]...\n" \
    "        [--dest DIR | --hf-cache] [--support-repo REPO] [--no-architecture]\n" \
    "        [--name NAME] [--backend vllm|ollama|llama.cpp] [--jobs N] [--connections N]\n" \
    "        [--unpack] [--quiet] [--json]\n" \
    "\n" \
    "Download a model repo from the Hub (HF_ENDPOINT), verifying every file (size and\n" \
    "sha256 or git blob id) as it arrives; an interrupted run resumes where it stopped.\n" \
    "Then read the architecture of what arrived and register it in the registry.\n" \
    "\n" \
    "  REPO                org/name (or name)\n" \
    "  --revision REV      branch, tag or commit (default main), pinned to one commit first\n" \
    "  --include GLOB      only the files matching GLOB; repeatable, huggingface_hub globs\n" \
    "                      (default: every file)\n" \
    "  --exclude GLOB      not the files matching GLOB; repeatable (default: none)\n" \
    "  --dest DIR          plain layout into DIR (default $IMAGEWORKS_MODEL_ROOT/<org>/<name>,\n" \
    "                      the root defaulting to ~/ai-models/weights)\n" \
    "  --hf-cache          huggingface_hub's cache layout under $HF_HUB_CACHE (default\n" \
    "                      $HF_HOME/hub); not with --dest (default: plain layout)\n" \
    "  --support-repo REPO also fetch REPO's config and tokenizer files (never weights) into\n" \
    "                      the HF cache, for the architecture (default: none, or the base\n" \
    "                      model when the repo has no config.json)\n" \
    "  --no-architecture   download only: no architecture is read and no registry entry\n" \
    "                      is written or updated (default: read and register)\n" \
    "  --name NAME         the registry entry's name (default: made from the repo, its\n" \
    "                      size and quantization, as the original imageworks names them)\n" \
    "  --backend B         the entry's backend: vllm, ollama or llama.cpp (default\n" \
    "                      llama.cpp for a GGUF repo, else vllm)\n" \
    "  --jobs N            files fetched at once, 1..64 (default 8)\n" \
    "  --connections N     ranges of one file of 64 MiB or more fetched at once, 1..32\n" \
    "                      (default 8)\n" \
    "  --unpack            unpack the downloaded .tar, .tar.gz, .tgz and .zip files into\n" \
    "                      folders beside them; plain layout only (default off)\n" \
    "  -q, --quiet         nothing on stdout or stderr unless it fails (default off)\n" \
    "  --json              one JSON event per line on stdout (default off)\n" \
    "  -h, --help          this help\n" \
    "Environment: HF_ENDPOINT, HF_TOKEN, HF_TOKEN_PATH, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE,\n" \
    "HF_HUB_DOWNLOAD_TIMEOUT, IMAGEWORKS_MODEL_ROOT, IMAGEWORKS_UNPACK_MAX_BYTES.  See docs/download.md.\n"

typedef struct dl_args {
    const char *repo, *revision, *dest, *support_repo, *name, *backend;
    const char *include[MAX_GLOBS], *exclude[MAX_GLOBS];
    size_t n_include, n_exclude;
    bool hf_cache, no_arch, unpack, quiet, json;
    int jobs, connections;
    unsigned long long unpack_max;   /* IMAGEWORKS_UNPACK_MAX_BYTES, 0 = default */
} dl_args;

typedef struct ui {
    bool quiet, json, tty;
    unsigned long long unpack_max;
    dl_progress *prog;      /* the terminal progress (tty only) */
    double last_plain;
} ui;

static void json_str(FILE *o, const char *s)
{
    fputc('"', o);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(o, "\\%c", c);
        else if (c < 0x20) fprintf(o, "\\u%04x", c);
        else fputc(c, o);
    }
    fputc('"', o);
}

/* A warning: a JSON event with --json, nothing with --quiet (it is still
 * recorded on the registry entry when it concerns the architecture),
 * otherwise one line on stderr. */
static void ui_warn(const ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ui_warn(const ui *u, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (u->json) {
        fputs("{\"event\":\"warning\",\"message\":", stdout);
        json_str(stdout, msg);
        fputs("}\n", stdout);
        fflush(stdout);
    } else if (!u->quiet) {
        fprintf(stderr, "imageworks-download: warning: %s\n", msg);
    }
}

static void on_event(const iw_dl_event *ev, void *ud)
{
    ui *u = ud;
    if (u->json) {
        FILE *o = stdout;
        switch (ev->kind) {
        case IW_DL_EV_START:
            fputs("{\"event\":\"start\",\"file\":", o); json_str(o, ev->path);
            fprintf(o, ",\"size\":%llu}\n", (unsigned long long)ev->size);
            break;
        case IW_DL_EV_PROGRESS:
            fprintf(o, "{\"event\":\"progress\",\"done\":%llu,\"total\":%llu,\"rate\":%.0f,\"elapsed\":%.2f,\"active\":[",
                    (unsigned long long)ev->total_done, (unsigned long long)ev->total_size, ev->rate, ev->elapsed);
            for (size_t i = 0; i < ev->n_active; i++) {
                fputs(i ? ",{\"file\":" : "{\"file\":", o); json_str(o, ev->active[i].path);
                fprintf(o, ",\"done\":%llu,\"size\":%llu,\"rate\":%.0f,\"connections\":%d}",
                        (unsigned long long)ev->active[i].done, (unsigned long long)ev->active[i].size,
                        ev->active[i].rate, ev->active[i].connections);
            }
            fputs("]}\n", o);
            break;
        case IW_DL_EV_FILE_DONE:
            fputs("{\"event\":\"file_done\",\"file\":", o); json_str(o, ev->path);
            fprintf(o, ",\"size\":%llu,\"skipped\":%s,\"reverified\":%s}\n", (unsigned long long)ev->size,
                    ev->skipped ? "true" : "false", ev->reverified ? "true" : "false");
            break;
        case IW_DL_EV_VERIFY_RETRY:
            fputs("{\"event\":\"verify_retry\",\"file\":", o); json_str(o, ev->path);
            fputs(",\"message\":", o); json_str(o, ev->message); fputs("}\n", o);
            break;
        case IW_DL_EV_ERROR:
            fputs("{\"event\":\"error\",\"file\":", o); json_str(o, ev->path);
            fputs(",\"message\":", o); json_str(o, ev->message); fputs("}\n", o);
            break;
        default:
            break;
        }
        fflush(o);
        return;
    }
    if (ev->kind == IW_DL_EV_VERIFY_RETRY && !u->quiet) {
        if (u->tty)
            dl_progress_clear(u->prog);   /* the line goes above the next redraw */
        fprintf(stderr, "imageworks-download: %s\n", ev->message);
        return;
    }
    if (u->quiet)
        return;
    if (u->tty) {
        dl_progress_event(u->prog, ev);
        return;
    }
    if (ev->kind != IW_DL_EV_PROGRESS || ev->elapsed - u->last_plain < 5.0)
        return;
    u->last_plain = ev->elapsed;
    char a[32], b[32], r[32];
    cli_human_bytes(a, sizeof a, (double)ev->total_done, 1);
    cli_human_bytes(b, sizeof b, (double)ev->total_size, 1);
    cli_human_bytes(r, sizeof r, ev->rate, 1);
    fprintf(stderr, "progress: %s / %s, %s/s, %zu active\n", a, b, r, ev->n_active);
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return -1;
    *out = (int)x;
    return 0;
}

#define usage_err(...) cli_usage("download", __VA_ARGS__)

static int parse_args(int argc, char **argv, dl_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV() do { if (!v) return usage_err("%s needs a value", s); i++; } while (0)
        if (!strcmp(s, "--revision")) { NEEDV(); a->revision = v; }
        else if (!strcmp(s, "--include")) {
            NEEDV();
            if (a->n_include >= MAX_GLOBS) return usage_err("too many %s patterns", s);
            a->include[a->n_include++] = v;
        } else if (!strcmp(s, "--exclude")) {
            NEEDV();
            if (a->n_exclude >= MAX_GLOBS) return usage_err("too many %s patterns", s);
            a->exclude[a->n_exclude++] = v;
        }
        else if (!strcmp(s, "--dest")) { NEEDV(); a->dest = v; }
        else if (!strcmp(s, "--hf-cache")) a->hf_cache = true;
        else if (!strcmp(s, "--support-repo")) { NEEDV(); a->support_repo = v; }
        else if (!strcmp(s, "--no-architecture")) a->no_arch = true;
        else if (!strcmp(s, "--name")) { NEEDV(); a->name = v; }
        else if (!strcmp(s, "--backend")) {
            NEEDV();
            if (strcmp(v, "vllm") && strcmp(v, "ollama") && strcmp(v, "llama.cpp"))
                return usage_err("--backend must be vllm, ollama or llama.cpp, not '%s'", v);
            a->backend = v;
        }
        else if (!strcmp(s, "--jobs")) { NEEDV(); if (parse_int(v, 1, 64, &a->jobs)) return usage_err("--jobs must be 1..64, not '%s'", v); }
        else if (!strcmp(s, "--connections")) { NEEDV(); if (parse_int(v, 1, IW_DL_MAX_CONNECTIONS, &a->connections)) return usage_err("--connections must be 1..%d, not '%s'", IW_DL_MAX_CONNECTIONS, v); }
        else if (!strcmp(s, "--unpack")) a->unpack = true;
        else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            fputs(USAGE, stdout);
            return -1;
        }
        else if (!strcmp(s, "--quiet") || !strcmp(s, "-q")) a->quiet = true;
        else if (!strcmp(s, "--json")) a->json = true;
        else if (s[0] == '-') return usage_err("unknown option '%s'", s);
        else if (!a->repo) a->repo = s;
        else return usage_err("unexpected argument '%s'", s);
#undef NEEDV
    }
    if (!a->repo)
        return cli_usage("download", "missing REPO (org/name)");
    if (a->dest && a->hf_cache)
        return cli_usage("download", "--dest and --hf-cache cannot be combined");
    const char *cap = getenv("IMAGEWORKS_UNPACK_MAX_BYTES");
    if (cap && *cap) {
        char *end;
        errno = 0;
        a->unpack_max = strtoull(cap, &end, 10);
        if (errno || *end || a->unpack_max == 0 || cap[0] == '-')
            return cli_usage("download", "IMAGEWORKS_UNPACK_MAX_BYTES must be a positive number of bytes, not '%s'", cap);
    }
    return 0;
}

static void on_support_note(const char *msg, void *ud)
{
    ui *u = ud;
    dl_progress_clear(u->prog);
    ui_warn(u, "%s", msg);
}

static void on_support_fetched(const char *id, const iw_dl_result *r, void *ud)
{
    ui *u = ud;
    dl_progress_clear(u->prog);
    if (!u->quiet && !u->json)
        printf("support repo %s: %zu files in %s\n", id, r->files, r->dest);
}

static void on_unpacked(const char *archive, const char *dir, bool already, void *ud)
{
    const ui *u = ud;
    if (!u->quiet && !u->json)
        printf(already ? "already unpacked %s into %s\n" : "unpacked %s into %s\n", archive, dir);
}

static int unpack_archives(const iw_dl_result *r, ui *u)
{
    if (iw_unpack_download(r->dest, r->paths, r->n_paths, u->unpack_max, on_unpacked, u) < 0)
        return cli_fail("--unpack");
    return 0;
}

/* After the files: register what arrived (iw_catalog_register_download) and
 * show what that did.  Returns an exit code. */
static int register_arrival(const iw_dl_result *r, const iw_dl_register_opts *ro, bool quiet, bool json)
{
    iw_dl_registration g;
    iw_dl_registration_init(&g);
    int rc = iw_catalog_register_download(r, ro, &g);
    if (g.arch_error) {
        /* The files are in place and verified; an unreadable architecture is
         * a warning on the entry (shown unless --quiet; a JSON event with --json). */
        if (json) {
            cJSON *ev = cJSON_CreateObject();
            char msg[2048];
            snprintf(msg, sizeof msg, "architecture of %s: %s", r->dest, g.arch_error);
            cJSON_AddStringToObject(ev, "event", "warning");
            cJSON_AddStringToObject(ev, "message", msg);
            char *q = ev ? cJSON_PrintUnformatted(ev) : NULL;
            if (q)
                printf("%s\n", q);
            free(q);
            cJSON_Delete(ev);
        } else if (!quiet) {
            fprintf(stderr, "imageworks-download: warning: architecture of %s: %s\n", r->dest, g.arch_error);
        }
    }
    if (g.manifest_warning)
        fprintf(stderr, "imageworks-download: warning: %s\n", g.manifest_warning);
    if (rc < 0) {
        rc = cli_fail(g.failed_at);
        iw_dl_registration_free(&g);
        return rc;
    }
    const iw_arch *a = &g.arch;
    if (json) {
        cJSON *ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "event", "registered");
        cJSON_AddStringToObject(ev, "name", g.name);
        char *q = ev ? cJSON_PrintUnformatted(ev) : NULL;
        printf("%s\n", q ? q : "{\"event\":\"registered\"}");
        free(q);
        cJSON_Delete(ev);
    } else if (!quiet) {
        printf("registered: %s", g.name);
        if (g.have_arch && a->parameters.total > 0) {
            double p = (double)a->parameters.total;
            printf(" (%s, %.3g%s parameters, %s)", a->model_type ? a->model_type : "?",
                   p >= 1e9 ? p / 1e9 : p >= 1e6 ? p / 1e6 : p / 1e3, p >= 1e9 ? "B" : p >= 1e6 ? "M" : "K",
                   a->parameters.source ? a->parameters.source : "?");
        }
        printf("\n");
        for (size_t i = 0; i < a->warnings.n; i++)
            if (!ro->support_note || strcmp(a->warnings.v[i], ro->support_note))   /* already shown */
                printf("warning: %s\n", a->warnings.v[i]);
    }
    iw_dl_registration_free(&g);
    return IW_EXIT_OK;
}

int cmd_download(int argc, char **argv)
{
    dl_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? IW_EXIT_OK : rc;
    ui u = { .quiet = a.quiet, .json = a.json, .tty = isatty(2) && !a.quiet && !a.json,
             .unpack_max = a.unpack_max };
    iw_hub *hub = NULL;
    if (iw_hub_check_repo_id(a.repo) < 0)
        return cli_usage("download", "%s", iw_error_last());
    if (iw_hub_new(&hub, NULL) < 0)
        return cli_fail("download");
    iw_dl_options o;
    iw_dl_options_init(&o);
    o.revision = a.revision;
    o.include = a.include; o.n_include = a.n_include;
    o.exclude = a.exclude; o.n_exclude = a.n_exclude;
    o.layout = a.hf_cache ? IW_DL_LAYOUT_HF_CACHE : IW_DL_LAYOUT_PLAIN;
    o.dest = a.dest;
    if (a.jobs) o.jobs = a.jobs;
    if (a.connections) o.connections = a.connections;
    o.on_event = on_event;
    o.ud = &u;
    o.cancel = &g_cancel;
    /* Ctrl-C / SIGTERM: stop cleanly so the resume state is saved */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (u.tty && !(u.prog = dl_progress_new(stderr)))
        u.tty = false;      /* out of memory: plain progress lines */
    iw_dl_result r;
    rc = iw_download_repo(hub, a.repo, &o, &r);
    dl_progress_clear(u.prog);
    if (rc < 0) {
        if (u.json) {
            fputs("{\"event\":\"done\",\"ok\":false,\"error\":", stdout);
            json_str(stdout, iw_error_last());
            fputs("}\n", stdout);
        }
        rc = cli_fail(a.repo);
        goto out;
    }
    double rate = r.seconds > 0 ? (double)r.bytes_fetched / r.seconds : 0;
    if (u.json) {
        printf("{\"event\":\"done\",\"ok\":true,\"repo\":");
        json_str(stdout, a.repo);
        printf(",\"commit\":\"%s\",\"files\":%zu,\"fetched\":%zu,\"skipped\":%zu,\"bytes\":%llu,"
               "\"bytes_fetched\":%llu,\"seconds\":%.3f,\"rate\":%.0f,\"dest\":",
               r.commit, r.files, r.files_fetched, r.files_skipped, (unsigned long long)r.bytes,
               (unsigned long long)r.bytes_fetched, r.seconds, rate);
        json_str(stdout, r.dest);
        fputs("}\n", stdout);
    } else if (!u.quiet) {
        char b[32], f[32], rr[32];
        cli_human_bytes(b, sizeof b, (double)r.bytes, 1);
        cli_human_bytes(f, sizeof f, (double)r.bytes_fetched, 1);
        cli_human_bytes(rr, sizeof rr, rate, 1);
        printf("%s@%.12s: %zu files (%zu fetched, %zu already present), %s total, %s fetched in %.1f s (%s/s)\n",
               a.repo, r.commit, r.files, r.files_fetched, r.files_skipped, b, f, r.seconds, rr);
        printf("dest: %s\n", r.dest);
    }
    if (a.unpack && !a.hf_cache && (rc = unpack_archives(&r, &u)) != 0)
        goto out;
    /* support repo: --support-repo, else (no config.json) the base model */
    iw_support sup = { 0 };
    if (a.support_repo || !a.no_arch) {
        iw_support_opts so = { IW_SUPPORT_OPTS_VERSION, a.support_repo, on_event, &u, on_support_note,
                               on_support_fetched };
        rc = iw_catalog_support(hub, a.repo, &r, &so, &sup);
        dl_progress_clear(u.prog);
        if (rc < 0) {
            rc = cli_fail(a.support_repo);
            goto out;
        }
    }
    if (!a.no_arch) {
        /* extract the architecture of what arrived and register the entry */
        iw_dl_register_opts ro = {
            .version = IW_DL_REGISTER_OPTS_VERSION, .repo = a.repo, .revision = a.revision, .name = a.name,
            .backend = a.backend, .support_dir = sup.dir, .support_id = sup.id, .support_note = sup.note,
        };
        rc = register_arrival(&r, &ro, a.quiet, a.json);
    }
    iw_support_free(&sup);
    if (rc)
        goto out;
    rc = IW_EXIT_OK;
out:
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    dl_progress_free(u.prog);
    return rc;
}
