#!/usr/bin/env python3
"""Generate the small seed files in tests/fuzz/seeds/safetensors/ for
fuzz_safetensors (run from the repo root; output is deterministic)."""
import json, os, struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "safetensors")
BITS = {"BOOL": 8, "F4": 4, "U8": 8, "I8": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F16": 16, "BF16": 16,
        "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64}

def st(tensors, meta=None, pad=True, data=True):
    hdr, off = {}, 0
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        b = n * BITS[dt] // 8
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + b]}
        off += b
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + (b"\0" * off if data else b"")

def w(name, blob):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(blob)

os.makedirs(OUT, exist_ok=True)
dense = [("model.embed_tokens.weight", "BF16", [10, 8]),
         ("model.layers.0.input_layernorm.weight", "BF16", [8]),
         ("model.layers.0.self_attn.q_proj.weight", "BF16", [8, 8]),
         ("model.layers.0.self_attn.k_proj.weight", "BF16", [4, 8]),
         ("model.layers.0.self_attn.v_proj.weight", "BF16", [4, 8]),
         ("model.layers.0.self_attn.o_proj.weight", "BF16", [8, 8]),
         ("model.layers.0.mlp.gate_proj.weight", "BF16", [16, 8]),
         ("model.layers.0.mlp.up_proj.weight", "BF16", [16, 8]),
         ("model.layers.0.mlp.down_proj.weight", "BF16", [8, 16]),
         ("model.norm.weight", "BF16", [8]), ("lm_head.weight", "BF16", [10, 8])]
w("dense.safetensors", st(dense, {"format": "pt"}))
w("gptq3.safetensors", st([("model.layers.0.self_attn.q_proj.qweight", "I32", [6, 64]),
                           ("model.layers.0.self_attn.q_proj.qzeros", "I32", [2, 6]),
                           ("model.layers.0.self_attn.q_proj.scales", "F16", [2, 64]),
                           ("model.layers.0.self_attn.q_proj.g_idx", "I32", [64])]))
w("mxfp4.safetensors", st([("model.layers.0.mlp.router.weight", "BF16", [4, 8]),
                           ("model.layers.0.mlp.experts.gate_up_proj_blocks", "U8", [4, 16, 1, 16]),
                           ("model.layers.0.mlp.experts.gate_up_proj_scales", "U8", [4, 16, 1])]))
w("bnb4.safetensors", st([("model.layers.0.mlp.up_proj.weight", "U8", [64, 1]),
                          ("model.layers.0.mlp.up_proj.weight.absmax", "F32", [2]),
                          ("model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4", "U8", [8])]))
w("fp8.safetensors", st([("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "F8_E4M3", [16, 8]),
                         ("model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv", "F32", [1, 1]),
                         ("s", "F8_E8M0", [4]), ("f4", "F4", [6]), ("b", "BOOL", []), ("e", "F64", [0])]))
w("experts.safetensors", st([("model.layers.1.mlp.experts.%d.up_proj.weight" % e, "BF16", [2, 2]) for e in range(3)]
                            + [("transformer.h.0.attn.c_attn.weight", "F32", [8, 24])]))
w("nopad_nodata.safetensors", st(dense[:3], pad=False, data=False))
w("overlap.safetensors", struct.pack("<Q", 100) + b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'[:100] + b"\0" * 12)
w("empty.safetensors", struct.pack("<Q", 2) + b"{}")
DUP = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'
w("dup.safetensors", struct.pack("<Q", len(DUP)) + DUP + b"\0\0")
w("index.json", json.dumps({"metadata": {"total_size": 424},
                            "weight_map": {t[0]: "model-0000%d-of-00002.safetensors" % (1 + (i % 2))
                                           for i, t in enumerate(dense)}}).encode())
w("index_bad.json", b'{"metadata":{"total_size":1.5e10},"weight_map":{"a":"../x.safetensors"}}')
