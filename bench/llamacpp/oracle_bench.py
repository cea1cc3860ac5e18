#!/usr/bin/env python3
"""oracle_bench.py - our llama.cpp estimate and node-llama-cpp's against
llama.cpp itself, over synthetic full-size models.  Driven by
bench/llamacpp_oracle.sh (which installs and builds everything); see there.

For every model (a HF config.json of the corpus written as a full-size
sparse GGUF by gguf-synth) and every case of the grid it records:
  llama.cpp  model, KV and compute bytes (llama_get_memory_breakdown, no_alloc
             load) and the output buffer as logged (MiB, 2 decimals)
  ours       imageworks-download estimate FILE --engine llama.cpp --json:
             weights_bytes, the kv_cache and compute terms, the output host term
  peer       node-llama-cpp's GgufInsights formula estimate (insights.mjs)
and prints the error tables (also written to OUT/summary.md).
"""
import argparse, json, os, statistics, subprocess, sys, time

MODELS = [  # corpus config folder, weight type
    ("llama__TinyLlama-1.1B-Chat-v1.0", "f16"),
    ("llama__DeepSeek-R1-Distill-Llama-8B", "q4_k"),
    ("mixtral__Mixtral-8x7B-v0.1", "q4_k"),
    ("qwen2__Gensyn-Qwen2.5-0.5B-Instruct", "f16"),
    ("qwen2__Qwen2.5-7B-Instruct", "q8_0"),
    ("qwen3__Qwen3-0.6B", "f16"),
    ("qwen3__Qwen3-8B", "q4_k"),
    ("qwen3_moe__Qwen3-30B-A3B", "q4_k"),
    ("gemma2__gemma-2-9b-it", "q8_0"),
    ("gemma3_text__mlcpreset-gemma3_1b_it", "f16"),
    ("gemma3__medgemma-27b-it", "q4_k"),
    ("phi3__Phi-3.5-mini-instruct", "f16"),
    ("phi3__phi-4", "q4_k"),
    ("deepseek_v2__mlcpreset-deepseek_v2_lite", "q4_k"),
    ("deepseek_v3__DeepSeek-R1", "q4_k"),
    ("gpt_oss__gpt-oss-120b", "f16"),
]
MMAP_MODELS = ["llama__TinyLlama-1.1B-Chat-v1.0", "qwen2__Gensyn-Qwen2.5-0.5B-Instruct"]
KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}
MiB = 1048576.0


def grid(max_ctx, quick):
    """(ctx per seq, seqs, fa, kv type, ubatch, n_batch, app) cases"""
    ctxs = [c for c in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072) if c <= max_ctx]
    if quick:
        ctxs = [c for c in ctxs if c in (512, 4096, 32768)] or ctxs[:1]
    cases = []
    for ctx in ctxs:
        for seqs in (1, 4):
            for fa in (1, 0):
                for kv in (("f16", "q8_0", "q4_0") if fa else ("f16",)):
                    for ub in ((512,) if quick else (256, 512, 2048)):
                        for app in ("server", "cli"):
                            cases.append((ctx, seqs, fa, kv, ub, 2048, app))
    # Ollama: llama-server with -np 1, -b = -ub = its automatic batch (512, 1024
    # above 4096 tokens, 2048 above 32768), flash attention auto (on), f16 KV;
    # our side is `--engine ollama --context N` with every other input defaulted
    for ctx in ctxs:
        ob = 2048 if ctx > 32768 else 1024 if ctx > 4096 else 512
        cases.append((ctx, 1, 1, "f16", ob, ob, "ollama"))
    # odd contexts: a context that is not a multiple of 256, shared by 3 sequences
    for fa in (1, 0):
        for app in ("server", "cli"):
            cases.append((1000, 3, fa, "f16", 512, 2048, app))
            cases.append((min(3000, max_ctx), 1, fa, "q8_0" if fa else "f16", 512, 2048, app))
    return cases


