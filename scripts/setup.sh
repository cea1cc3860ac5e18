#!/usr/bin/env bash
# Install what is missing from Debian packages (idempotent). Uses sudo when not root.
# Usage: scripts/setup.sh
set -euo pipefail

pkgs=(build-essential cmake pkg-config git
      libcurl4-openssl-dev libcjson-dev libarchive-dev libssl-dev
      libcriterion-dev libmicrohttpd-dev)
# Peers used by bench/ and by a few tests (curl CLI as a reference client).
pkgs+=(curl)
# script(1) gives the download test a terminal (progress redraw path).
pkgs+=(bsdutils)
# The serve page is tested in a real browser (tests/tools/test_serve.c):
# Debian's Chromium driven through chromedriver's WebDriver API.
pkgs+=(chromium chromium-driver)
# The emitted docker compose files are read back as YAML (tests/estimate/test_emit.c).
pkgs+=(python3-yaml)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# node and npm install node-llama-cpp, whose llama.cpp is the oracle of the
# llama.cpp estimate (tests/tools/test_llamacpp_oracle.c, bench/llamacpp_oracle.sh).
# Debian's nodejs/npm unless a node with npm is already there (NodeSource's
# nodejs carries npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

# node-llama-cpp, pinned in bench/llamacpp/package.json and package-lock.json
# (CPU binaries only), like any other dependency.
install_oracle() {
    local dir
    dir="$(cd "$(dirname "$0")/.." && pwd)/bench/llamacpp"
    if [ -f "$dir/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.5.0.so" ]; then
        echo "setup: node-llama-cpp present"
        return 0
    fi
    echo "setup: installing node-llama-cpp 3.22.1 into bench/llamacpp (npm)"
    (cd "$dir" && npm install --omit=optional --no-audit --no-fund --loglevel=error)
}

if ((${#missing[@]} == 0)); then
    echo "setup: all ${#pkgs[@]} packages present"
    install_oracle
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1
    fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_oracle
