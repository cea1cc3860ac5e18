#!/usr/bin/env bash
# Regenerate docs/cli.md from the tool's own --help texts, so the reference
# cannot drift from the code (tests/tools/test_cli_docs.c compares each
# command's section with its --help).
# Usage: scripts/gen-cli-doc.sh [path/to/imageworks-download]
set -euo pipefail
cd "$(dirname "$0")/.."
IWD=${1:-build/imageworks-download}
out=docs/cli.md
{
cat <<'HDR'
# CLI reference

`imageworks-download <command> [options]`. Exit codes: **0** ok, **1** failure,
**2** usage error. Errors are one line on stderr:
`imageworks-download: <what>: <message>`.

This page is generated from each command's `--help` by
`scripts/gen-cli-doc.sh`; `tests/tools/test_cli_docs.c` fails when a
command's section here is not its `--help` word for word.

## Environment

| variable | default | used by |
|---|---|---|
| `HF_ENDPOINT` | `https://huggingface.co` | download, inspect REPO, estimate REPO |
| `HF_TOKEN` | none | bearer token for gated/private repos; sent only to the endpoint's origin, never to the CDN, never printed or stored |
| `HF_TOKEN_PATH` | `$HF_HOME/token` | token file when `HF_TOKEN` is unset |
| `HF_HOME` | `~/.cache/huggingface` | token file, default cache |
| `HF_HUB_CACHE` | `$HF_HOME/hub` | `--hf-cache` layout root |
| `HF_HUB_OFFLINE` | unset | `1`: no network; serve from what is installed or fail clearly |
| `HF_HUB_DOWNLOAD_TIMEOUT` | 10 s | connect/stall timeout |
| `IMAGEWORKS_MODEL_ROOT` | `~/ai-models/weights` | downloads land in `<root>/<owner>/<repo>` |
| `IMAGEWORKS_REGISTRY_DIR` | `$XDG_CONFIG_HOME/imageworks` (`~/.config/imageworks`) | the three registry files |
| `IMAGEWORKS_METRICS_LOG` | `logs/model_loader_metrics.jsonl` | reconcile-architecture input |
| `IMAGEWORKS_ESTIMATE_PROFILES` | unset; else `$XDG_CONFIG_HOME/imageworks/estimate_profiles.json` when it exists | estimate: profiles and GPUs merged over the shipped ones (docs/estimate.md, "Profiles") |
| `OLLAMA_MODELS` | `~/.ollama/models`, then `/usr/share/ollama/.ollama/models` | `ollama:NAME:TAG` paths and Ollama registry entries (inspect, scan, verify, migrate-architecture) |
| `OLLAMA_HOST` | unset: no server is asked | when set (`host[:port]`, port 11434 by default), inspect and migrate-architecture ask the server's `POST /api/show` for an Ollama model the store lacks |

Proxies and CA bundles follow libcurl's usual variables (`https_proxy`,
`no_proxy`, `CURL_CA_BUNDLE`, ...). TLS verification is always on.

## Commands

HDR
"$IWD" --help | sed -n '/^commands:/,/^$/p' | sed '1d;/^$/d' | sed 's/^  \([^ ]*\) *\(.*\)/- [`\1`](#\1): \2/'
echo
for c in $("$IWD" --help | sed -n '/^commands:/,/^$/p' | sed '1d;/^$/d' | awk '{print $1}'); do
    echo "### $c"
    echo
    echo '```'
    "$IWD" "$c" --help 2>&1 || true
    echo '```'
    echo
done
} > "$out"
echo "wrote $out"