def case_line(c):
    ctx, seqs, fa, kv, ub, nb, app = c
    t = KV_TYPES[kv]
    return f"{ctx} {seqs} {fa} {t} {t} {ub} {nb} {0 if app == 'cli' else seqs} 0"


def run_oracle(oracle, bins, gguf, cases, mmap=False):
    """llama.cpp's figures per case; a case that makes llama.cpp abort is
    recorded as such and the harness restarts after it"""
    out, i = [], 0
    while i < len(cases):
        args = [oracle, bins, gguf] + (["--mmap"] if mmap else [])
        inp = "".join(case_line(c) + "\n" for c in cases[i:])
        p = subprocess.run(args, input=inp, capture_output=True, text=True,
                           env=dict(os.environ, GGML_NO_BACKTRACE="1"))     # no gdb on an abort
        got = []
        for line in p.stdout.splitlines():
            try:
                got.append(json.loads(line))
            except json.JSONDecodeError:
                break       # a line cut by an abort
        out.extend(got)
        i += len(got)
        if i < len(cases):
            if p.returncode == 0 and not got:
                raise SystemExit(f"oracle produced nothing for {gguf}: {p.stderr[-300:]}")
            if p.returncode != 0 and not got and i == 0 and "failed to load" in (p.stdout + p.stderr):
                raise SystemExit(f"llama.cpp cannot load {gguf}: {p.stdout[-300:]}")
            reason = "llama.cpp aborted"
            for l in p.stderr.splitlines():
                if "GGML_ASSERT" in l or "fatal error" in l or "error" in l.lower():
                    reason = "llama.cpp aborted: " + l.strip()[-160:]
                    break
            out.append({"ok": False, "error": reason})
            i += 1
    return out


def run_ours(cli, gguf, c):
    ctx, seqs, fa, kv, ub, nb, app = c
    if app == "ollama":     # Ollama's defaults, as the estimator resolves them
        args = [cli, "estimate", gguf, "--engine", "ollama", "--json", "--context", str(ctx), "--batch", str(seqs)]
    else:
        args = [cli, "estimate", gguf, "--engine", "llama.cpp", "--json", "--context", str(ctx), "--batch",
                str(seqs), "--flash-attn", "on" if fa else "off", "--kv-dtype", kv, "--ubatch", str(ub),
                "--n-batch", str(nb), "--llama-app", app]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        return {"ok": False, "error": p.stderr.strip()[-200:]}
    j = json.loads(p.stdout)
    term = lambda name, key="terms": next((t["bytes"] for t in j[key] if t["name"] == name), None)
    return {"ok": True, "weights": j["weights_bytes"], "kv": term("kv_cache"), "compute": term("compute"),
            "compute_source": next((t["source"] for t in j["terms"] if t["name"] == "compute"), ""),
            "output": term("output", "host_terms")}


def run_peer(node, gguf, cases):
    inp = "".join(case_line(c) + "\n" for c in cases)
    p = subprocess.run([node, os.path.join(os.path.dirname(__file__), "insights.mjs"), gguf], input=inp,
                       capture_output=True, text=True)
    res = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if len(res) != len(cases):
        return [{"ok": False, "error": p.stderr[-200:]}] * len(cases)
    return res


