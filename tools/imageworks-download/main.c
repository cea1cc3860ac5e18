/* main.c - imageworks-download: command dispatch, global help, version. */
#include "cli.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "iwdl/error.h"

#ifndef IW_VERSION
#define IW_VERSION "0.1.0"
#endif

/* The command table: --help lists it in this order and main() dispatches
 * through it (scripts/gen-cli-doc.sh reads that listing). */
static const struct {
    const char *name;
    iw_cmd_fn   fn;
    const char *summary;
} commands[] = {
    { "download",               cmd_download,               "fetch a model repo from the Hub (or HF_ENDPOINT), verify, register" },
    { "inspect",                cmd_inspect,                "print the architecture of a folder, a .gguf/.safetensors file or a remote repo" },
    { "list",                   cmd_list,                   "list registry entries" },
    { "show",                   cmd_show,                   "show one registry entry" },
    { "remove",                 cmd_remove,                 "remove a registry entry (optionally its files)" },
    { "verify",                 cmd_verify,                 "re-hash installed files against the registry" },
    { "scan",                   cmd_scan,                   "register existing installs found under a folder" },
    { "migrate-architecture",   cmd_migrate_architecture,   "backfill metadata.architecture for installed entries" },
    { "reconcile-architecture", cmd_reconcile_architecture, "merge runtime metrics from the vLLM manager log" },
    { "estimate",               cmd_estimate,               "estimate GPU memory; with --vram, the largest context/batch that fits" },
    { "serve",                  cmd_serve,                  "serve the registry and estimator over HTTP" },
    { "validate",               cmd_validate,               "compare an entry's architecture with expected values" },
};

static iw_cmd_fn lookup(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].fn;
    return NULL;
}

/* True when the library message already names `what`: it starts with it
 * (followed by ':', ' ', '/' or the end, so "/m/config.json:1:2: ..." names
 * "/m") or quotes it ('what').  Then "what: " in front would say it twice. */
static bool names_already(const char *msg, const char *what)
{
    size_t n = strlen(what);
    if (!strncmp(msg, what, n) && (msg[n] == 0 || msg[n] == ':' || msg[n] == ' ' || msg[n] == '/'))
        return true;
    for (const char *p = strchr(msg, '\''); p; p = strchr(p + 1, '\''))
        if (!strncmp(p + 1, what, n) && p[1 + n] == '\'')
            return true;
    return false;
}

int cli_fail(const char *what)
{
    const char *msg = iw_error_last();
    if (!*msg)
        msg = "failed";
    if (what && *what && !names_already(msg, what))
        fprintf(stderr, "imageworks-download: %s: %s\n", what, msg);
    else
        fprintf(stderr, "imageworks-download: %s\n", msg);
    return IW_EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "imageworks-download: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'imageworks-download %s --help')\n", cmd ? cmd : "");
    return IW_EXIT_USAGE;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download <command> [options]\n"
        "\n"
        "Download LLM repos from the Hugging Face Hub, read their architecture from the\n"
        "files, keep an imageworks-compatible registry, and estimate GPU memory.\n"
        "\n"
        "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-24s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
        "\n"
        "Run 'imageworks-download <command> --help' for a command's options.\n"
        "Environment: HF_ENDPOINT HF_TOKEN HF_TOKEN_PATH HF_HOME HF_HUB_CACHE HF_HUB_OFFLINE\n"
        "  IMAGEWORKS_REGISTRY_DIR IMAGEWORKS_MODEL_ROOT IMAGEWORKS_METRICS_LOG (docs/cli.md)\n"
        "Exit codes: 0 ok, 1 failure, 2 usage.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return IW_EXIT_USAGE;
    }
    cli_guard_stdout();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return IW_EXIT_OK;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("imageworks-download %s\n", IW_VERSION);
        return IW_EXIT_OK;
    }
    iw_cmd_fn fn = lookup(cmd);
    if (!fn) {
        fprintf(stderr, "imageworks-download: unknown command '%s' (see 'imageworks-download --help')\n", cmd);
        return IW_EXIT_USAGE;
    }
    return fn(argc - 1, argv + 1);
}
