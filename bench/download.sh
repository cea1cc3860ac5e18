#!/usr/bin/env bash
# bench/download.sh - download benchmarks, results in docs/benchmarks.md ("Download").
#
#   (d) the disk: durable write rate of a BIG_MB file (dd ... conv=fdatasync),
#       measured in the same run: the physical limit of (a)
#   (a) a BIG_MB file, unthrottled loopback, vs the equal-work pipeline
#       curl URL | tee FILE | openssl dgst -sha256; sync -d FILE     goal >= 1.0x
#       (and the ratio to the disk's durable rate, reported)
#   (b) nginx limit_rate per connection (RATES, MB/s), THR_MB file,
#       vs aria2c -x8 -s8 -k1M   goal >= 1.3x,  vs aria2c -x16 -s16 -k1M   goal >= 1.0x,
#       and (reported) aria2c -x16 doing our work: --checksum=sha-256=..., then sync -d
#   (r) restricted servers (limit_rate RESTRICT_RATE per connection, THR_MB):
#       one that refuses Range (nginx max_ranges 0: 200 + whole file) and one
#       that allows 2 connections at once (limit_conn: 503 beyond), vs our own
#       --connections 1                                          goal >= 1.0x, no error
#   (c) SMALL_N small files: time vs the BASE_REF build (default main)
#       goal <= 1.1x (no regression: the run-to-run spread of one binary is
#       larger than 10%), and vs aria2c -j8 (reported)
#   (m) peak RSS of imageworks-download over every run above      goal <= 64 MiB
#   (e) bytes moved by a remote `inspect` of repos with multi-GB (sparse)
#       weights, on tools/fakehub                                goal < 2 MiB
#
# (a)-(r) run against nginx (Debian package) on 127.0.0.1, started from a
# private config and prefix under the work dir (never the system instance)
# and stopped on exit.  nginx serves a static "hub": the two API answers
# (revision -> sha, tree listing) are files, the resolve URLs are symlinks to
# the generated data, so imageworks-download runs its normal path (pin, list,
# ranged fetch, sha256 / git-sha1 verification, fdatasync, rename).  curl and
# aria2c fetch the same resolve URLs.
#
# Every measurement runs REPS times, tools interleaved within a repetition
# and their order rotated from one repetition to the next; the summary gives
# median and min-max, and one line per goal with the ratio
# of medians, the worst and best pairing of single runs, PASS/FAIL and the
# range of the 1-minute load average over that part's runs (the machine may
# be shared; the load is also printed with every run).  With LOAD_MAX set,
# each repetition first waits (up to LOAD_WAIT_S) for the 1-minute load to
# drop to LOAD_MAX and says what it saw.
#
# Missing packages (nginx, aria2, curl, python3, time, openssl) are installed
# with apt-get (sudo when not root); the Release builds are configured/updated
# in BUILD_DIR and BASE_BUILD.  Everything generated lives in a fresh work dir
# under BENCH_TMP, removed on exit; nginx and fakehub are stopped by their pids.
# imageworks-download runs with --quiet --no-architecture (the download only)
# and HF_HOME / IMAGEWORKS_REGISTRY_DIR inside the work dir.
#
# Usage: bench/download.sh [BUILD_DIR]     (default SOURCE/build-bench: Release, no sanitizers)
# Env:   REPS (5)           repetitions of every measurement
#        BIG_MB (2048)      size of the unthrottled file
#        RATES ("4 25")     nginx limit_rate per connection for (b), MB/s (one or two)
#        RESTRICT_RATE (25) limit_rate per connection for (r), MB/s
#        THR_MB (256)       size of the throttled file
#        SMALL_N (500)      number of small files (4-64 KiB)
#        BASE_REF (main)    git ref built as the baseline: the goal of (c), a before/after
#                           line in (a) and (b) ("" skips it)
#        BASE_BUILD (SOURCE/build-bench-base)  where it is built (from git archive)
#        LOAD_MAX, LOAD_WAIT_S (600)  wait for a 1-minute load <= LOAD_MAX
#        ONLY (dabrce)      which parts to run ((m) comes with any of a, b, r, c)
#        BENCH_TMP (/tmp)   parent of the work dir (a fresh mktemp dir per run,
#                           removed on exit unless KEEP=1; ~2.6 GiB, plus ~10 MiB
#                           on disk for 24 GiB of sparse files)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench}
REPS=${REPS:-5}
BIG_MB=${BIG_MB:-2048}
RATES=${RATES:-"4 25"}
RESTRICT_RATE=${RESTRICT_RATE:-25}
THR_MB=${THR_MB:-256}
SMALL_N=${SMALL_N:-500}
BASE_REF=${BASE_REF-main}
BASE_BUILD=${BASE_BUILD:-$SRC/build-bench-base}
LOAD_MAX=${LOAD_MAX:-}
LOAD_WAIT_S=${LOAD_WAIT_S:-600}
ONLY=${ONLY:-dabrce}
KEEP=${KEEP:-0}

