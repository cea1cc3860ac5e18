#!/usr/bin/env bash
# bench/download.sh - download benchmarks against nginx on loopback.
#
# nginx serves a static "hub": the two API answers (revision -> sha, tree
# listing) as files, and the resolve URLs as symlinks to generated data, so
# imageworks-download runs its normal path (pin, list, fetch, verify).
# Compared with curl and aria2c on the same files.  Results: docs/benchmarks.md.
#
# Usage: bench/download.sh [BUILD_DIR]        (default build-bench, Release, no sanitizers)
# Env:   BIG_MB (2048)   size of the unthrottled file
#        RATE_MB (4)     nginx limit_rate per connection for the throttled runs
#        THR_MB (128)    size of the throttled file
#        SMALL_N (500)   number of small files
#        WORK (/tmp/iw-bench)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench}
BIG_MB=${BIG_MB:-2048}
RATE_MB=${RATE_MB:-4}
THR_MB=${THR_MB:-128}
SMALL_N=${SMALL_N:-500}
WORK=${WORK:-/tmp/iw-bench}
PORT=${PORT:-18480}
TPORT=$((PORT + 1))

if [ ! -x "$BUILD/imageworks-download" ]; then
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DIW_SANITIZE=OFF -DIW_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 --target imageworks-download >/dev/null
fi
IW="$BUILD/imageworks-download"
for t in nginx curl aria2c python3 /usr/bin/time; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done

rm -rf "$WORK"; mkdir -p "$WORK/www" "$WORK/logs" "$WORK/out"

# ---- data + static hub ----------------------------------------------------
python3 - "$WORK/www" "$BIG_MB" "$THR_MB" "$SMALL_N" <<'EOF'
import hashlib, json, os, sys
www, big_mb, thr_mb, small_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def repo(name, files):
    """files: list of (path, datafile, size, sha256 or None, gitsha1)"""
    sha = hashlib.sha1(name.encode()).hexdigest()
    d = f"{www}/api/models/b/{name}/revision"; os.makedirs(d, exist_ok=True)
    json.dump({"id": f"b/{name}", "sha": sha}, open(f"{d}/main", "w"))
    d = f"{www}/api/models/b/{name}/tree"; os.makedirs(d, exist_ok=True)
    tree = []
    for p, data, size, s256, g1 in files:
        e = {"type": "file", "oid": g1, "size": size, "path": p}
        if s256: e["lfs"] = {"oid": s256, "size": size, "pointerSize": 134}
        tree.append(e)
        r = f"{www}/b/{name}/resolve/{sha}/{p}"; os.makedirs(os.path.dirname(r), exist_ok=True)
        os.symlink(data, r)
    json.dump(tree, open(f"{d}/{sha}", "w"))
def big(name, mb):
    path = f"{www}/data/{name}.bin"; os.makedirs(os.path.dirname(path), exist_ok=True)
    h = hashlib.sha256(); blk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mb):
            b = blk[:-8] + i.to_bytes(8, "little"); f.write(b); h.update(b)
    repo(name, [(f"{name}.bin", path, mb << 20, h.hexdigest(), "0" * 40)])
big("big", big_mb)
big("thr", thr_mb)
files = []
os.makedirs(f"{www}/data/small", exist_ok=True)
with open(f"{www}/../small-urls.txt", "w") as urls:
    for i in range(small_n):
        data = os.urandom(4096 + (i * 7919) % 60000)
        p = f"{www}/data/small/f{i:04d}.json"; open(p, "wb").write(data)
        g1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        files.append((f"f{i:04d}.json", p, len(data), None, g1))
repo("small", files)
EOF
SMALL_SHA=$(python3 -c 'import hashlib;print(hashlib.sha1(b"small").hexdigest())')
for i in $(seq -f "%04g" 0 $((SMALL_N - 1))); do
  echo "http://127.0.0.1:$PORT/b/small/resolve/$SMALL_SHA/f$i.json"
done > "$WORK/small-urls.txt"

cat > "$WORK/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$PORT;  root $WORK/www; }
  server { listen 127.0.0.1:$TPORT; root $WORK/www; limit_rate ${RATE_MB}m; }
}
EOF
nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX=$!
trap 'kill $NGINX 2>/dev/null; wait $NGINX 2>/dev/null || true' EXIT
sleep 1

# ---- helpers ---------------------------------------------------------------
# run NAME CMD...: wall seconds and peak RSS (KiB) of CMD, appended to results.
RES="$WORK/results.txt"; : > "$RES"
run() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/logs/$name.err" || {
    echo "$name FAILED:"; cat "$WORK/logs/$name.err"; exit 1; }
  read -r secs rss < "$WORK/time.txt"
  printf '%-28s %8.2f s  %8d KiB peak RSS\n' "$name" "$secs" "$rss" | tee -a "$RES"
}
clean() { rm -rf "$WORK/out"; mkdir -p "$WORK/out"; }
BIG_SHA=$(python3 -c 'import hashlib;print(hashlib.sha1(b"big").hexdigest())')
THR_SHA=$(python3 -c 'import hashlib;print(hashlib.sha1(b"thr").hexdigest())')
H="http://127.0.0.1:$PORT"; T="http://127.0.0.1:$TPORT"

echo "== ${BIG_MB} MiB file, unthrottled loopback"
clean; run "curl -o" curl -sS -o "$WORK/out/big.bin" "$H/b/big/resolve/$BIG_SHA/big.bin"
clean; run "curl -o + sha256sum" sh -c "curl -sS -o $WORK/out/big.bin $H/b/big/resolve/$BIG_SHA/big.bin && sha256sum $WORK/out/big.bin"
clean; run "iwdl (verify, 8 conn)" env HF_ENDPOINT="$H" "$IW" download b/big --dest "$WORK/out/d" --quiet
clean; run "iwdl (verify, 1 conn)" env HF_ENDPOINT="$H" "$IW" download b/big --dest "$WORK/out/d" --quiet --connections 1

echo "== ${THR_MB} MiB file, nginx limit_rate ${RATE_MB}m per connection"
clean; run "curl (1 conn)" curl -sS -o "$WORK/out/thr.bin" "$T/b/thr/resolve/$THR_SHA/thr.bin"
clean; run "aria2c -x8 -s8" aria2c -q -x8 -s8 -k1M --file-allocation=falloc -d "$WORK/out" -o thr.bin "$T/b/thr/resolve/$THR_SHA/thr.bin"
clean; run "iwdl (8 conn)" env HF_ENDPOINT="$T" "$IW" download b/thr --dest "$WORK/out/d" --quiet

echo "== $SMALL_N small files (4-64 KiB)"
clean; run "aria2c -j8" aria2c -q -j8 -d "$WORK/out" -i "$WORK/small-urls.txt"
clean; run "iwdl (--jobs 8)" env HF_ENDPOINT="$H" "$IW" download b/small --dest "$WORK/out/d" --quiet --jobs 8

echo "results in $RES"
