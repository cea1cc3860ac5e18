// gguf_hfjs.mjs - parse one local GGUF header with @huggingface/gguf (the
// reference JS reader) and print a one-line summary.  Used by gguf_vs_hfjs.sh.
import { createRequire } from "module";
const require = createRequire(import.meta.url);
const { gguf } = require("./gguf_hfjs/node_modules/@huggingface/gguf");

const path = process.argv[2];
const r = await gguf(path, { allowLocalFile: true, computeParametersCount: true });
console.log(JSON.stringify({
  version: r.metadata.version,
  n_kv: Number(r.metadata.kv_count),
  n_tensors: r.tensorInfos.length,
  architecture: r.metadata["general.architecture"],
  parameters: r.parameterCount,
}));