# ---- peers ------------------------------------------------------------------
# package:command
PEERS="nginx:nginx aria2:aria2c curl:curl python3:python3 time:/usr/bin/time openssl:openssl"
missing=()
for pc in $PEERS; do
  p=${pc%%:*}; c=${pc#*:}
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "bench: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  echo "bench: installing ${missing[*]}"
  # Debian's nginx postinst starts the system service unless policy-rc.d
  # forbids it; this benchmark never uses that instance.
  export DEBIAN_FRONTEND=noninteractive
  # wait for another apt run (shared machine) instead of failing
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)

# ---- builds -----------------------------------------------------------------
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DIW_SANITIZE=OFF -DIW_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" -j2 --target imageworks-download fakehub >/dev/null
BTYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")
BSAN=$(sed -n 's/^IW_SANITIZE:BOOL=//p' "$BUILD/CMakeCache.txt")
IW="$BUILD/imageworks-download"
FAKEHUB="$BUILD/fakehub"
IWBASE=""; BASE_COMMIT=""
if [[ $ONLY == *[abc]* ]] && [ -n "$BASE_REF" ]; then
  # the baseline (before/after in a, b; the goal of c): BASE_REF exported
  # with git archive and built once
  # per commit (the commit is kept in BASE_BUILD/.bench-commit)
  BASE_COMMIT=$(git -C "$SRC" rev-parse --verify "$BASE_REF^{commit}")
  if [ "$(cat "$BASE_BUILD/.bench-commit" 2>/dev/null)" != "$BASE_COMMIT" ]; then
    echo "== building $BASE_REF (${BASE_COMMIT:0:12}) in $BASE_BUILD"
    rm -rf "$BASE_BUILD"; mkdir -p "$BASE_BUILD/src"
    git -C "$SRC" archive "$BASE_COMMIT" | tar -x -C "$BASE_BUILD/src"
    cmake -S "$BASE_BUILD/src" -B "$BASE_BUILD" -DCMAKE_BUILD_TYPE=Release -DIW_SANITIZE=OFF -DIW_TESTS=OFF >/dev/null
    cmake --build "$BASE_BUILD" -j2 --target imageworks-download >/dev/null
    echo "$BASE_COMMIT" > "$BASE_BUILD/.bench-commit"
  fi
  IWBASE="$BASE_BUILD/imageworks-download"
fi

# ---- work dir, cleanup ------------------------------------------------------
WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/iw-bench-dl.XXXXXX")
chmod 755 "$WORK"    # nginx workers (user nobody when root) read it
NGINX_PID=""; HUB_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
  if [ "$KEEP" = 1 ]; then echo "bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/out" "$WORK/nginx-tmp"
