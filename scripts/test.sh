#!/usr/bin/env bash
# Install what is missing, build with warnings as errors under ASan+UBSan,
# and run every test suite (CTest over the Criterion executables).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD=${IW_BUILD_DIR:-build-ci}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIW_WERROR=ON -DIW_SANITIZE=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" --timeout 600
