#!/usr/bin/env bash
# One registry folder used alternately by the original imageworks' own code
# and by this tool: scan, migrate, reconcile, validate, estimate --apply,
# verify.  Checks: one entry per install, every backup the user had, the
# same quantization label and GUI (VRAM page) estimate on both sides, the
# original's load leaving our model_registry.json alone, and verify catching
# a changed file after the original rewrote the entry.
#
# Needs a checkout of the original (its code is never committed here and
# nothing is fetched): IMAGEWORKS_SRC=/path/to/imageworks.  Uses Debian's
# python3 with python3-requests python3-httpx python3-typer python3-rich
# (installed when missing) and a built CLI (IW_BUILD_DIR, default build).
# Not part of CI: CI has Debian packages only and may not hold the
# original's code.
#
#   IMAGEWORKS_SRC=~/src/imageworks bash scripts/interop/roundtrip.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${IMAGEWORKS_SRC:?set IMAGEWORKS_SRC to a checkout of mrpid12org/imageworks}"
CLI=${IW_BUILD_DIR:-build}/imageworks-download
PY=/usr/bin/python3
[ -x "$CLI" ] || { echo "roundtrip: build the CLI first ($CLI)" >&2; exit 2; }
if ! $PY -c 'import requests, httpx, typer, rich' 2>/dev/null; then
  apt-get install -y python3-requests python3-httpx python3-typer python3-rich >/dev/null
fi
ORIG="$PY $PWD/scripts/interop/original.py"
export IMAGEWORKS_SRC IMAGEWORKS_SKIP_POST_PROBE=1

T=$(mktemp -d /tmp/iwdl-roundtrip.XXXXXX)
trap 'rm -rf "$T"' EXIT
REG=$T/reg W=$T/weights
export IMAGEWORKS_REGISTRY_DIR=$REG
mkdir -p "$REG" "$W/TheBloke/wizard-mega-13B-GPTQ" "$W/Qwen/Qwen2.5-7B-Instruct"
cat > "$W/TheBloke/wizard-mega-13B-GPTQ/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 5120, "num_hidden_layers": 40,
 "num_attention_heads": 40, "num_key_value_heads": 40, "intermediate_size": 13824, "vocab_size": 32000,
 "max_position_embeddings": 2048, "torch_dtype": "float16",
 "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": false}}
EOF
cat > "$W/Qwen/Qwen2.5-7B-Instruct/config.json" <<'EOF'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28,
 "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
 "max_position_embeddings": 32768, "torch_dtype": "bfloat16"}
EOF
head -c 4096 /dev/urandom > "$W/TheBloke/wizard-mega-13B-GPTQ/model.safetensors"
head -c 2048 /dev/urandom > "$W/Qwen/Qwen2.5-7B-Instruct/model.safetensors"

fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
count() { $PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$REG/model_registry.json"; }
snapsig() { stat -c '%Y.%y %s' "$REG/model_registry.json"; sha256sum < "$REG/model_registry.json"; }
orig_load_keeps_snapshot() {
  local before after
  before=$(snapsig); sleep 1.1
  $ORIG load "$REG" >/dev/null
  after=$(snapsig)
  [ "$before" = "$after" ]
}
label() { $PY -c 'import json,sys; print([e.get("quantization") for e in json.load(open(sys.argv[1])) if e["name"]==sys.argv[2]][0])' "$REG/model_registry.json" "$1"; }

# 1. the original scans first (its load needs a layer file to exist, as its
#    repository ships them), and keeps a backup of its own
echo '[]' > "$REG/model_registry.curated.json"
echo '[]' > "$REG/model_registry.discovered.json"
$ORIG cli "$REG" scan --base "$W" >/dev/null
cp "$REG/model_registry.discovered.json" "$REG/model_registry.discovered.20200101-000000.bak.json"
N0=$(count)
check "the original registered both installs" '[ "$N0" = 2 ]'
GPTQ=$($PY -c 'import json,sys; print([e["name"] for e in json.load(open(sys.argv[1])) if "wizard" in e["name"]][0])' "$REG/model_registry.json")
echo "     the original named it $GPTQ ($(label "$GPTQ"))"

# 2. this tool scans the same installs: no second entry
"$CLI" scan "$W" >/dev/null
check "scan by this tool adds no entry" '[ "$(count)" = "$N0" ]'
check "the original's load leaves our snapshot alone (bytes, mtime)" orig_load_keeps_snapshot

# 3. migrate, reconcile, validate, estimate --apply by this tool
"$CLI" migrate-architecture >/dev/null
mkdir -p "$T/logs"
printf '{"timestamp": "2026-01-01T00:00:00+00:00", "model": "%s", "backend": "vllm", "payload": {"source": "vllm-manager", "metrics": {"runtime_context_tokens": 2048}, "extra_args": ["--max-model-len", "2048"]}}\n' "$GPTQ" > "$T/logs/model_loader_metrics.jsonl"
"$CLI" reconcile-architecture --metrics "$T/logs/model_loader_metrics.jsonl" >/dev/null
"$CLI" validate "$GPTQ" --expected-layers 40 >/dev/null || true
"$CLI" estimate "$GPTQ" --vram 24GiB --apply >/dev/null 2>&1 || true
check "the original's load leaves our snapshot alone after migrate/reconcile/apply" orig_load_keeps_snapshot
L1=$(label "$GPTQ"); G1=$($ORIG gui "$REG" "$GPTQ")

# 4. the original migrates and reconciles (its CLI, its cwd-relative log)
(cd "$T" && $ORIG cli "$REG" migrate-architecture >/dev/null && $ORIG cli "$REG" reconcile-architecture >/dev/null)
L2=$(label "$GPTQ"); G2=$($ORIG gui "$REG" "$GPTQ")
"$CLI" scan "$W" >/dev/null
"$CLI" migrate-architecture >/dev/null
L3=$(label "$GPTQ"); G3=$($ORIG gui "$REG" "$GPTQ")
echo "     labels: $L1 / $L2 / $L3; GUI: $G3"
check "one entry per install after both tools" '[ "$(count)" = 2 ]'
check "the same quantization label on both sides (gptq-int4)" '[ "$L1" = gptq-int4 ] && [ "$L2" = "$L1" ] && [ "$L3" = "$L1" ]'
check "the same GUI estimate on both sides" '[ "$G1" = "$G2" ] && [ "$G2" = "$G3" ]'
check "the GUI sizes the 13B GPTQ model as int4" 'echo "$G3" | grep -q "\"quant\": \"int4\""'
check "the user's backup survived" '[ -f "$REG/model_registry.discovered.20200101-000000.bak.json" ]'
check "the original's backups all survive" '[ "$(ls "$REG" | grep -c "[0-9]\.bak\.json$")" -ge 1 ]'

# 5. the original saves (dropping artifacts sizes); verify still catches a change
$ORIG save "$REG" >/dev/null
check "verify passes the untouched installs" '"$CLI" verify >/dev/null'
printf 'x' >> "$W/Qwen/Qwen2.5-7B-Instruct/model.safetensors"
check "verify catches a changed file after the original's save" '! "$CLI" verify >/dev/null'

[ "$fail" = 0 ] && echo "roundtrip: all checks passed" || { echo "roundtrip: FAILED"; exit 1; }
