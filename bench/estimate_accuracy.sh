#!/usr/bin/env bash
# estimate_accuracy.sh - compare `imageworks-download estimate` with memory
# figures logged by vLLM and llama.cpp in public issue threads.
#
# usage: bench/estimate_accuracy.sh [BUILD_DIR]   (default build)
# Needs jq, the CLI built in BUILD_DIR, and ../shared/corpus (the real
# config.json files; override with IW_CORPUS_DIR).  Models whose config is
# not in the corpus get a config.json written here from the values published
# on their Hugging Face model page.  Prints the markdown table of
# bench/estimate_accuracy.md.  Method: bench/estimate_accuracy.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
cli=$build/imageworks-download
corpus=${IW_CORPUS_DIR:-$root/../shared/corpus}/configs
[ -x "$cli" ] || { echo "no CLI at $cli" >&2; exit 2; }
[ -d "$corpus" ] || { echo "corpus absent: $corpus" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export IMAGEWORKS_REGISTRY_DIR=$tmp/registry

mk() { mkdir -p "$tmp/$1"; cat > "$tmp/$1/config.json"; }
# meta-llama/Meta-Llama-3-8B (config.json as published)
mk llama3-8b <<'EOF'
{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4096,"intermediate_size":14336,
 "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"vocab_size":128256,
 "max_position_embeddings":8192,"torch_dtype":"bfloat16","rope_theta":500000.0,"tie_word_embeddings":false}
EOF
# meta-llama/Llama-3.1-8B-Instruct
mk llama31-8b <<'EOF'
{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":4096,"intermediate_size":14336,
 "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"vocab_size":128256,
 "max_position_embeddings":131072,"torch_dtype":"bfloat16","rope_theta":500000.0,"tie_word_embeddings":false,
 "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}}
EOF
# Qwen/Qwen3-235B-A22B-FP8
mk qwen3-235b-fp8 <<'EOF'
{"architectures":["Qwen3MoeForCausalLM"],"model_type":"qwen3_moe","hidden_size":4096,"intermediate_size":12288,
 "moe_intermediate_size":1536,"num_experts":128,"num_experts_per_tok":8,"num_hidden_layers":94,
 "num_attention_heads":64,"num_key_value_heads":4,"head_dim":128,"vocab_size":151936,
 "max_position_embeddings":40960,"torch_dtype":"bfloat16","tie_word_embeddings":false,
 "quantization_config":{"quant_method":"fp8","activation_scheme":"dynamic","fmt":"e4m3","weight_block_size":[128,128]}}
EOF
# deepseek-ai/DeepSeek-R1-Distill-Qwen-14B (= Qwen2.5-14B shapes)
mk r1-distill-qwen-14b <<'EOF'
{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","hidden_size":5120,"intermediate_size":13824,
 "num_hidden_layers":48,"num_attention_heads":40,"num_key_value_heads":8,"vocab_size":152064,
 "max_position_embeddings":131072,"torch_dtype":"bfloat16","tie_word_embeddings":false,"use_sliding_window":false}
EOF
# TechxGenus/DeepSeek-Coder-V2-Lite-Instruct-AWQ (DeepSeek-V2-Lite shapes + AWQ 4-bit g128)
mk dsv2-lite-awq <<'EOF'
{"architectures":["DeepseekV2ForCausalLM"],"model_type":"deepseek_v2","hidden_size":2048,"intermediate_size":10944,
 "moe_intermediate_size":1408,"n_routed_experts":64,"n_shared_experts":2,"num_experts_per_tok":6,
 "first_k_dense_replace":1,"moe_layer_freq":1,"num_hidden_layers":27,"num_attention_heads":16,
 "num_key_value_heads":16,"kv_lora_rank":512,"q_lora_rank":null,"qk_nope_head_dim":128,"qk_rope_head_dim":64,
 "v_head_dim":128,"vocab_size":102400,"max_position_embeddings":163840,"torch_dtype":"float16",
 "tie_word_embeddings":false,
 "quantization_config":{"quant_method":"awq","bits":4,"group_size":128,"zero_point":true,"version":"gemm"}}
EOF
# CohereForAI/c4ai-command-r-v01 (MHA: 64 KV heads)
mk command-r-v01 <<'EOF'
{"architectures":["CohereForCausalLM"],"model_type":"cohere","hidden_size":8192,"intermediate_size":22528,
 "num_hidden_layers":40,"num_attention_heads":64,"num_key_value_heads":64,"vocab_size":256000,
 "max_position_embeddings":8192,"torch_dtype":"float16","rope_theta":8000000.0,"tie_word_embeddings":true}
EOF

# google/gemma-3-270m (18 layers, 1 KV head x 256, window 512, every 6th layer full)
mk gemma3-270m <<'EOF'
{"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","hidden_size":640,"intermediate_size":2048,
 "num_hidden_layers":18,"num_attention_heads":4,"num_key_value_heads":1,"head_dim":256,"vocab_size":262144,
 "max_position_embeddings":32768,"sliding_window":512,"rope_theta":1000000.0,"rope_local_base_freq":10000.0,
 "query_pre_attn_scalar":256,"torch_dtype":"bfloat16","tie_word_embeddings":true,
 "layer_types":["sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
  "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
  "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention"]}
EOF
# neuralmagic/Meta-Llama-3.1-70B-Instruct-quantized.w8a8: the Llama-3.1-70B config (corpus
# mlcpreset-llama3_1_70b) + its compressed-tensors config (int8 weights per channel, lm_head kept)
mk llama31-70b-w8a8 <<'EOF'
{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":8192,"intermediate_size":28672,
 "num_hidden_layers":80,"num_attention_heads":64,"num_key_value_heads":8,"vocab_size":128256,
 "max_position_embeddings":131072,"torch_dtype":"bfloat16","rope_theta":500000.0,"tie_word_embeddings":false,
 "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
 "quantization_config":{"quant_method":"compressed-tensors","format":"int-quantized","ignore":["lm_head"],
  "config_groups":{"group_0":{"targets":["Linear"],
   "weights":{"num_bits":8,"type":"int","symmetric":true,"strategy":"channel","group_size":null,"dynamic":false},
   "input_activations":{"num_bits":8,"type":"int","symmetric":true,"strategy":"token","dynamic":true}}}}}
EOF

est() { "$cli" estimate "$@" --json 2>/dev/null || true; }
GiB='1073741824'
MiB='1048576'
term() { jq -r --arg n "$1" --argjson u "$2" '[.terms[]|select(.name==$n).bytes][0] / $u'; }
# vLLM: KV memory left = budget - every non-KV term
avail() { jq -r --argjson u "$GiB" '(.budget - ([.terms[]|select(.name!="kv_cache" and .name!="state").bytes]|add)) / $u'; }
# tokens for a logged KV memory (GiB) with our bytes/token, in 16-token blocks
tok_of() { jq -r --argjson g "$1" --argjson u "$GiB" '((($g*$u) / .kv_bytes_per_token / 16)|floor) * 16'; }

printf '| # | model | engine, settings (from the log) | quantity | logged | ours | error | source |\n'
printf '|---|---|---|---|---|---|---|---|\n'
n=0
row() {  # model settings quantity logged ours url
    n=$((n + 1))
    err=$(awk -v a="$5" -v b="$4" 'BEGIN{ if (b == 0) print "n/a"; else printf "%+.1f%%", (a-b)/b*100 }')
    printf '| %d | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$1" "$2" "$3" "$4" "$5" "$err" "$6"
}
r2() { awk -v x="$1" 'BEGIN{printf "%.2f", x}'; }
r4() { awk -v x="$1" 'BEGIN{printf "%.4f", x}'; }

# 1-3 Meta-Llama-3-8B on H100 (79.22 GiB), util 0.90, V0 profile (mbt 8192, 256 seqs, graphs outside the profile)
j=$(est "$tmp/llama3-8b" --context 8192 --batch 256 --vram 79.22GiB --gpu-util 0.90 --enforce-eager --max-num-batched-tokens 8192)
row "Meta-Llama-3-8B" "vLLM tp1, H100 79.22 GiB, util 0.90" "weights GiB" 14.96 "$(r2 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#10511](https://github.com/vllm-project/vllm/pull/10511)"
row "Meta-Llama-3-8B" "vLLM tp1, same" "KV memory GiB" 53.29 "$(r2 "$(echo "$j" | avail)")" "[vllm-project/vllm#10511](https://github.com/vllm-project/vllm/pull/10511)"
j=$(est "$tmp/llama3-8b" --context 8192 --tp 2 --vram 79.22GiB --enforce-eager)
row "Meta-Llama-3-8B" "vLLM tp2, H100" "weights GiB/rank" 7.48 "$(r2 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#10511](https://github.com/vllm-project/vllm/pull/10511)"

# 4-7 Llama-3.1-8B-Instruct on RTX 3090 (23.58 GiB), util 0.90, V0 without chunked prefill (mbt = max_model_len)
for c in 20000:3.81:31232 29000:2.89:23648; do
    ctx=${c%%:*}; rest=${c#*:}; gib=${rest%%:*}; tok=${rest#*:}
    j=$(est "$tmp/llama31-8b" --context "$ctx" --batch 256 --vram 23.58GiB --gpu-util 0.90 --enforce-eager --max-num-batched-tokens "$ctx")
    [ "$ctx" = 20000 ] && row "Llama-3.1-8B-Instruct" "vLLM, RTX 3090 23.58 GiB, util 0.90, max_model_len 20000" "weights GiB" 14.9888 "$(r2 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#10517](https://github.com/vllm-project/vllm/issues/10517)"
    row "Llama-3.1-8B-Instruct" "vLLM, max_model_len $ctx" "KV tokens for the logged $gib GiB" "$tok" "$(echo "$j" | tok_of "$gib")" "[vllm-project/vllm#10517](https://github.com/vllm-project/vllm/issues/10517)"
    row "Llama-3.1-8B-Instruct" "vLLM, max_model_len $ctx (end to end)" "KV tokens" "$tok" "$(echo "$j" | jq -r .kv_capacity_tokens)" "[vllm-project/vllm#10517](https://github.com/vllm-project/vllm/issues/10517)"
done

# 8 DeepSeek-R1-Distill-Qwen-14B, TP2 on 2x RTX 4090
j=$(est "$tmp/r1-distill-qwen-14b" --context 8192 --tp 2 --vram 24GiB)
row "DeepSeek-R1-Distill-Qwen-14B" "vLLM tp2, 2x RTX 4090, util 0.98" "weights GiB/rank" 13.9476 "$(r2 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#13061](https://github.com/vllm-project/vllm/issues/13061)"

# 9 Qwen3-235B-A22B-FP8, TP4 on H100: 8.11 GiB -> 178,880 tokens
j=$(est "$tmp/qwen3-235b-fp8" --context 8192 --tp 4 --vram 80GiB)
row "Qwen3-235B-A22B-FP8" "vLLM tp4, 4x H100, KV auto (bf16)" "KV tokens for the logged 8.11 GiB" 178880 "$(echo "$j" | tok_of 8.11)" "[vllm-project/vllm#21348](https://github.com/vllm-project/vllm/issues/21348)"

# 10-11 gpt-oss-120b on one H100 (MXFP4): Model loading took ...
# (the MoE kernel each log names: the padding of MXFP4 experts follows it)
j=$(est "$corpus/gpt_oss__gpt-oss-120b" --engine vllm@0.10.1 --context 8192 --vram 80GiB --mxfp4-backend marlin)
row "gpt-oss-120b" "vLLM 0.10.1, H100 (Marlin MXFP4)" "weights GiB" 65.9651 "$(r2 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#23278](https://github.com/vllm-project/vllm/issues/23278)"
j=$(est "$corpus/gpt_oss__gpt-oss-120b" --engine vllm@0.14.1 --context 8192 --vram 80GiB --mxfp4-backend triton)
row "gpt-oss-120b" "vLLM 0.14.1, H100 (Triton MXFP4)" "weights GiB" 64.38 "$(r2 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#33155](https://github.com/vllm-project/vllm/issues/33155)"

# 12 DeepSeek-Coder-V2-Lite-Instruct-AWQ (MLA): 59.75 GiB -> 116023 blocks
j=$(est "$tmp/dsv2-lite-awq" --engine vllm@0.7.2 --context 163840 --vram 80GiB)
row "DeepSeek-Coder-V2-Lite-Instruct-AWQ" "vLLM 0.7 (V0, Triton MLA)" "weights GiB" 10.45 "$(r2 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#13109](https://github.com/vllm-project/vllm/pull/13109)"
row "DeepSeek-Coder-V2-Lite-Instruct-AWQ" "vLLM 0.7, MLA latent" "KV tokens for the logged 59.75 GiB" 1856368 "$(echo "$j" | tok_of 59.75)" "[vllm-project/vllm#13109](https://github.com/vllm-project/vllm/pull/13109)"

# 14-16 gpt-oss-120b in Ollama's llama-server: n_ctx 262144 = 2 seqs x 131072, n_ubatch 1024, FA, f16 KV
# (the logs of rows 16-18, 23, 28 and 30 predate llama-server's one output row per slot:
#  every program then reserved logits for the whole ubatch, as --llama-app cli models)
j=$(est "$corpus/gpt_oss__gpt-oss-120b" --engine llama.cpp --context 131072 --batch 2 --ubatch 1024 --flash-attn on --llama-app cli)
kv=$(echo "$j" | term kv_cache $MiB)
row "gpt-oss-120b (GGUF)" "llama.cpp, n_ctx 262144 (2 x 131072), ubatch 1024, FA" "KV MiB (9216 full + 90 SWA)" 9306 "$(r2 "$kv")" "[ollama/ollama#16480](https://github.com/ollama/ollama/issues/16480)"
row "gpt-oss-120b (GGUF)" "llama.cpp, same settings" "compute buffer MiB" 796 "$(r2 "$(echo "$j" | term compute $MiB)")" "[ollama/ollama#16416](https://github.com/ollama/ollama/issues/16416)"

# 17 Qwen2.5-3B: compute buffer at n_ubatch 512
j=$(est "$corpus/qwen2__Qwen2.5-3B-Instruct" --engine llama.cpp --context 4096 --llama-app cli)
row "Qwen2.5-3B-Instruct (GGUF)" "llama.cpp, n_ubatch 512, full offload" "CUDA0 compute buffer MiB" 300.75 "$(r2 "$(echo "$j" | term compute $MiB)")" "[SciSharp/LLamaSharp#1099](https://github.com/SciSharp/LLamaSharp/issues/1099)"
# 18 Qwen2.5-7B: compute buffer (log truncated after \"304\")
j=$(est "$corpus/qwen2__Qwen2.5-7B-Instruct" --engine llama.cpp --context 2048 --flash-attn off --llama-app cli)
row "Qwen2.5-7B-Instruct (GGUF)" "llama.cpp, n_ubatch 512, full offload" "CUDA0 compute buffer MiB" 304 "$(r2 "$(echo "$j" | term compute $MiB)")" "[abetlen/llama-cpp-python#1901](https://github.com/abetlen/llama-cpp-python/pull/1901)"
# 19 Qwen2.5-Coder-32B (shapes of DeepSeek-R1-Distill-Qwen-32B): kv_size 32768, q8_0
j=$(est "$corpus/qwen2__DeepSeek-R1-Distill-Qwen-32B" --engine llama.cpp --context 32768 --kv-dtype q8_0 --flash-attn on)
row "Qwen2.5-Coder-32B (GGUF)" "llama.cpp, kv_size 32768, -ctk/-ctv q8_0" "KV self size MiB" 4352 "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[ggml-org/llama.cpp#11200](https://github.com/ggml-org/llama.cpp/issues/11200)"
# 20 DeepSeek-R1 MLA cache, n_ctx 32768, f16 (K^R 244 + c^KV 1952)
j=$(est "$corpus/deepseek_v3__DeepSeek-R1" --engine llama.cpp --context 32768)
row "DeepSeek-R1 (GGUF)" "llama.cpp MLA, n_ctx 32768, f16" "KV self size MiB" 2196 "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[ggml-org/llama.cpp#11446](https://github.com/ggml-org/llama.cpp/pull/11446)"
# 21 Command-R v01 (MHA), n_ctx 4096, f16: freq_base 8000000 and 40 layers identify it in the log
j=$(est "$tmp/command-r-v01" --engine llama.cpp --context 4096)
row "c4ai-command-r-v01 (GGUF)" "llama.cpp, n_ctx 4096, f16 (MHA, 64 KV heads)" "KV self size MiB" 5120 "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[ggml-org/llama.cpp#6122](https://github.com/ggml-org/llama.cpp/pull/6122)"
# 22-23 Phi-3-mini-128k (MHA 32 x 96; shapes of the corpus Phi-3.5-mini-instruct config), n_ctx 131328, f16, no FA
j=$(est "$corpus/phi3__Phi-3.5-mini-instruct" --engine llama.cpp --context 131328 --flash-attn off --llama-app cli)
row "Phi-3-mini-128k-instruct (GGUF)" "llama.cpp, n_ctx 131328, f16, flash_attn 0" "KV self size MiB" 49248 "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[ggml-org/llama.cpp#6849](https://github.com/ggml-org/llama.cpp/issues/6849)"
row "Phi-3-mini-128k-instruct (GGUF)" "llama.cpp, same (buffer on the CPU backend)" "compute buffer MiB" 8500.51 "$(r2 "$(echo "$j" | term compute $MiB)")" "[ggml-org/llama.cpp#6849](https://github.com/ggml-org/llama.cpp/issues/6849)"

# 24 Qwen3-30B-A3B, vLLM 0.8.5 (V1), TP4 on 4x A10: "Model loading took 14.2474 GiB" on every rank
j=$(est "$corpus/qwen3_moe__Qwen3-30B-A3B" --context 8192 --tp 4 --vram 24GB)
row "Qwen3-30B-A3B" "vLLM 0.8.5 (V1) tp4, 4x A10, bf16" "weights GiB/rank" 14.2474 "$(r4 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#17469](https://github.com/vllm-project/vllm/issues/17469)"
# 25 Meta-Llama-3.1-70B-Instruct-quantized.w8a8, vLLM V1, --max-model-len 2048 --gpu-memory-utilization 0.98:
#    "Loading model weights took 67.7229 GB" (vLLM divides by 2^30)
j=$(est "$tmp/llama31-70b-w8a8" --context 2048 --vram 80GiB --gpu-util 0.98)
row "Llama-3.1-70B-Instruct w8a8 (int8)" "vLLM V1 (Jan 2025), tp1, max_model_len 2048, util 0.98" "weights GiB" 67.7229 "$(r4 "$(echo "$j" | term weights $GiB)")" "[vllm-project/vllm#12569](https://github.com/vllm-project/vllm/pull/12569)"
# 26 dolphin-2.2.1-mistral-7B: Mistral-7B-v0.1 shapes (32 layers, 8 KV heads x 128), the corpus
#    Mistral-7B-Instruct-v0.2 config stands in; n_ctx 4096, f16 -> "kv self size = 512.00 MB"
j=$(est "$corpus/mistral__Mistral-7B-Instruct-v0.2" --engine llama.cpp --context 4096)
row "dolphin-2.2.1-mistral-7B (GGUF)" "llama.cpp, n_ctx 4096, f16, 35/35 layers on GPU" "kv self size MiB" 512 "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[h2oai/h2ogpt#1072](https://github.com/h2oai/h2ogpt/issues/1072)"
# 27-30 a model the log does not name: 32 layers (1030 graph nodes), freq_base 1e6, 128 KiB KV per
#    token = Mistral-7B-Instruct-v0.2 shapes; n_ctx 2048 then 32768, n_ubatch 512, flash_attn 0
for c in 2048:256:164 32768:4096:2144; do
    ctx=${c%%:*}; rest=${c#*:}; kv=${rest%%:*}; cb=${rest#*:}
    j=$(est "$corpus/mistral__Mistral-7B-Instruct-v0.2" --engine llama.cpp --context "$ctx" --flash-attn off --llama-app cli)
    row "unnamed (Mistral-7B-v0.2 shapes, GGUF)" "llama.cpp, n_ctx $ctx, f16, flash_attn 0" "KV self size MiB" "$kv" "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[fedora-copr/logdetective#106](https://github.com/fedora-copr/logdetective/pull/106)"
    row "unnamed (Mistral-7B-v0.2 shapes, GGUF)" "llama.cpp, n_ctx $ctx, same" "CUDA0 compute buffer MiB" "$cb" "$(r2 "$(echo "$j" | term compute $MiB)")" "[fedora-copr/logdetective#106](https://github.com/fedora-copr/logdetective/pull/106)"
done
# 31-34 Gemma-3-270m in llama-server (3 full + 15 SWA layers): n_ctx / --parallel -> KV MiB,
#    read back from llama_kv_cache_iswa ("server" column of the verifier table)
for c in 4096:1:27 1024:4:72 512:8:72 4096:2:54; do
    ctx=${c%%:*}; rest=${c#*:}; np=${rest%%:*}; mib=${rest#*:}
    j=$(est "$tmp/gemma3-270m" --engine llama.cpp --context "$ctx" --batch "$np")
    row "gemma-3-270m (GGUF)" "llama-server, n_ctx $((ctx * np)), --parallel $np, f16" "KV MiB" "$mib" "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[unslothai/unsloth#5225](https://github.com/unslothai/unsloth/pull/5225)"
done
# 35-36 the same with n_ctx 1024: 3 slots get PAD(341, 256) = 512 cells each (1536 in all), 4 slots 256 each
for c in 341:3:27 256:4:18; do
    ctx=${c%%:*}; rest=${c#*:}; np=${rest%%:*}; mib=${rest#*:}
    j=$(est "$tmp/gemma3-270m" --engine llama.cpp --context "$ctx" --batch "$np")
    row "gemma-3-270m (GGUF)" "llama-server, n_ctx 1024, --parallel $np ($ctx per slot)" "KV MiB" "$mib" "$(r2 "$(echo "$j" | term kv_cache $MiB)")" "[unslothai/unsloth#7530](https://github.com/unslothai/unsloth/pull/7530)"
done
