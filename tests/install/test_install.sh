#!/usr/bin/env bash
# Install into a temporary prefix and use it as another project would:
#   cmake --install BUILD --prefix TMP, then check the layout (versioned
#   soname, static library, headers, iwdl.pc, binary, man page, bash
#   completion), build docs/examples/inspect_model.c with
#   `pkg-config --cflags --libs iwdl` (shared) and again against libiwdl.a
#   (static), and inspect a fixture with each; build
#   docs/examples/estimate_vram.c (shared) and estimate that fixture.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR CC [EXTRA_CFLAGS]
# EXTRA_CFLAGS carries the sanitizer flags of an IW_SANITIZE build, so the
# consumer runs against the instrumented shared library.
set -euo pipefail
BUILD=$1 SRC=$2 CC=$3 EXTRA=${4:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/iwdl-install-XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "test_install: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
P=$T/prefix
libdir=$(cd "$P" && ls -d lib* | head -1)
L=$P/$libdir
[ -n "$libdir" ] || fail "no lib folder under $P"
for f in "$L/libiwdl.a" "$L/libiwdl.so" "$L/libiwdl.so.0" "$L/pkgconfig/iwdl.pc" \
         "$P/include/iwdl/arch.h" "$P/include/iwdl/extract.h" "$P/bin/imageworks-download" \
         "$P/share/man/man1/imageworks-download.1" \
         "$P/share/bash-completion/completions/imageworks-download"; do
    [ -e "$f" ] || fail "not installed: ${f#$P/}"
done
soname=$(readelf -d "$L/libiwdl.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libiwdl.so.0 ] || fail "soname is '$soname', expected libiwdl.so.0"
[ -L "$L/libiwdl.so.0" ] && [ -f "$(readlink -f "$L/libiwdl.so.0")" ] || fail "libiwdl.so.0 is not a link to the library"
# only the public API is exported
leaked=$(nm -D --defined-only "$L/libiwdl.so" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^iw_' | grep -v '^_' || true)
[ -z "$leaked" ] || fail "exports symbols outside iw_*: $(echo $leaked | head -c 200)"

export PKG_CONFIG_PATH=$L/pkgconfig
cflags=$(pkg-config --cflags iwdl) || fail "pkg-config --cflags iwdl"
libs=$(pkg-config --libs iwdl) || fail "pkg-config --libs iwdl"
[ "$(pkg-config --modversion iwdl)" = "$("$P/bin/imageworks-download" --version | awk '{print $2}')" ] \
    || fail "iwdl.pc version differs from the tool's"

# shared: the consumer records the soname and runs against the installed library
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror $EXTRA "$SRC/docs/examples/inspect_model.c" $cflags $libs -o "$T/consumer"
readelf -d "$T/consumer" | grep 'NEEDED.*\[libiwdl.so.0\]' >/dev/null || fail "consumer does not need libiwdl.so.0"
out=$(LD_LIBRARY_PATH=$L "$T/consumer" "$SRC/tests/fixtures/models/tiny-llama") || fail "consumer failed: $out"
echo "$out" | grep -q '^model_type     llama$' || fail "unexpected consumer output: $out"
echo "$out" | grep -q '^num_layers     4$' || fail "unexpected consumer output: $out"
LD_LIBRARY_PATH=$L ldd "$T/consumer" | grep "libiwdl.so.0 => $L/" >/dev/null || fail "consumer does not load the installed library"
# the second example: inspect, then estimate against a budget
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror $EXTRA "$SRC/docs/examples/estimate_vram.c" $cflags $libs -o "$T/estimator"
est=$(LD_LIBRARY_PATH=$L "$T/estimator" "$SRC/tests/fixtures/models/tiny-llama" 24 vllm) || fail "estimator failed: $est"
echo "$est" | grep -q '^llama on vllm, 24 GiB' || fail "unexpected estimator output: $est"
echo "$est" | grep -q '^  weights ' || fail "estimator printed no weights term: $est"
echo "$est" | grep -q ': fits$' || fail "tiny-llama does not fit 24 GiB: $est"

# static: libiwdl.a plus the libraries iwdl.pc requires (linked as shared
# system libraries; `pkg-config --static` would also ask for libcurl's own
# static dependencies)
reqs=$(pkg-config --print-requires --print-requires-private iwdl | awk '{print $1}' | tr '\n' ' ')
# shellcheck disable=SC2086
slibs="$(pkg-config --libs $reqs) $(pkg-config --static --libs-only-other iwdl) -lm"
# shellcheck disable=SC2086
"$CC" -std=c11 $EXTRA "$SRC/docs/examples/inspect_model.c" $cflags "$L/libiwdl.a" $slibs -o "$T/consumer-static"
readelf -d "$T/consumer-static" | grep 'libiwdl' >/dev/null && fail "static consumer still needs libiwdl.so"
out2=$("$T/consumer-static" "$SRC/tests/fixtures/models/tiny-llama") || fail "static consumer failed"
[ "$out" = "$out2" ] || fail "static and shared consumers disagree"

# the installed binary finds the installed library (RPATH $ORIGIN/../lib)
loaded=$(ldd "$P/bin/imageworks-download" | sed -n 's/.*libiwdl.so.0 => \([^ ]*\) .*/\1/p')
[ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "$(readlink -f "$L/libiwdl.so.0")" ] \
    || fail "the installed binary loads '$loaded', not $L/libiwdl.so.0"
"$P/bin/imageworks-download" inspect "$SRC/tests/fixtures/models/tiny-llama" >/dev/null || fail "installed binary failed"

# man page: every command of --help has its section
man=$P/share/man/man1/imageworks-download.1
head -3 "$man" | grep -q '^\.TH IMAGEWORKS-DOWNLOAD 1' || fail "man page has no .TH line"
for c in $("$P/bin/imageworks-download" --help | sed -n '/^commands:/,/^$/p' | sed '1d;/^$/d' | awk '{print $1}'); do
    grep -q "^\.SS $c\$" "$man" || fail "man page has no section for $c"
done

# bash completion: commands, then a command's flags
comp=$P/share/bash-completion/completions/imageworks-download
got=$(bash -c 'source "$1"; COMP_WORDS=(imageworks-download ins); COMP_CWORD=1; _imageworks_download; echo "${COMPREPLY[*]}"' _ "$comp")
[ "$got" = inspect ] || fail "completion of 'ins' gave '$got'"
got=$(bash -c 'source "$1"; COMP_WORDS=(imageworks-download inspect --te); COMP_CWORD=2; _imageworks_download; echo "${COMPREPLY[*]}"' _ "$comp")
[ "$got" = --tensors ] || fail "completion of 'inspect --te' gave '$got'"
echo "test_install: ok ($P: soname $soname, $(nm -D --defined-only "$L/libiwdl.so" | grep -c ' T iw_') functions exported)"