def rel(a, b):
    return (a - b) / b if b else (0.0 if a == b else float("inf"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--synth", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--bins", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--node", default="node")
    ap.add_argument("--quick", action="store_true", help="a smaller grid (ctx 512/4096/32768, ubatch 512)")
    ap.add_argument("--models", help="comma-separated subset of the model folders")
    ap.add_argument("--apps", help="comma-separated subset of server, cli, ollama")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "models"), exist_ok=True)
    models = MODELS if not a.models else [m for m in MODELS if m[0] in a.models.split(",")]
    rows = []
    t0 = time.time()
    for folder, wtype in models:
        cfg = os.path.join(a.corpus, "configs", folder)
        if not os.path.exists(os.path.join(cfg, "config.json")):
            print(f"skip {folder}: no config.json in the corpus", file=sys.stderr)
            continue
        gguf = os.path.join(a.out, "models", folder + ".gguf")
        s = subprocess.run([a.synth, cfg, gguf, "--type", wtype], capture_output=True, text=True, check=True)
        arch = s.stdout.split(": ")[1].split(",")[0]
        info = subprocess.run([a.cli, "inspect", gguf, "--json"], capture_output=True, text=True, check=True)
        ij = json.loads(info.stdout)
        ij = ij.get("architecture", ij)
        max_ctx = ij.get("context_length") or ij.get("max_position_embeddings") or 4096
        cases = grid(max_ctx, a.quick)
        if a.apps:
            cases = [c for c in cases if c[6] in a.apps.split(",")]
        tm = time.time()
        orc = run_oracle(a.oracle, a.bins, gguf, cases)
        t_oracle = time.time() - tm
        tm = time.time()
        ours = [run_ours(a.cli, gguf, c) for c in cases]
        t_ours = time.time() - tm
        peer = run_peer(a.node, gguf, cases)
        for c, o, u, p in zip(cases, orc, ours, peer):
            rows.append({"model": folder, "arch": arch, "case": dict(zip(
                ("ctx", "seqs", "fa", "kv", "ubatch", "n_batch", "app"), c)), "llama": o, "ours": u, "peer": p})
        print(f"{folder}: {arch}, {len(cases)} cases, llama.cpp {t_oracle:.1f} s, ours {t_ours:.1f} s",
              file=sys.stderr)
    # mmap: a real allocation agrees with no_alloc
    mm = []
    for folder in MMAP_MODELS:
        if not any(r["model"] == folder for r in rows):
            continue
        gguf = os.path.join(a.out, "models", folder + ".gguf")
        cases = [(512, 1, 1, "f16", 512, 2048, "server"), (4096, 1, 0, "f16", 512, 2048, "cli"),
                 (1000, 3, 1, "q8_0", 256, 2048, "server"), (2048, 4, 1, "q4_0", 2048, 2048, "cli")]
        real = run_oracle(a.oracle, a.bins, gguf, cases, mmap=True)
        fit = run_oracle(a.oracle, a.bins, gguf, cases)
        for c, r, f in zip(cases, real, fit):
            same = all(r.get(k) == f.get(k) for k in ("model", "kv", "compute", "output_mib"))
            mm.append({"model": folder, "case": c, "mmap": r, "no_alloc": f, "same": same})
    with open(os.path.join(a.out, "results.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    summary = report(rows, mm, time.time() - t0)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(summary)
    print(summary)


def report(rows, mm, secs):
    L = []
    ok = [r for r in rows if r["llama"].get("ok")]
    refused = [r for r in rows if not r["llama"].get("ok")]
    L.append(f"{len(rows)} cases on {len({r['model'] for r in rows})} models; llama.cpp created {len(ok)} contexts "
             f"and refused or aborted {len(refused)}; {secs:.0f} s in all.\n")
    terms = ("weights", "kv", "compute", "output")

    def ours_err(r, t):
        u, o = r["ours"], r["llama"]
        if not u.get("ok") or u.get(t) is None:
            return None
        if t == "weights":
            return rel(u["weights"], o["model"])
        if t == "output":
            return abs(round(u["output"] / MiB, 2) - float(o["output_mib"]))   # MiB, the log's resolution
        return rel(u[t], o[t])

    def peer_err(r, t):
        p, o = r["peer"], r["llama"]
        if not p.get("ok"):
            return None
        if t == "weights":
            return rel(p["weights"], o["model"])
        if t == "output":
            return abs(round(p["output"] / MiB, 2) - float(o["output_mib"]))
        return rel(p[t], o[t])

    L.append("| term | cases | ours: exact / within 2% | ours max error | ours mean error | node-llama-cpp mean error |")
    L.append("|---|---|---|---|---|---|")
    for t in terms:
        e = [x for x in (ours_err(r, t) for r in ok) if x is not None]
        p = [x for x in (peer_err(r, t) for r in ok) if x is not None]
        if t == "output":
            L.append(f"| output buffer (MiB as logged) | {len(e)} | {sum(1 for x in e if x < 0.005)} match the log | "
                     f"{max(e):.2f} MiB | {statistics.mean(e):.3f} MiB | {statistics.mean(p):.2f} MiB |")
            continue
        exact = sum(1 for x in e if x == 0)
        w2 = sum(1 for x in e if abs(x) <= 0.02)
        L.append(f"| {t} | {len(e)} | {exact} exact, {w2} ({100.0 * w2 / len(e):.1f}%) within 2% | "
                 f"{max(abs(x) for x in e) * 100:.2f}% | {statistics.mean(abs(x) for x in e) * 100:.3f}% | "
                 f"{statistics.mean(abs(x) for x in p) * 100:.1f}% |")
    for app in ("server", "cli", "ollama"):
        rs = [r for r in ok if r["case"]["app"] == app]
        if rs:
            ce = [abs(x) for x in (ours_err(r, "compute") for r in rs) if x is not None]
            ke = [abs(x) for x in (ours_err(r, "kv") for r in rs) if x is not None]
            L.append(f"\n{app}: {len(rs)} cases, KV exact in {sum(1 for x in ke if x == 0)}, compute exact in "
                     f"{sum(1 for x in ce if x == 0)}, within 2% in {sum(1 for x in ce if x <= 0.02)}")
    pk = [abs(x) for x in (peer_err(r, "kv") for r in ok if r["case"]["kv"] == "f16") if x is not None]
    if pk:
        L.append(f"\nnode-llama-cpp's KV with an f16 cache only: mean error {statistics.mean(pk) * 100:.2f}% "
                 f"({sum(1 for x in pk if x == 0)} of {len(pk)} exact); its q8_0/q4_0 figures are 32x too large.")
    L.append("")
    L.append("Per architecture, mean |error| (ours / node-llama-cpp):\n")
    L.append("| arch | models | cases | weights | KV | compute | compute max (ours) |")
    L.append("|---|---|---|---|---|---|---|")
    for arch in sorted({r["arch"] for r in ok}):
        rs = [r for r in ok if r["arch"] == arch]
        cells = []
        for t in ("weights", "kv", "compute"):
            e = [abs(x) for x in (ours_err(r, t) for r in rs) if x is not None]
            p = [abs(x) for x in (peer_err(r, t) for r in rs) if x is not None]
            cells.append(f"{statistics.mean(e) * 100:.3f}% / {statistics.mean(p) * 100:.1f}%")
        ce = [abs(x) for x in (ours_err(r, "compute") for r in rs) if x is not None]
        L.append(f"| {arch} | {len({r['model'] for r in rs})} | {len(rs)} | {' | '.join(cells)} | {max(ce) * 100:.2f}% |")
    worst = sorted((r for r in ok if ours_err(r, "compute") is not None), key=lambda r: -abs(ours_err(r, "compute")))[:5]
    L.append("\nLargest compute errors (ours):\n")
    for r in worst:
        L.append(f"- {r['model']} {r['case']}: llama.cpp {r['llama']['compute']}, ours {r['ours']['compute']} "
                 f"({ours_err(r, 'compute') * 100:+.2f}%, {r['ours']['compute_source']})")
    if refused:
        L.append("\nCases llama.cpp refused or aborted on:\n")
        seen = {}
        for r in refused:
            k = (r["model"], r["llama"].get("error", "")[:120])
            seen[k] = seen.get(k, 0) + 1
        for (m, e), n in sorted(seen.items()):
            L.append(f"- {m}: {n} x {e}")
    if mm:
        same = sum(1 for x in mm if x["same"])
        L.append(f"\nReal allocation (mmap of the sparse file, KV and compute buffers allocated) vs no_alloc: "
                 f"{same} of {len(mm)} cases report identical model, KV, compute and output bytes.")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main()
