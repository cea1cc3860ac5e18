#!/usr/bin/env bash
# The library never prints, exits or aborts (docs/conventions.md): it returns
# an error code with a one-line message and leaves output to its caller.
# Checked twice:
#   - in the source of src/ (comments stripped): no call of printf, puts,
#     putchar, perror, exit, abort, assert, ... and no use of stdout, stderr
#     or stdin (writing to a FILE the caller passes in is fine);
#   - in the built libiwdl.so: no undefined reference to those functions or
#     streams, which also catches what the compiler turned a call into
#     (printf -> puts, fortified __printf_chk).
# Usage: library_never_prints.sh SOURCE_DIR LIBIWDL_SO CC
set -euo pipefail
SRC=$1 LIB=$2 CC=${3:-cc}
calls='printf|vprintf|__printf_chk|puts|putchar|putc|perror|exit|_exit|_Exit|quick_exit|abort|assert|__assert_fail'
streams='stdout|stderr|stdin'
bad=0
while IFS= read -r f; do
    hits=$("$CC" -fpreprocessed -dD -E -P -x c "$f" 2>/dev/null |
           grep -nE "(^|[^A-Za-z0-9_.>])($calls)[[:space:]]*\(|(^|[^A-Za-z0-9_])($streams)([^A-Za-z0-9_]|$)" || true)
    if [ -n "$hits" ]; then
        echo "${f#$SRC/}: prints, exits or aborts:" >&2
        echo "$hits" | head -5 | sed 's/^/    /' >&2
        bad=1
    fi
done < <(find "$SRC/src" -name '*.[ch]' | sort)
syms=$(nm -uD "$LIB" | awk '{print $NF}' | sed 's/@.*//' |
       grep -xE "($calls|$streams|__vprintf_chk|__fprintf_chk_stdout)" || true)
if [ -n "$syms" ]; then
    echo "$(basename "$LIB") references: $(echo $syms)" >&2
    bad=1
fi
[ $bad -eq 0 ] && echo "library_never_prints: src/ and $(basename "$LIB") clean"
exit $bad
