// crosscheck-hfjs.mjs - manual protocol cross-check of fakehub against an
// independent client, huggingface.js (@huggingface/hub). Not run by CI (it
// needs the npm package). See docs/fakehub.md "Cross-check".
//
//   cd SCRATCH && npm install @huggingface/hub
//   FAKEHUB_READY=/path/ready CACHE=/tmp/hfjs-cache node --input-type=module < crosscheck-hfjs.mjs
import { snapshotDownload, listFiles, modelInfo } from "@huggingface/hub";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const ready = process.env.FAKEHUB_READY;
const cache = process.env.CACHE || "/tmp/hfjs-cache";
const repo = process.env.REPO || "demo-org/tiny-llama";
const [hub] = fs.readFileSync(ready, "utf8").trim().split(" ");
let bad = 0;
const fail = (m) => { console.log("FAIL", m); bad++; };

const entries = [];
for await (const f of listFiles({ repo, recursive: true, hubUrl: hub })) entries.push(f);
console.log("listFiles:", entries.length, "entries");
const info = await modelInfo({ name: repo, hubUrl: hub, additionalFields: ["sha"] });
fs.rmSync(cache, { recursive: true, force: true });
const snap = await snapshotDownload({ repo, hubUrl: hub, cacheDir: cache });
if (path.basename(snap) !== info.sha) fail(`snapshot ${snap} is not named by sha ${info.sha}`);
for (const e of entries.filter((x) => x.type === "file")) {
  const data = fs.readFileSync(path.join(snap, e.path));
  if (data.length !== e.size) fail(`${e.path}: ${data.length} bytes, tree says ${e.size}`);
  if (e.lfs) {
    const h = crypto.createHash("sha256").update(data).digest("hex");
    if (h !== e.lfs.oid) fail(`${e.path}: sha256 ${h} != lfs.oid ${e.lfs.oid}`);
  } else {
    const h = crypto.createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
    if (h !== e.oid) fail(`${e.path}: git sha1 ${h} != oid ${e.oid}`);
  }
}
const ref = fs.readFileSync(path.join(cache, `models--${repo.replace("/", "--")}`, "refs", "main"), "utf8");
if (ref !== info.sha) fail(`refs/main is ${JSON.stringify(ref)}`);
console.log(bad ? `${bad} problem(s)` : `ok: ${repo} @ ${info.sha} downloaded and verified by huggingface.js`);
process.exit(bad ? 1 : 0);
