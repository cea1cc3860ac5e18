#!/usr/bin/env python3
"""vllm_eval.py - run `imageworks-download estimate` for every logged vLLM
start-up in bench/vllm_eval.json and print the error table.

usage: bench/vllm_eval.py [BUILD_DIR] [--baseline] [--only SUBSTRING] [--csv FILE]

Each row of bench/vllm_eval.json is one vLLM start-up found in a public
thread, PR or published log (its URL is in the row): the vLLM version, the
model, the settings the log prints (tensor parallelism, max_model_len,
gpu_memory_utilization, max_num_seqs, max_num_batched_tokens, dtype,
quantization, KV dtype, enforce_eager), the GPU and the memory CUDA reported
for it, and the figures vLLM logged.  The architecture comes from a real
config.json: the corpus (../shared/corpus/configs, or $IW_CORPUS_DIR), or a
minimal config written from the model's published config.json, kept under
"configs" with where it came from.  No tensor headers are read, so weights
come from the formula path (parameters x bits).

Figures compared, each with its goal (docs/benchmarks.md):
  weights     our weights term (per rank) vs "Model loading took" /
              "model weights take"                                  3%
  kv/token    the tokens our per-token KV allocation fits in the KV memory
              vLLM logged vs the tokens vLLM logged                 5%
  kv memory   our budget minus every term vLLM subtracts vs vLLM's
              "Available KV cache memory" / kv_cache_size           10%
  kv tokens   our KV pool (kv_capacity_tokens) vs "GPU KV cache size"
              / "# GPU blocks" x 16                                 10%
--baseline runs the estimator as it was before engine versions (no @version,
no --max-num-seqs: the batch stands in for max_num_seqs).
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

GIB = 1 << 30
GOALS = {"weights": 0.03, "kv/token": 0.05, "kv memory": 0.10, "kv tokens": 0.10}


def main():
    args = sys.argv[1:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.join(root, "build")
    baseline = False
    only = None
    csv_out = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--baseline":
            baseline = True
        elif a == "--only":
            i += 1
            only = args[i]
        elif a == "--csv":
            i += 1
            csv_out = args[i]
        else:
            build = a
        i += 1
    cli = os.path.join(build, "imageworks-download")
    if not os.access(cli, os.X_OK):
        sys.exit(f"no CLI at {cli}")
    corpus = os.path.join(os.environ.get("IW_CORPUS_DIR", os.path.join(root, "..", "shared", "corpus")), "configs")
    if not os.path.isdir(corpus):
        sys.exit(f"corpus absent: {corpus}")
    data = json.load(open(os.path.join(root, "bench", "vllm_eval.json")))
    tmp = tempfile.mkdtemp(prefix="vllm_eval.")
    os.environ["IMAGEWORKS_REGISTRY_DIR"] = os.path.join(tmp, "registry")
    try:
        dirs = materialize(data["configs"], corpus, tmp)
        results = []
        for n, row in enumerate(data["rows"], 1):
            if only and only not in row["model"]:
                continue
            results.append(run_row(n, row, dirs, corpus, cli, baseline))
        report(results, csv_out)
    finally:
        shutil.rmtree(tmp)


def materialize(configs, corpus, tmp):
    dirs = {}
    for key, c in configs.items():
        if "base" in c:
            base = json.load(open(os.path.join(corpus, c["base"].split(":", 1)[1], "config.json")))
            base.update(c["merge"])
            cfg = base
        else:
            cfg = c["config"]
        d = os.path.join(tmp, key)
        os.makedirs(d)
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        dirs[key] = d
    return dirs


def est_args(row, baseline):
    a = ["--json"]
    ver = row["vllm"]
    mm = ".".join(ver.split(".")[:2])
    a += ["--engine", "vllm" if baseline else "vllm@" + mm]
    a += ["--tp", str(row.get("tp", 1))]
    if row.get("gpu_gib"):
        a += ["--vram", "%sGiB" % row["gpu_gib"]]
    if row.get("util"):
        a += ["--gpu-util", str(row["util"])]
    if row.get("max_model_len"):
        a += ["--context", str(row["max_model_len"])]
    if row.get("mbt"):
        a += ["--max-num-batched-tokens", str(row["mbt"])]
    if row.get("max_num_seqs"):
        a += ["--batch" if baseline else "--max-num-seqs", str(row["max_num_seqs"])]
    if row.get("kv_dtype") == "fp8":
        a += ["--kv-dtype", "fp8"]
    dt = row.get("dtype")
    if dt in ("float16", "float32"):
        a += ["--dtype", dt]
    if row.get("quant"):
        q = row["quant"]
        a += ["--quantization", "bnb4" if q == "bitsandbytes" else q]
    if row.get("enforce_eager"):
        a += ["--enforce-eager"]
    if row.get("moe_backend") and not baseline:
        a += ["--mxfp4-backend", row["moe_backend"]]
    return a


def run_row(n, row, dirs, corpus, cli, baseline):
    cfg = row["config"]
    path = os.path.join(corpus, cfg.split(":", 1)[1]) if cfg.startswith("corpus:") else dirs[cfg]
    args = [cli, "estimate", path] + est_args(row, baseline)
    p = subprocess.run(args, capture_output=True, text=True)
    res = {"n": n, "row": row, "args": args[3:], "figures": [], "error": None}
    try:
        j = json.loads(p.stdout)
    except ValueError:
        res["error"] = (p.stderr.strip().splitlines() or ["no output"])[-1]
        return res
    lg = row["logged"]
    terms = {t["name"]: t["bytes"] for t in j.get("terms", [])}

    def fig(name, logged, ours, unit):
        if logged is None or ours is None:
            return
        res["figures"].append({"what": name, "logged": logged, "ours": ours, "unit": unit,
                               "err": (ours - logged) / logged if logged else float("inf")})

    if lg.get("weights_gib") and "weights" in terms:
        # vLLM's figure is everything the model loads: a vision tower and the
        # rotary tables we size as their own terms are part of it
        fig("weights", lg["weights_gib"],
            (terms["weights"] + terms.get("vision", 0) + terms.get("rope_cache", 0)) / GIB, "GiB")
    pool = j.get("kv_pool") or {}
    avail = lg.get("kv_avail_gib")
    tokens = lg.get("kv_tokens") or (lg["blocks"] * 16 if lg.get("blocks") else None)
    if avail and avail > 0 and tokens:
        fig("kv/token", tokens, tokens_for(avail * GIB, j, pool), "tokens")
    if avail is not None and j.get("budget") is not None and row.get("gpu_gib"):
        ours = pool.get("available_bytes")
        if ours is None:
            ours = j["budget"] - sum(b for k, b in terms.items() if k not in ("kv_cache", "state"))
        fig("kv memory", avail, ours / GIB, "GiB")
    if tokens and j.get("kv_capacity_tokens") is not None and row.get("gpu_gib") and (avail is None or avail > 0):
        fig("kv tokens", tokens, j["kv_capacity_tokens"], "tokens")
    res["terms"] = {k: v / GIB for k, v in terms.items()}
    return res


def tokens_for(mem, j, pool):
    """The tokens vLLM would report for `mem` bytes with our per-token KV
    allocation: whole 16-token blocks of every KV-cache group (pool), else
    mem / kv_bytes_per_token in 16-token blocks."""
    if pool.get("block_bytes"):
        blocks = math.floor(mem / pool["block_bytes"])
        return blocks // max(pool.get("groups", 1), 1) * pool.get("block_tokens", 16)
    bpt = j.get("kv_bytes_per_token") or 0
    return math.floor(mem / bpt / 16) * 16 if bpt else None


def report(results, csv_out):
    print("| # | model | vLLM | settings | figure | logged | ours | error | source |")
    print("|---|---|---|---|---|---|---|---|---|")
    stats = {k: [0, 0] for k in GOALS}
    misses = []
    rows_csv = []
    for r in results:
        row = r["row"]
        s = "tp%d, %s, util %s, len %s" % (row.get("tp", 1), row.get("gpu", "?"), row.get("util", "-"),
                                           row.get("max_model_len", "-"))
        extra = [x for x in (row.get("quant") or row.get("quant_note"), "kv fp8" if row.get("kv_dtype") == "fp8" else None,
                             row.get("dtype") if row.get("dtype") in ("float16", "float32") else None,
                             "eager" if row.get("enforce_eager") else None) if x]
        if extra:
            s += ", " + ", ".join(extra)
        src = short(row["url"])
        if r["error"]:
            print("| %d | %s | %s | %s | estimate failed | | | %s | %s |" % (r["n"], row["model"], row["vllm"], s, r["error"], src))
            continue
        for f in r["figures"]:
            ok = abs(f["err"]) <= GOALS[f["what"]]
            stats[f["what"]][0] += 1
            stats[f["what"]][1] += ok
            if not ok:
                misses.append((r["n"], row["model"], row["vllm"], f))
            fmt = "%.2f" if f["unit"] == "GiB" else "%d"
            print("| %d | %s | %s | %s | %s | %s | %s | %+.1f%%%s | %s |" % (
                r["n"], row["model"], row["vllm"], s, f["what"], fmt % f["logged"], fmt % f["ours"],
                f["err"] * 100, "" if ok else " **miss**", src))
            rows_csv.append([r["n"], row["model"], row["vllm"], f["what"], f["logged"], f["ours"], f["err"]])
    print()
    print("| figure | goal | rows | within goal | share |")
    print("|---|---|---|---|---|")
    for k, (tot, ok) in stats.items():
        print("| %s | %d%% | %d | %d | %.0f%% |" % (k, GOALS[k] * 100, tot, ok, 100.0 * ok / tot if tot else 0))
    tot = sum(v[0] for v in stats.values())
    ok = sum(v[1] for v in stats.values())
    print("| all | | %d | %d | %.1f%% |" % (tot, ok, 100.0 * ok / tot if tot else 0))
    models = {r["row"]["model"] for r in results}
    versions = sorted({r["row"]["vllm"] for r in results})
    print("\n%d start-ups, %d models, vLLM %s" % (len(results), len(models), ", ".join(versions)))
    if misses:
        print("\nmisses:")
        for n, m, v, f in misses:
            print("  #%d %s (vLLM %s) %s: logged %.4g, ours %.4g (%+.1f%%)" % (n, m, v, f["what"], f["logged"], f["ours"], f["err"] * 100))
    if csv_out:
        with open(csv_out, "w") as fh:
            fh.write("n,model,vllm,figure,logged,ours,error\n")
            for c in rows_csv:
                fh.write(",".join(str(x) for x in c) + "\n")


def short(url):
    if "llm-d-planner" in url:
        return "[llm-d-planner log](%s)" % url
    parts = url.rstrip("/").split("/")
    if len(parts) >= 7 and parts[2] == "github.com":
        return "[%s/%s#%s](%s)" % (parts[3], parts[4], parts[6], url)
    return url


if __name__ == "__main__":
    main()
