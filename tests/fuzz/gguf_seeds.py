#!/usr/bin/env python3
"""Generate the small GGUF seed files in tests/fuzz/seeds/gguf/ (no corpus copies).

Usage: python3 tests/fuzz/gguf_seeds.py tests/fuzz/seeds/gguf
"""
import os
import struct
import sys

T = dict(U8=0, I8=1, U16=2, I16=3, U32=4, I32=5, F32=6, BOOL=7, STR=8, ARR=9, U64=10, I64=11, F64=12)
FMT = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: 'B', 10: 'Q', 11: 'q', 12: 'd'}
# ggml type -> (block, bytes)
GG = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210), 30: (1, 2), 39: (32, 17), 42: (64, 18)}


class W:
    def __init__(self, version=3, be=False):
        self.v, self.e, self.b = version, '>' if be else '<', bytearray()

    def p(self, fmt, *a):
        self.b += struct.pack(self.e + fmt, *a)

    def size(self, n):
        self.p('I' if self.v == 1 else 'Q', n)

    def s(self, txt):
        raw = txt.encode() if isinstance(txt, str) else txt
        self.size(len(raw))
        self.b += raw

    def val(self, t, v):
        if t == T['STR']:
            self.s(v)
        elif t == T['ARR']:
            et, items = v
            self.p('I', et)
            self.size(len(items))
            for it in items:
                self.val(et, it)
        else:
            self.p(FMT[t], v)

    def kv(self, k, t, v):
        self.s(k)
        self.p('I', t)
        self.val(t, v)


def build(version=3, be=False, kvs=(), tensors=(), align=32):
    w = W(version, be)
    w.b += b'GGUF'
    w.p('I', version)
    w.size(len(tensors))
    w.size(len(kvs))
    for k, t, v in kvs:
        w.kv(k, t, v)
    off = 0
    data = 0
    for name, ne, typ in tensors:
        w.s(name)
        w.p('I', len(ne))
        for d in ne:
            w.p('I' if version == 1 else 'Q', d)
        w.p('i', typ)
        w.p('Q', off)
        n = 1
        for d in ne:
            n *= d
        blk, sz = GG[typ]
        nb = n // blk * sz
        off += (nb + align - 1) // align * align
    data = off
    pad = (-len(w.b)) % align
    return bytes(w.b) + b'\0' * pad + b'\0' * data


def llama_kvs(arch='llama', extra=()):
    return [('general.architecture', T['STR'], arch),
            (arch + '.block_count', T['U32'], 2),
            (arch + '.context_length', T['U32'], 128),
            (arch + '.embedding_length', T['U32'], 64),
            (arch + '.feed_forward_length', T['U32'], 128),
            (arch + '.attention.head_count', T['U32'], 4),
            (arch + '.attention.head_count_kv', T['U32'], 2),
            (arch + '.rope.freq_base', T['F32'], 10000.0),
            (arch + '.attention.layer_norm_rms_epsilon', T['F32'], 1e-5),
            ('general.file_type', T['U32'], 15),
            ('tokenizer.ggml.tokens', T['ARR'], (T['STR'], ['<s>', '</s>', 'a', 'b'])),
            ('tokenizer.ggml.scores', T['ARR'], (T['F32'], [0.0, 0.0, -1.0, -2.0]))] + list(extra)


def llama_tensors():
    ts = [('token_embd.weight', [64, 4], 12 if False else 0), ('output_norm.weight', [64], 0)]
    for i in range(2):
        ts += [('blk.%d.attn_q.weight' % i, [256, 2], 12), ('blk.%d.attn_v.weight' % i, [256, 1], 14),
               ('blk.%d.ffn_down.weight' % i, [64, 2], 8), ('blk.%d.attn_norm.weight' % i, [64], 0)]
    return ts


def all_types():
    return [('t.u8', T['U8'], 200), ('t.i8', T['I8'], -5), ('t.u16', T['U16'], 60000), ('t.i16', T['I16'], -300),
            ('t.u32', T['U32'], 4000000000), ('t.i32', T['I32'], -70000), ('t.f32', T['F32'], 1.5),
            ('t.bool', T['BOOL'], 1), ('t.str', T['STR'], 'hello'), ('t.u64', T['U64'], 2 ** 40),
            ('t.i64', T['I64'], -2 ** 40), ('t.f64', T['F64'], 2.25),
            ('t.arr', T['ARR'], (T['ARR'], [(T['I32'], [1, 2]), (T['STR'], ['x'])]))]


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        'v3_le_llama.gguf': build(3, False, llama_kvs(), llama_tensors()),
        'v3_be_llama.gguf': build(3, True, llama_kvs(), llama_tensors()),
        'v2_le_types.gguf': build(2, False, all_types()),
        'v1_le_types.gguf': build(1, False, all_types() + llama_kvs()),
        'v3_moe_perlayer.gguf': build(3, False, llama_kvs('qwen3moe', [
            ('qwen3moe.expert_count', T['U32'], 4), ('qwen3moe.expert_used_count', T['U32'], 2),
            ('qwen3moe.attention.sliding_window', T['U32'], 32),
            ('qwen3moe.attention.sliding_window_pattern', T['ARR'], (T['BOOL'], [1, 0])),
            ('qwen3moe.rope.scaling.type', T['STR'], 'yarn'), ('qwen3moe.rope.scaling.factor', T['F32'], 4.0)])[:5] +
            [('qwen3moe.attention.head_count_kv', T['ARR'], (T['I32'], [2, 0])),
             ('qwen3moe.ssm.state_size', T['U32'], 16), ('qwen3moe.attention.kv_lora_rank', T['U32'], 8)],
            [('blk.0.ffn_up_exps.weight', [32, 8, 4], 39), ('blk.1.x.weight', [64, 3], 42)]),
        'v3_mmproj.gguf': build(3, False, [('general.architecture', T['STR'], 'clip'),
                                           ('clip.projector_type', T['STR'], 'mlp'),
                                           ('clip.vision.image_size', T['U32'], 224),
                                           ('clip.vision.patch_size', T['U32'], 14),
                                           ('general.alignment', T['U32'], 64)],
                                [('v.patch_embd.weight', [14, 14, 3, 8], 1)], align=64),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'tests/fuzz/seeds/gguf')