RAW="$WORK/raw.tsv"; : > "$RAW"          # part name rep seconds rss_kib cpu_seconds load1
INSP="$WORK/inspect.tsv"; : > "$INSP"    # repo rep bytes_transferred log_range_bytes log_total_bytes header_bytes

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load1() { cut -d' ' -f1 /proc/loadavg; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_load PART REP: with LOAD_MAX, wait until the 1-minute load is at most
# LOAD_MAX (checking every 5 s, at most LOAD_WAIT_S), and say what was seen
wait_load() {
  [ -n "$LOAD_MAX" ] || return 0
  local waited=0 lowest; lowest=$(load1)
  while awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN { exit !(l > m) }'; do
    [ "$waited" -ge "$LOAD_WAIT_S" ] && break
    sleep 5; waited=$((waited + 5))
    lowest=$(awk -v a="$lowest" -v b="$(load1)" 'BEGIN { print (b < a ? b : a) }')
  done
  echo "  ($1 rep $2: waited ${waited} s for a load <= $LOAD_MAX; now $(loadavg), lowest seen $lowest)"
}

echo "== machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr), $(($(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024)) MiB RAM"
echo "== disk: $(df -hT "$WORK" | awk 'NR==2 {print $1, $2, $3}') under $WORK"
echo "== tools: $("$NGINX_BIN" -v 2>&1 | sed 's/.*: //'), $(curl --version | head -1 | cut -d' ' -f1-2), $(aria2c --version | head -1), imageworks-download $BTYPE (IW_SANITIZE=$BSAN) in $BUILD${IWBASE:+, baseline $BASE_REF ${BASE_COMMIT:0:12}}"
echo "== load average at start: $(loadavg)   (REPS=$REPS${LOAD_MAX:+, LOAD_MAX=$LOAD_MAX})"
[ "$BTYPE" = Release ] && [ "$BSAN" != ON ] || echo "bench: WARNING: $BUILD is not a Release build without sanitizers"

# ---- timed runs -------------------------------------------------------------
# timed PART NAME REP CMD...: wall seconds, peak RSS (KiB), CPU seconds (user
# + system, children included) and the 1-minute load just before CMD.
timed() {
  local part=$1 name=$2 rep=$3; shift 3
  local la; la=$(loadavg)
  if ! /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/logs/last.err"; then
    echo "bench: $name (rep $rep) FAILED:" >&2; cat "$WORK/logs/last.err" >&2; exit 1
  fi
  local secs rss us sy; read -r secs rss us sy < "$WORK/time.txt"
  local cpu; cpu=$(awk -v u="$us" -v s="$sy" 'BEGIN { printf "%.2f", u + s }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$part" "$name" "$rep" "$secs" "$rss" "$cpu" "${la%% *}" >> "$RAW"
  printf '  %-36s rep %d  %7.2f s  cpu %6.2f s  %7d KiB  (load %s)\n' "$name" "$rep" "$secs" "$cpu" "$rss" "$la"
}
clean() { rm -rf "$WORK/out"; mkdir -p "$WORK/out"; sync; }
check_size() {   # FILE BYTES: a peer's download must be complete
  local got; got=$(stat -c %s "$1" 2>/dev/null || echo 0)
  [ "$got" = "$2" ] || { echo "bench: $1 is $got bytes, expected $2" >&2; exit 1; }
}
IWENV=(env HF_HOME="$WORK/hf" IMAGEWORKS_REGISTRY_DIR="$WORK/registry" XDG_CONFIG_HOME="$WORK/config"
       IMAGEWORKS_MODEL_ROOT="$WORK/out" HF_TOKEN= HF_HUB_OFFLINE=)
# iwdl PART NAME REP ENDPOINT REPO [ARGS...]: our download (BIN=... for another build)
iwdl() {
  local part=$1 name=$2 rep=$3 ep=$4 repo=$5; shift 5
  timed "$part" "$name" "$rep" "${IWENV[@]}" HF_ENDPOINT="$ep" "${BIN:-$IW}" download "$repo" \
    --dest "$WORK/out/d" --quiet --no-architecture "$@"
}

# ---- nginx as a static hub --------------------------------------------------
if [[ $ONLY == *[dabrc]* ]]; then
  echo "== generating data (${BIG_MB} MiB, ${THR_MB} MiB, $SMALL_N small files)"
  python3 - "$WORK/www" "$BIG_MB" "$THR_MB" "$SMALL_N" <<'PYEOF'
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
for i in range(small_n):
    data = os.urandom(4096 + (i * 7919) % 60000)
    p = f"{www}/data/small/f{i:04d}.json"; open(p, "wb").write(data)
    g1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    files.append((f"f{i:04d}.json", p, len(data), None, g1))
repo("small", files)
PYEOF
  ports=()
  while [ ${#ports[@]} -lt 5 ]; do
    p=$(free_port); [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
  done
  PORT=${ports[0]}; NRPORT=${ports[1]}; CAPPORT=${ports[2]}; TPORTS=("${ports[3]}" "${ports[4]}")
  H="http://127.0.0.1:$PORT"
  sha_of() { python3 -c 'import hashlib,sys;print(hashlib.sha1(sys.argv[1].encode()).hexdigest())' "$1"; }
  BIG_SHA=$(sha_of big); THR_SHA=$(sha_of thr); SMALL_SHA=$(sha_of small)
  for i in $(seq -f "%04g" 0 $((SMALL_N - 1))); do
    echo "$H/b/small/resolve/$SMALL_SHA/f$i.json"
  done > "$WORK/small-urls.txt"
  read -r -a rates <<< "$RATES"
  [ ${#rates[@]} -ge 1 ] && [ ${#rates[@]} -le 2 ] || { echo "bench: RATES takes one or two rates" >&2; exit 1; }
  THROTTLED=""
  for k in "${!rates[@]}"; do
    THROTTLED+="  server { listen 127.0.0.1:${TPORTS[$k]}; root $WORK/www; limit_rate ${rates[$k]}m; }"$'\n'
  done
  USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user nobody nogroup;"
  cat > "$WORK/nginx.conf" <<NGEOF
$USER_LINE
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-tmp/body;
  proxy_temp_path $WORK/nginx-tmp/proxy;
  fastcgi_temp_path $WORK/nginx-tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx-tmp/uwsgi;
  scgi_temp_path $WORK/nginx-tmp/scgi;
  sendfile on; tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  limit_conn_zone \$server_port zone=perport:1m;
  server { listen 127.0.0.1:$PORT; root $WORK/www; }
$THROTTLED
  # (r): one server refuses Range (always 200 and the whole file), the other
  # allows 2 connections at once (503 beyond); both cap each connection
  server { listen 127.0.0.1:$NRPORT;  root $WORK/www; limit_rate ${RESTRICT_RATE}m; max_ranges 0; }
  server { listen 127.0.0.1:$CAPPORT; root $WORK/www; limit_rate ${RESTRICT_RATE}m;
           limit_conn perport 2; limit_conn_status 503; }
}
NGEOF
  "$NGINX_BIN" -e "$WORK/logs/error.log" -p "$WORK" -c "$WORK/nginx.conf" &
  NGINX_PID=$!
  for _ in $(seq 50); do curl -fsS -o /dev/null "$H/api/models/b/big/revision/main" 2>/dev/null && break; sleep 0.1; done
  curl -fsS -o /dev/null "$H/api/models/b/big/revision/main" || { echo "bench: nginx did not start" >&2; cat "$WORK/logs/error.log" >&2; exit 1; }
  echo "== nginx pid $NGINX_PID on $H (unthrottled); limit_rate per connection: ${RATES} MB/s on ${TPORTS[*]:0:${#rates[@]}}; no Range on $NRPORT, 2 connections on $CAPPORT (${RESTRICT_RATE} MB/s each)"
fi

if [[ $ONLY == *d* ]]; then
  echo "== (d) the disk: durable write of ${BIG_MB} MiB from the page cache"
  cat "$WORK/www/data/big.bin" > /dev/null
  for r in $(seq "$REPS"); do
    wait_load d "$r"
    clean; timed d "dd bs=8M conv=fdatasync" "$r" dd if="$WORK/www/data/big.bin" of="$WORK/out/disk.bin" bs=8M conv=fdatasync status=none
  done
fi

# Each repetition runs its tools in a rotated order (rep 1: A B C, rep 2:
# B C A, ...), so none always runs first (cold) or right after a given peer.
rotate() {   # rotate N ITEM...: the items, starting at the (N mod count)-th
  local n=$1; shift
  local k=$(( n % $# )) i
  local items=("$@")
  for i in $(seq 0 $(($# - 1))); do echo "${items[$(( (i + k) % $# ))]}"; done
}

if [[ $ONLY == *a* ]]; then
  echo "== (a) ${BIG_MB} MiB file, unthrottled loopback"
  BIGB=$((BIG_MB << 20)); U="$H/b/big/resolve/$BIG_SHA/big.bin"
  a_curl() { clean; timed a "curl -o" "$r" curl -sS -o "$WORK/out/big.bin" "$U"; check_size "$WORK/out/big.bin" $BIGB; }
  a_iwdl() { clean; iwdl a "iwdl" "$r" "$H" b/big; }
  # the same work as ours with standard tools: fetch, hash (OpenSSL, as we
  # do) while writing, then make the file durable
  a_pipe() {
    clean; timed a "curl | tee | openssl sha256; sync -d" "$r" bash -o pipefail -c \
      "curl -sS '$U' | tee '$WORK/out/big.bin' | openssl dgst -sha256 >/dev/null && sync -d '$WORK/out/big.bin'"
    check_size "$WORK/out/big.bin" $BIGB
  }
  a_iwdl1() { clean; iwdl a "iwdl --connections 1" "$r" "$H" b/big --connections 1; }
  a_base() { clean; BIN=$IWBASE iwdl a "base $BASE_REF" "$r" "$H" b/big; }
  steps=(a_curl a_iwdl a_pipe a_iwdl1); [ -n "$IWBASE" ] && steps+=(a_base)
  for r in $(seq "$REPS"); do
    wait_load a "$r"
    for st in $(rotate $((r - 1)) "${steps[@]}"); do $st; done
  done
fi

if [[ $ONLY == *b* ]]; then
  THRB=$((THR_MB << 20))
  b_x8()  { clean; timed "b$rt" "aria2c -x8 -s8 -k1M" "$r" aria2c -q -x8 -s8 -k1M --file-allocation=falloc -d "$WORK/out" -o thr.bin "$U"; check_size "$WORK/out/thr.bin" $THRB; }
  b_x16() { clean; timed "b$rt" "aria2c -x16 -s16 -k1M" "$r" aria2c -q -x16 -s16 -k1M --file-allocation=falloc -d "$WORK/out" -o thr.bin "$U"; check_size "$WORK/out/thr.bin" $THRB; }
  # the same work as ours: aria2c checks the sha256 after the download
  # (--checksum), then the file is made durable
  THR_SHA256=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["lfs"]["oid"])' \
               "$WORK/www/api/models/b/thr/tree/$THR_SHA")
  b_x16v() { clean; timed "b$rt" "aria2c -x16 +sha256 +sync -d" "$r" sh -c 'aria2c -q -x16 -s16 -k1M --file-allocation=falloc --checksum=sha-256="$1" -d "$2" -o thr.bin "$3" && sync -d "$2/thr.bin"' sh "$THR_SHA256" "$WORK/out" "$U"; check_size "$WORK/out/thr.bin" $THRB; }
  b_iwdl() { clean; iwdl "b$rt" "iwdl" "$r" "$TU" b/thr; }
  b_base() { clean; BIN=$IWBASE iwdl "b$rt" "base $BASE_REF" "$r" "$TU" b/thr; }
  steps=(b_x8 b_x16 b_x16v b_iwdl); [ -n "$IWBASE" ] && steps+=(b_base)
  for k in "${!rates[@]}"; do
    rt=${rates[$k]}; TU="http://127.0.0.1:${TPORTS[$k]}"; U="$TU/b/thr/resolve/$THR_SHA/thr.bin"
    echo "== (b) ${THR_MB} MiB file, nginx limit_rate ${rt}m per connection"
    for r in $(seq "$REPS"); do
      wait_load "b$rt" "$r"
      for st in $(rotate $((r - 1)) "${steps[@]}"); do $st; done
    done
  done
fi

if [[ $ONLY == *r* ]]; then
  THRB=$((THR_MB << 20))
  r_curl() { clean; timed "r-$srv" "curl -o" "$r" curl -fsS -o "$WORK/out/thr.bin" "$U"; check_size "$WORK/out/thr.bin" $THRB; }
  r_iwdl() { clean; iwdl "r-$srv" "iwdl" "$r" "$TU" b/thr; }
  r_iwdl1() { clean; iwdl "r-$srv" "iwdl --connections 1" "$r" "$TU" b/thr --connections 1; }
  for srv in norange cap2; do
    if [ $srv = norange ]; then port=$NRPORT; what="refuses Range"; else port=$CAPPORT; what="allows 2 connections (503 beyond)"; fi
    TU="http://127.0.0.1:$port"; U="$TU/b/thr/resolve/$THR_SHA/thr.bin"
    echo "== (r) ${THR_MB} MiB file from a server that $what, limit_rate ${RESTRICT_RATE}m per connection"
    for r in $(seq "$REPS"); do
      wait_load "r-$srv" "$r"
      for st in $(rotate $((r - 1)) r_curl r_iwdl r_iwdl1); do $st; done
    done
  done
fi

if [[ $ONLY == *c* ]]; then
  echo "== (c) $SMALL_N small files (4-64 KiB)"
  c_aria() {
    clean; timed c "aria2c -j8" "$r" aria2c -q -j8 -d "$WORK/out" -i "$WORK/small-urls.txt"
    n=$(find "$WORK/out" -name '*.json' | wc -l); [ "$n" = "$SMALL_N" ] || { echo "bench: aria2c fetched $n files" >&2; exit 1; }
  }
  c_iwdl() { clean; iwdl c "iwdl --jobs 8" "$r" "$H" b/small --jobs 8; }
  c_base() { clean; BIN=$IWBASE iwdl c "base $BASE_REF --jobs 8" "$r" "$H" b/small --jobs 8; }
  steps=(c_aria c_iwdl); [ -n "$IWBASE" ] && steps+=(c_base)
  for r in $(seq "$REPS"); do
    wait_load c "$r"
    for st in $(rotate $((r - 1)) "${steps[@]}"); do $st; done
  done
fi

if [ -n "$NGINX_PID" ]; then
  kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""
  [ "$KEEP" = 1 ] || rm -rf "$WORK/www" "$WORK/out"
fi

# ---- (e): remote inspect on fakehub, sparse multi-GB weights ----------------
if [[ $ONLY == *e* ]]; then
  echo "== (e) remote inspect: generating sparse repos"
  python3 - "$WORK/hub" <<'EOF'
import json, os, struct, sys
root = sys.argv[1]
def mkrepo(name):
    d = f"{root}/bench/{name}"; os.makedirs(d, exist_ok=True); return d

# --- Llama-2-7B as published: config.json, two bf16 safetensors shards, index
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
       "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
       "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
       "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "torch_dtype": "float16",
       "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu"}
H, I, V, L = 4096, 11008, 32000, 32
tensors = [("model.embed_tokens.weight", [V, H])]
for i in range(L):
    p = f"model.layers.{i}."
    tensors += [(p + "input_layernorm.weight", [H]), (p + "mlp.down_proj.weight", [H, I]),
                (p + "mlp.gate_proj.weight", [I, H]), (p + "mlp.up_proj.weight", [I, H]),
                (p + "post_attention_layernorm.weight", [H]),
                (p + "self_attn.k_proj.weight", [H, H]), (p + "self_attn.o_proj.weight", [H, H]),
                (p + "self_attn.q_proj.weight", [H, H]), (p + "self_attn.v_proj.weight", [H, H])]
tensors += [("model.norm.weight", [H]), ("lm_head.weight", [V, H])]
def nbytes(shape):
    n = 2
    for s in shape: n *= s
    return n
shards = [tensors[:1 + 9 * 23], tensors[1 + 9 * 23:]]   # ~9.9 GB + ~3.6 GB, like the Hub's split
d = mkrepo("llama-2-7b-safetensors")
json.dump(cfg, open(f"{d}/config.json", "w"), indent=2)
wmap, total = {}, 0
header_bytes = 0
for k, part in enumerate(shards):
    fn = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for n, shape in part:
        hdr[n] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + nbytes(shape)]}
        off += nbytes(shape); wmap[n] = fn
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(f"{d}/{fn}", "wb") as f:
        f.write(struct.pack("<Q", len(hj))); f.write(hj)
        f.truncate(8 + len(hj) + off)          # sparse: no data blocks
    total += off; header_bytes += 8 + len(hj)
json.dump({"metadata": {"total_size": total}, "weight_map": wmap},
          open(f"{d}/model.safetensors.index.json", "w"), indent=2)
open(f"{root}/header-bytes.llama-2-7b-safetensors", "w").write(str(header_bytes))

# --- GGUF v3 writer
def gstr(s):
    b = s.encode(); return struct.pack("<Q", len(b)) + b
T_U32, T_I32, T_F32, T_STR, T_ARR = 4, 5, 6, 8, 9
def kv(key, t, v):
    out = gstr(key) + struct.pack("<I", t)
    if t == T_U32: out += struct.pack("<I", v)
    elif t == T_F32: out += struct.pack("<f", v)
    elif t == T_STR: out += gstr(v)
    elif t == T_ARR:
        et, items = v
        out += struct.pack("<IQ", et, len(items))
        if et == T_STR: out += b"".join(gstr(x) for x in items)
        elif et == T_F32: out += struct.pack(f"<{len(items)}f", *items)
        elif et == T_I32: out += struct.pack(f"<{len(items)}i", *items)
    return out
GGML_F32, GGML_Q8_0, GGML_Q4_K, GGML_Q6_K = 0, 8, 12, 14
BLK = {GGML_F32: (1, 4), GGML_Q8_0: (32, 34), GGML_Q4_K: (256, 144), GGML_Q6_K: (256, 210)}
def gguf(path, kvs, tinfo):
    """tinfo: (name, ne[] innermost first, type)"""
    body, off, infos = b"", 0, []
    for n, ne, t in tinfo:
        cnt = 1
        for x in ne: cnt *= x
        bs, ts = BLK[t]; sz = cnt // bs * ts
        infos.append(gstr(n) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", t, off))
        off += sz + (-sz % 32)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tinfo), len(kvs)) + b"".join(kvs) + b"".join(infos)
    head += b"\0" * (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head); f.truncate(len(head) + off)
    return len(head)
def llama_tensors(L, H, I, V, HKV, wt):
    t = [("token_embd.weight", [H, V], wt)]
    for i in range(L):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", [H], GGML_F32), (p + "attn_q.weight", [H, H], wt),
              (p + "attn_k.weight", [H, HKV], wt), (p + "attn_v.weight", [H, HKV], wt),
              (p + "attn_output.weight", [H, H], wt), (p + "ffn_norm.weight", [H], GGML_F32),
              (p + "ffn_gate.weight", [H, I], wt), (p + "ffn_up.weight", [H, I], wt),
              (p + "ffn_down.weight", [I, H], wt)]
    return t + [("output_norm.weight", [H], GGML_F32), ("output.weight", [H, V], wt)]
def llama_kvs(name, L, H, I, heads, kvh, ctx, theta, tok_model, tokens, merges, ftype):
    k = [kv("general.architecture", T_STR, "llama"), kv("general.name", T_STR, name),
         kv("llama.context_length", T_U32, ctx), kv("llama.embedding_length", T_U32, H),
         kv("llama.block_count", T_U32, L), kv("llama.feed_forward_length", T_U32, I),
         kv("llama.rope.dimension_count", T_U32, H // heads), kv("llama.attention.head_count", T_U32, heads),
         kv("llama.attention.head_count_kv", T_U32, kvh), kv("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5),
         kv("llama.rope.freq_base", T_F32, theta), kv("general.file_type", T_U32, ftype),
         kv("tokenizer.ggml.model", T_STR, tok_model), kv("tokenizer.ggml.tokens", T_ARR, (T_STR, tokens))]
    if tok_model == "llama":
        k.append(kv("tokenizer.ggml.scores", T_ARR, (T_F32, [float(-i) for i in range(len(tokens))])))
    k.append(kv("tokenizer.ggml.token_type", T_ARR, (T_I32, [1] * len(tokens))))
    if merges:
        k.append(kv("tokenizer.ggml.merges", T_ARR, (T_STR, merges)))
    k += [kv("tokenizer.ggml.bos_token_id", T_U32, 1), kv("tokenizer.ggml.eos_token_id", T_U32, 2),
          kv("general.quantization_version", T_U32, 2)]
    return k
# Llama-2-7B Q8_0 (~7.2 GB): a 32,000-piece sentencepiece vocab (0.77 MiB of header, as published GGUFs)
spm = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
spm += [f"\u2581p{i}" for i in range(32000 - len(spm))]
d = mkrepo("llama-2-7b-gguf")
n = gguf(f"{d}/llama-2-7b.Q8_0.gguf", llama_kvs("Llama-2-7B", 32, 4096, 11008, 32, 32, 4096, 10000.0, "llama", spm, None, 7),
         llama_tensors(32, 4096, 11008, 32000, 4096, GGML_Q8_0))
open(f"{root}/header-bytes.llama-2-7b-gguf", "w").write(str(n))
# Llama-3-8B Q4_K (~4.5 GB): 128,256-token BPE vocab + 280,147 merges (8.4 MiB of header)
bpe = [f"\u0120t{i:x}" for i in range(128256)]
merges = [f"\u0120a{i:x} b{i:x}" for i in range(280147)]
d = mkrepo("llama-3-8b-gguf")
n = gguf(f"{d}/llama-3-8b.Q4_K_M.gguf", llama_kvs("Llama-3-8B", 32, 4096, 14336, 32, 8, 8192, 500000.0, "gpt2", bpe, merges, 15),
         llama_tensors(32, 4096, 14336, 128256, 1024, GGML_Q4_K))
open(f"{root}/header-bytes.llama-3-8b-gguf", "w").write(str(n))
EOF
  du -sh --apparent-size "$WORK/hub/bench" | sed 's/^/   apparent size /'
  du -sh "$WORK/hub/bench" | sed 's/^/   on disk       /'
  echo "   fakehub hashes the sparse files before it is ready (sha256 of every byte)"
  "$FAKEHUB" --root "$WORK/hub" --ready-file "$WORK/hub.ready" --log "$WORK/logs/fakehub.jsonl" >/dev/null 2>"$WORK/logs/fakehub.err" &
  HUB_PID=$!
  for _ in $(seq 1200); do [ -s "$WORK/hub.ready" ] && break; kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.25; done
  [ -s "$WORK/hub.ready" ] || { echo "bench: fakehub did not start" >&2; cat "$WORK/logs/fakehub.err" >&2; exit 1; }
  read -r HUB_URL _ < "$WORK/hub.ready"
  echo "== (e) fakehub pid $HUB_PID on $HUB_URL"
  for repo in llama-2-7b-safetensors llama-2-7b-gguf llama-3-8b-gguf; do
    for r in $(seq "$REPS"); do
      curl -fsS -X POST -o /dev/null "$HUB_URL/_control/reset"
      "${IWENV[@]}" HF_ENDPOINT="$HUB_URL" "$IW" inspect "bench/$repo" --json > "$WORK/inspect.json" 2>"$WORK/logs/last.err" || {
        echo "bench: inspect bench/$repo failed:" >&2; cat "$WORK/logs/last.err" >&2; exit 1; }
      curl -fsS -o "$WORK/hublog.json" "$HUB_URL/_control/log"
      python3 - "$WORK/inspect.json" "$WORK/hublog.json" "$WORK/hub/header-bytes.$repo" "$repo" "$r" >> "$INSP" <<'EOF'
import json, sys
ins, log = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
hdr = int(open(sys.argv[3]).read())
files = sum(e["bytes"] for e in log if e["host"] == "cdn" or "/resolve/" in e["path"])
total = sum(e["bytes"] for e in log)
params = (ins.get("parameters") or {}).get("total")
print(f"{sys.argv[4]}\t{sys.argv[5]}\t{ins.get('bytes_transferred')}\t{files}\t{total}\t{hdr}\t{len(log)}\t{params}")
EOF
      tail -1 "$INSP" | awk -F'\t' '{printf "  %-28s rep %d  inspect --json bytes_transferred %s, fakehub log: %s file bytes, %s bytes in %s requests (header %s B, params %s)\n", $1, $2, $3, $4, $5, $7, $6, $8}'
    done
  done
  kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""
fi

echo "== load average at end: $(loadavg)"

# ---- summary ----------------------------------------------------------------
python3 - "$RAW" "$INSP" "$BIG_MB" "$THR_MB" "$SMALL_N" "$RESTRICT_RATE" "${IWBASE:+$BASE_REF}" <<'PYEOF'
import statistics, sys
raw, insp = sys.argv[1], sys.argv[2]
big_mb, thr_mb, small_n, rrate, base = int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
t, rss, cpu, load = {}, {}, {}, {}
for line in open(raw):
    part, name, rep, secs, kib, c, la = line.rstrip("\n").split("\t")
    k = (part, name)
    t.setdefault(k, []).append(float(secs))
    rss.setdefault(k, []).append(int(kib))
    cpu.setdefault(k, []).append(float(c))
    load.setdefault(part, []).append(float(la))
def med(k): return statistics.median(t[k])
if t:
    print("== summary (median, min-max over %d runs)" % max(len(v) for v in t.values()))
    for k, v in t.items():
        print(f"  ({k[0]}) {k[1]:<36} {med(k):7.2f} s  [{min(v):.2f}-{max(v):.2f}]  cpu {statistics.median(cpu[k]):6.2f} s"
              f"  peak RSS max {max(rss[k]) / 1024:.1f} MiB")
    for part, v in load.items():
        print(f"  1-minute load during ({part}): {min(v):.2f}-{max(v):.2f}, median {statistics.median(v):.2f}")
goals = []
def lr(part):
    v = load.get(part)
    return f"load {min(v):.1f}-{max(v):.1f}" if v else ""
def faster(ours, peer):
    """throughput ratio = the peer's time / ours (ratio of medians), and the
    worst and best pairing of single runs"""
    r = med(peer) / med(ours)
    return r, f"{r:.2f}x [{min(t[peer]) / max(t[ours]):.2f}-{max(t[peer]) / min(t[ours]):.2f}]"
MB = big_mb * 1.048576
disk = None
if ("d", "dd bs=8M conv=fdatasync") in t:
    disk = MB / med(("d", "dd bs=8M conv=fdatasync"))
    goals.append((f"(d) disk: durable write of {big_mb} MiB", f"{disk:.0f} MB/s", "(limit)", None, lr("d")))
if ("a", "iwdl") in t:
    r, s = faster(("a", "iwdl"), ("a", "curl | tee | openssl sha256; sync -d"))
    goals.append((f"(a) {big_mb} MiB unthrottled: vs curl|tee|openssl; sync -d", s, ">= 1.0x", r >= 1.0, lr("a")))
    ours = MB / med(("a", "iwdl"))
    if disk:
        goals.append((f"(a) {big_mb} MiB unthrottled: vs the disk's durable rate",
                      f"{ours / disk:.2f}x ({ours:.0f} of {disk:.0f} MB/s)", "(report)", None, lr("a")))
    r, s = faster(("a", "iwdl"), ("a", "curl -o"))
    goals.append((f"(a) {big_mb} MiB unthrottled: vs curl -o (no hash, no sync)", s, "(report)", None, lr("a")))
    r, s = faster(("a", "iwdl"), ("a", "iwdl --connections 1"))
    goals.append((f"(a) {big_mb} MiB unthrottled: vs our --connections 1", s, "(report)", None, lr("a")))
    if base and ("a", f"base {base}") in t:
        r, s = faster(("a", "iwdl"), ("a", f"base {base}"))
        goals.append((f"(a) {big_mb} MiB unthrottled: vs {base}", s, "(report)", None, lr("a")))
for part in sorted((p for p in load if p.startswith("b")), key=lambda p: float(p[1:])):
    for peer, goal in (("aria2c -x8 -s8 -k1M", 1.3), ("aria2c -x16 -s16 -k1M", 1.0)):
        if (part, peer) in t and (part, "iwdl") in t:
            r, s = faster((part, "iwdl"), (part, peer))
            goals.append((f"(b) limit_rate {part[1:]}m, {thr_mb} MiB: vs {peer}", s, f">= {goal}x", r >= goal, lr(part)))
    if (part, "aria2c -x16 +sha256 +sync -d") in t and (part, "iwdl") in t:
        r, s = faster((part, "iwdl"), (part, "aria2c -x16 +sha256 +sync -d"))
        goals.append((f"(b) limit_rate {part[1:]}m, {thr_mb} MiB: vs aria2c -x16 --checksum; sync -d (same work)", s, "(report)", None, lr(part)))
    if base and (part, f"base {base}") in t:
        r, s = faster((part, "iwdl"), (part, f"base {base}"))
        goals.append((f"(b) limit_rate {part[1:]}m, {thr_mb} MiB: vs {base}", s, "(report)", None, lr(part)))
for srv, what in (("norange", "refuses Range"), ("cap2", "2 connections")):
    part = "r-" + srv
    if (part, "iwdl") in t:
        r, s = faster((part, "iwdl"), (part, "iwdl --connections 1"))
        goals.append((f"(r) {what}, {rrate}m/conn: vs our --connections 1", s, ">= 1.0x", r >= 1.0, lr(part)))
        r, s = faster((part, "iwdl"), (part, "curl -o"))
        goals.append((f"(r) {what}, {rrate}m/conn: vs curl -o", s, "(report)", None, lr(part)))
if ("c", "iwdl --jobs 8") in t:
    ours = ("c", "iwdl --jobs 8")
    if base and ("c", f"base {base} --jobs 8") in t:
        b = ("c", f"base {base} --jobs 8")
        r = med(ours) / med(b)
        s = f"{r:.2f}x [{min(t[ours]) / max(t[b]):.2f}-{max(t[ours]) / min(t[b]):.2f}]"
        goals.append((f"(c) {small_n} small files: time vs {base}", s, "<= 1.1x", r <= 1.1, lr("c")))
    a = ("c", "aria2c -j8")
    r = med(ours) / med(a)
    goals.append((f"(c) {small_n} small files: time vs aria2c -j8", f"{r:.2f}x", "(report)", None, lr("c")))
peaks = [max(v) for (p, n), v in rss.items() if n.startswith("iwdl")]
if peaks:
    m = max(peaks) / 1024
    goals.append(("(m) peak RSS of imageworks-download, every run", f"{m:.1f} MiB", "<= 64 MiB", m <= 64, ""))
rows = [l.rstrip("\n").split("\t") for l in open(insp)]
for repo in dict.fromkeys(r[0] for r in rows):
    rr = [r for r in rows if r[0] == repo]
    tot = max(int(r[4]) for r in rr)
    agree = all(r[2] == r[3] for r in rr)
    hdr = int(rr[0][5])
    goals.append((f"(e) inspect {repo}: bytes moved",
                  f"{tot / 1048576:.3f} MiB (header {hdr / 1048576:.2f}, +{(tot - hdr) / 1024:.0f} KiB; inspect {'=' if agree else '!='} log)",
                  "< 2 MiB", tot < 2 << 20 and agree, ""))
print("== goals (ratio of medians [worst-best pairing of single runs])")
for name, meas, goal, ok, la in goals:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {name:<58} {meas:<30} goal {goal:<9} {verdict:<4}  {la}")
PYEOF
