/* cmd_scan.c - `imageworks-download scan DIR`: register existing installs. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "iwdl/catalog.h"
#include "iwdl/error.h"

static void help(FILE *f)
{
    fprintf(f,
        "usage: imageworks-download scan DIR [--backend B] [--location L] [--hash] [--dry-run]\n"
        "\n"
        "Find model installs under DIR and register them (discovered layer), reading\n"
        "each one's architecture from its files.  Recognised layouts:\n"
        "  DIR/<owner>/<repo>/ or DIR/<repo>/   a folder with config.json or *.safetensors\n"
        "  DIR/models--<owner>--<repo>/snapshots/<commit>/   Hugging Face cache snapshots\n"
        "                                       (DIR may be the cache or its hub/ folder)\n"
        "  *.gguf files in DIR, DIR/<x>/ or DIR/<owner>/<repo>/ without config.json:\n"
        "                                       one entry per GGUF file\n"
        "  an Ollama store (DIR or DIR/models holds manifests/ and blobs/, e.g.\n"
        "  ~/.ollama/models): one entry per model, download_path ollama:/NAME:TAG,\n"
        "                                       backend ollama (--backend and --hash do\n"
        "                                       not apply; verify checks the blobs)\n"
        "An install already registered at the same path is updated, not duplicated;\n"
        "an Ollama model also matches an entry by its served_model_id.\n"
        "\n"
        "  --backend B   backend for new entries (default vllm; llama.cpp for GGUF)\n"
        "  --location L  download_location (default linux_wsl)\n"
        "  --hash        record sha256 of every file (slow for large weights)\n"
        "  --dry-run     list what would be registered, write nothing\n"
        "  -h, --help    this help\n");
}

/* Each result as it happens: installs on stdout, failures and notes on stderr. */
static void print_result(const iw_scan_result *res, void *ud)
{
    (void)ud;
    switch (res->kind) {
    case IW_SCAN_WOULD_REGISTER:
        if (res->store)
            printf("would register %s (Ollama store %s)\n", res->path, res->store);
        else
            printf("would register %s (%s, %zu file%s)\n", res->path, res->repo, res->n_files,
                   res->n_files == 1 ? "" : "s");
        break;
    case IW_SCAN_REGISTERED:
        printf("registered %s -> %s%s\n", res->path, res->name, res->unchanged ? " (unchanged)" : "");
        break;
    case IW_SCAN_FAILED:
    case IW_SCAN_NOTE:
        fprintf(stderr, "imageworks-download: scan: %s\n", res->message);
        break;
    }
}

int cmd_scan(int argc, char **argv)
{
    static const struct option opts[] = {
        { "backend", required_argument, NULL, 'b' }, { "location", required_argument, NULL, 'L' },
        { "hash", no_argument, NULL, 'H' }, { "dry-run", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    iw_scan_opts o = IW_SCAN_OPTS_INIT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "b:L:Hnh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (strcmp(optarg, "vllm") && strcmp(optarg, "ollama") && strcmp(optarg, "llama.cpp"))
                return cli_usage("scan", "scan: --backend must be vllm, ollama or llama.cpp, got '%s'", optarg);
            o.backend = optarg;
            break;
        case 'L': o.location = optarg; break;
        case 'H': o.hash = true; break;
        case 'n': o.dry_run = true; break;
        case 'h': help(stdout); return IW_EXIT_OK;
        default: return cli_usage("scan", "scan: unknown option or missing value '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage("scan", "scan: expected one folder DIR");
    iw_scan_stats st;
    if (iw_catalog_scan(NULL, argv[optind], &o, print_result, NULL, &st) < 0) {
        fprintf(stderr, "imageworks-download: scan: %s\n", iw_error_last());
        return IW_EXIT_FAIL;
    }
    printf("%s%zu install%s found, %zu registered, %zu failed\n", o.dry_run ? "dry run: " : "", st.found,
           st.found == 1 ? "" : "s", st.registered, st.failed);
    return st.failed ? IW_EXIT_FAIL : IW_EXIT_OK;
}
