#!/usr/bin/env bash
# setup.sh - make the llama.cpp oracle ready: node-llama-cpp (pinned in
# package.json / package-lock.json, CPU binaries only) installed here, the
# llama.cpp source it ships cloned from its git bundle, and oracle.cpp built
# against those headers and linked to its prebuilt libraries.
#
# Usage: bench/llamacpp/setup.sh OUT_DIR
#   IW_ORACLE_OFFLINE=1: never run npm (the tests: scripts/setup.sh installs
#   the package; a test must not reach the network)
#   OUT_DIR (gitignored: a build*/ or bench/out/ folder) receives llama.cpp/
#   and oracle.  Prints the directory of llama.cpp's shared libraries (the
#   oracle's first argument) as its last line.  Exits non-zero with a one-line
#   reason when node/npm/git/g++ or the package are missing and cannot be
#   installed.  Nothing of llama.cpp is committed: the clone and the binary
#   live in OUT_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: setup.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in node npm git g++; do
    command -v "$tool" >/dev/null 2>&1 || { echo "llamacpp setup: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done

bins="$here/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
if [ ! -f "$bins/libllama.v0.5.0.so" ] || [ ! -f "$here/node_modules/node-llama-cpp/llama/gitRelease.bundle" ]; then
    if [ "${IW_ORACLE_OFFLINE:-0}" = 1 ]; then
        echo "llamacpp setup: node-llama-cpp 3.22.1 is not installed in $here/node_modules (run scripts/setup.sh)" >&2
        exit 1
    fi
    echo "llamacpp setup: installing node-llama-cpp 3.22.1 (npm, CPU binaries only)" >&2
    (cd "$here" && npm install --omit=optional --no-audit --no-fund --loglevel=error >&2)
fi
[ -f "$bins/libllama.v0.5.0.so" ] || { echo "llamacpp setup: $bins/libllama.v0.5.0.so missing after npm install" >&2; exit 1; }

src="$out/llama.cpp"
if [ ! -f "$src/include/llama.h" ]; then
    rm -rf "$src"
    git clone -q "$here/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$src" 2>/dev/null ||
        { echo "llamacpp setup: cannot clone the llama.cpp bundle" >&2; exit 1; }
fi

if [ ! -x "$out/oracle" ] || [ "$here/oracle.cpp" -nt "$out/oracle" ]; then
    g++ -std=c++17 -O1 -o "$out/oracle" "$here/oracle.cpp" \
        -I"$src/include" -I"$src/src" -I"$src/ggml/include" -I"$src/ggml/src" \
        "$bins/libllama.v0.5.0.so" "$bins/libggml.v0.5.0.so" "$bins/libggml-base.so" -Wl,-rpath,"$bins" ||
        { echo "llamacpp setup: building oracle.cpp failed" >&2; exit 1; }
fi
echo "$bins"
