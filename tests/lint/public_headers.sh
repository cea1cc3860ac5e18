#!/usr/bin/env bash
# The public headers (include/iwdl) as a library user meets them:
#   - each compiles on its own (C11, -Wall -Wextra -Werror), also as C++-safe
#     extern "C" where it has it;
#   - cJSON is included by json.h alone, the JSON-facing header; registry.h
#     and schema.h reach it through json.h, every other header names a cJSON
#     tree only as an opaque `struct cJSON *` and compiles without cJSON;
#   - headers match modules: the functions a header declares are all defined
#     in one module's library (src/<module>), extract.h excepted (an umbrella
#     that declares nothing).
# Usage: public_headers.sh SOURCE_DIR BUILD_DIR CC
set -euo pipefail
SRC=$1 BUILD=$2 CC=${3:-cc}
T=$(mktemp -d "${TMPDIR:-/tmp}/iwdl-headers-XXXXXX")
trap 'rm -rf "$T"' EXIT
bad=0
fail() { echo "public_headers: $*" >&2; bad=1; }

inc=$(grep -l '#include <cjson/' "$SRC"/include/iwdl/*.h | xargs -n1 basename | tr '\n' ' ')
[ "$inc" = "json.h " ] || fail "cJSON is included by: $inc(json.h only)"

# where each exported function is defined
for m in common extract registry estimate downloader catalog; do
    nm --defined-only "$BUILD/libiw_$m.a" 2>/dev/null | awk -v m=$m '$2 == "T" {print $3, m}'
done | sort -u > "$T/defs"

for h in "$SRC"/include/iwdl/*.h; do
    name=$(basename "$h")
    printf '#include "iwdl/%s"\n#include "iwdl/%s"\n' "$name" "$name" > "$T/one.c"
    "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$SRC/include" "$T/one.c" 2> "$T/err" \
        || fail "$name does not compile on its own: $(head -3 "$T/err")"
    case $name in
    json.h|registry.h|schema.h) ;;
    *)  if "$CC" -std=c11 -E -H -I"$SRC/include" "$T/one.c" 2>&1 >/dev/null | grep -q 'cJSON\.h'; then
            fail "$name pulls in cJSON"
        fi ;;
    esac
    [ "$name" = extract.h ] && continue
    mods=$("$CC" -fpreprocessed -dD -E -P -x c "$h" 2>/dev/null | grep -oE '\biw_[a-z0-9_]+[[:space:]]*\(' | sed 's/[[:space:]]*($//' | sort -u |
           join - "$T/defs" | awk '{print $2}' | sort -u | tr '\n' ' ')
    n=$(echo "$mods" | wc -w)
    [ "$n" -le 1 ] || fail "$name declares functions of several modules: $mods"
done
[ $bad -eq 0 ] && echo "public_headers: $(ls "$SRC"/include/iwdl/*.h | wc -l) headers self-contained, cJSON in json.h only, one module each"
exit $bad
