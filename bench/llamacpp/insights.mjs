// insights.mjs - node-llama-cpp's own formula estimate (GgufInsights, the
// estimator that does not load the model) for the cases oracle.cpp measures:
// the peer the llama.cpp oracle benchmark compares us with.
//
// Usage: node insights.mjs MODEL.gguf  < cases   (same lines as oracle.cpp:
//   n_ctx_per_seq n_seq flash type_k type_v n_ubatch [n_batch])
// Prints one JSON object per case: {"weights","kv","compute","output"} in
// bytes, with every layer on the CPU (gpuLayers 0), as the oracle runs:
//   weights  estimateModelResourceRequirements({gpuLayers: 0}).cpuRam
//   kv       its KV-cache split (CPU part)
//   compute  estimateContextResourceRequirements with the graph overhead minus
//            the same without it (its "graph overhead" formula)
//   output   the rest of the context estimate without the graph overhead:
//            its output buffer plus the graph metadata it adds
import { getLlama, readGgufFileInfo, GgufInsights } from "node-llama-cpp";
import readline from "node:readline";

const path = process.argv[2];
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const info = await readGgufFileInfo(path, { readTensorInfo: true });
const insights = await GgufInsights.from(info, llama);
const weights = insights.estimateModelResourceRequirements({ gpuLayers: 0, useMmap: false }).cpuRam;

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
    const f = line.trim().split(/\s+/).map(Number);
    if (f.length < 6 || f.some(Number.isNaN))
        continue;
    const [ctx, seqs, fa, tk, tv, ub] = f;
    const common = {
        contextSize: ctx, modelGpuLayers: 0, batchSize: ub, sequences: seqs,
        flashAttention: fa === 1, kvCacheKeyType: tk, kvCacheValueType: tv
    };
    let out;
    try {
        // capture the KV split the context estimate computes (a private method)
        let kv = null;
        const split = insights._estimateContextCacheMemorySplitInBytes;
        insights._estimateContextCacheMemorySplitInBytes = function (o) {
            const r = split.call(this, o);
            kv = r.cpuKVCacheSize + r.gpuKVCacheSize + r.cpuRecurrentStateSize + r.gpuRecurrentStateSize;
            return r;
        };
        const withGraph = insights.estimateContextResourceRequirements({ ...common, includeGraphOverhead: true });
        const noGraph = insights.estimateContextResourceRequirements({ ...common, includeGraphOverhead: false });
        insights._estimateContextCacheMemorySplitInBytes = split;
        out = {
            ok: true,
            weights,
            kv,
            compute: withGraph.cpuRam - noGraph.cpuRam,
            output: noGraph.cpuRam - kv
        };
    } catch (e) {
        out = { ok: false, error: String(e && e.message || e) };
    }
    console.log(JSON.stringify({ ctx, seqs, fa, tk, tv, ub, ...out }));
}
await llama.dispose();
