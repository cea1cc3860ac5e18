#!/usr/bin/env python3
"""Run the original imageworks' own registry code (never committed here).

IMAGEWORKS_SRC must point at a checkout of mrpid12org/imageworks (its src/
folder is put on sys.path).  Needs Debian's python3 with python3-requests,
python3-httpx, python3-typer and python3-rich (the original's CLI imports
them); scripts/interop/roundtrip.sh installs them.  Two stubs, both for
imports the code under test never calls: `streamlit` (imported at the top of
the GUI's VRAM page, used only by its render functions) and
`imageworks.gui.components.sidebar_footer` (ditto).

Commands (each prints JSON on stdout):
  fixtures OUTDIR            regenerate tests/fixtures/interop/ (see its README)
  load REGDIR                model_loader.registry.load_registry(force=True)
  save REGDIR                load_registry + save_registry
  gui REGDIR NAME            the VRAM page's _derive_estimator_defaults for the
                             snapshot entry NAME, plus weights GiB and the
                             inverse estimate at 16 GiB (its only rendered form)
  cli REGDIR ARGS...         the original's imageworks-download CLI (typer)
  dirsum DIR                 download_adapter.compute_directory_checksum
  detect DIR                 format_utils.detect_format_and_quant
  slug FAMILY BACKEND FORMAT QUANT  simplified_naming.simplified_slug_for_fields
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

SRC = os.environ.get("IMAGEWORKS_SRC")
if not SRC:
    sys.exit("original.py: set IMAGEWORKS_SRC to a checkout of mrpid12org/imageworks")
sys.path.insert(0, str(Path(SRC) / "src"))
os.environ.setdefault("IMAGEWORKS_SKIP_POST_PROBE", "1")


def _stub_gui_imports() -> None:
    st = types.ModuleType("streamlit")
    st.__getattr__ = lambda name: (lambda *a, **k: None)  # type: ignore[attr-defined]
    sys.modules.setdefault("streamlit", st)
    foot = types.ModuleType("imageworks.gui.components.sidebar_footer")
    foot.render_sidebar_footer = lambda *a, **k: None  # type: ignore[attr-defined]
    sys.modules.setdefault("imageworks.gui.components.sidebar_footer", foot)


def _vram_page():
    _stub_gui_imports()
    pages = Path(SRC) / "src/imageworks/gui/pages"
    page = next(p for p in pages.iterdir() if "VRAM_Estimator" in p.name)
    spec = importlib.util.spec_from_file_location("iw_vram_page", page)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _registry(regdir: str):
    os.environ["IMAGEWORKS_REGISTRY_DIR"] = regdir
    from imageworks.model_loader import registry

    registry._REGISTRY_CACHE = None
    return registry


def gui_estimate(entry: dict) -> dict:
    page = _vram_page()
    from imageworks.tools import vram_estimator as ve

    page._RUNTIME_EVENTS = {}  # no runtime log: the page's estimate from the registry alone
    d = page._derive_estimator_defaults(entry)
    prof = ve._resolve_profile("default")
    weights = d["params_billion"] * 1e9 * ve.BYTES_PER_PARAM.get(d["quant"], 1.0) / 1024**3
    inv = ve.estimate_max_context_k(
        total_vram_gib=16.0, params_billion=d["params_billion"], quant=d["quant"],
        layers=d["layers"], kv_heads=d["kv_heads"], head_dim=d["head_dim"],
        kv_dtype=d["kv_dtype"], batch=d["batch"],
        overhead_gib=d.get("overhead_gib", prof["overhead_gib"]),
        vision_gib=d["vision_gib"] if d["vision_gib"] is not None else prof["vision_gib"],
        frag_factor=prof["frag_factor"])
    return {"quant": d["quant"], "params_billion": d["params_billion"],
            "weights_gib": round(weights, 4), "context_k_at_16gib": round(inv["context_k"], 4)}


def run_cli(regdir: str, args: list[str]) -> int:
    os.environ["IMAGEWORKS_REGISTRY_DIR"] = regdir
    from imageworks.tools.model_downloader import cli

    try:
        cli.app(args, standalone_mode=False)
    except SystemExit as e:  # typer.Exit
        return int(e.code or 0)
    except Exception as e:  # noqa: BLE001
        exit_code = getattr(e, "exit_code", None)
        if exit_code is not None:
            return int(exit_code)
        raise
    return 0


# ------------------------------------------------------------------ fixtures

SLUG_CASES = [
    # (family as record_download derives it from the HF id, backend, format, quant)
    ("TheBloke/wizard-mega-13B-GPTQ", "vllm", "safetensors", "gptq-int4"),
    ("TheBloke/wizard-mega-13B-GPTQ", "vllm", "safetensors", "gptq"),
    ("Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "vllm", "safetensors", "awq"),
    ("Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "vllm", "safetensors", "awq-w4g128"),
    ("Qwen/Qwen3-8B-FP8", "vllm", "safetensors", "fp8"),
    ("openai/gpt-oss-20b", "vllm", "safetensors", "mxfp4"),
    ("mistralai/Mistral-Nemo-Instruct-2407", "vllm", "safetensors", "bf16"),
    ("meta-llama/Llama-3.1-8B-Instruct", "vllm", "safetensors", "bf16"),
    ("unsloth/Qwen3-8B-GGUF", "unassigned", "gguf", "q4_k_m"),
    ("bartowski/Llama-3.2-1B-Instruct-GGUF", "unassigned", "gguf", "q8_0"),
    ("x/gpt-oss-abliterated-20.9B-GGUF", "unassigned", "gguf", "fp16"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "vllm", "safetensors", "bf16"),
    ("someone/Model_Q4_0-test", "unassigned", "gguf", "q4_0"),
    ("someone/Foo_Bar@dev", "vllm", "safetensors", None),
    ("someone/foo-7b", "vllm", "safetensors", "unknown"),
    ("someone/Qwen2.5-Coder-32B-Instruct-GPTQ-Int4", "vllm", "safetensors", "gptq-int4"),
    ("someone/model.Q4_K_M", "unassigned", "gguf", "q4_k_m"),
    ("someone/Phi-3-mini-4k-instruct", "vllm", "safetensors", "bitsandbytes-4bit"),
    ("someone/tiny-1234b-x", "vllm", "safetensors", "fp16"),
    ("someone/GGUF", "unassigned", "gguf", "q4_k_m"),
]

# (folder name, {file: content or size}) for detect_format_and_quant
_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 5120,
          "num_hidden_layers": 40, "num_attention_heads": 40, "num_key_value_heads": 40,
          "intermediate_size": 13824, "vocab_size": 32000, "max_position_embeddings": 2048,
          "torch_dtype": "float16"}


def _cfg(**q) -> str:
    c = dict(_LLAMA)
    if q:
        c["quantization_config"] = q
    return json.dumps(c)


LABEL_CASES = [
    ("wizard-mega-13B-GPTQ", {"config.json": _cfg(quant_method="gptq", bits=4, group_size=128, desc_act=False)}),
    ("model-3bit", {"config.json": _cfg(quant_method="gptq", bits=3, group_size=128, desc_act=True)}),
    ("model-8bit-gptq", {"config.json": _cfg(quant_method="gptq", bits=8, group_size=-1, desc_act=False)}),
    ("Qwen2.5-7B-Instruct-AWQ", {"config.json": _cfg(quant_method="awq", bits=4, group_size=128, version="gemm", zero_point=True)}),
    ("awq-wbit", {"config.json": _cfg(quant_method="awq", w_bit=4, q_group_size=128, version="gemm", zero_point=True)}),
    ("Qwen3-8B-FP8", {"config.json": _cfg(quant_method="fp8", activation_scheme="dynamic", fmt="e4m3", weight_block_size=[128, 128])}),
    ("gpt-oss-20b", {"config.json": _cfg(quant_method="mxfp4", modules_to_not_convert=["model.layers.*.self_attn"])}),
    ("Llama-3.1-8B-Instruct-FP8-dynamic", {"config.json": _cfg(quant_method="compressed-tensors", format="float-quantized",
        config_groups={"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}})}),
    ("Llama-3.1-8B-Instruct-quantized.w4a16", {"config.json": _cfg(quant_method="compressed-tensors", format="pack-quantized",
        config_groups={"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128}}})}),
    ("Llama-3.1-8B-Instruct-NVFP4", {"config.json": _cfg(quant_method="compressed-tensors", format="nvfp4-pack-quantized",
        config_groups={"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16}}})}),
    ("model-bnb", {"config.json": _cfg(quant_method="bitsandbytes", load_in_4bit=True, bnb_4bit_quant_type="nf4")}),
    ("plain-bf16", {"config.json": json.dumps({**_LLAMA, "torch_dtype": "bfloat16"})}),
    ("plain-fp16", {"config.json": json.dumps(_LLAMA)}),
    ("plain-fp32", {"config.json": json.dumps({**_LLAMA, "torch_dtype": "float32"})}),
    ("Qwen3-8B-GGUF", {"Qwen3-8B-Q4_K_M.gguf": 64}),
    ("Llama-3.2-1B-Instruct-GGUF", {"Llama-3.2-1B-Instruct-Q8_0.gguf": 64}),
    ("m-GGUF", {"m-Q6_K.gguf": 64}),
]


def _make_tree(root: Path, files: dict) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, int):
            p.write_bytes(b"\0" * content)
        else:
            p.write_text(content, encoding="utf-8")


# A folder for the two checksums: nested paths whose component order differs
# from plain string order ("a/b" vs "a-c"), a hidden file, a unicode name.
DIRSUM_TREE = {
    "config.json": "{}\n",
    "a/b.bin": "bb",
    "a-c.bin": "ccc",
    "model-00001-of-00002.safetensors": "x" * 10,
    "model-00002-of-00002.safetensors": "y" * 7,
    ".hidden": "h",
    "caf\u00e9.txt": "e",
}


def fixtures(out: Path) -> None:
    from imageworks.model_loader.simplified_naming import simplified_slug_for_fields
    from imageworks.model_loader.download_adapter import _infer_family, compute_directory_checksum
    from imageworks.model_loader import hashing, models
    from imageworks.tools.model_downloader.format_utils import detect_format_and_quant

    out.mkdir(parents=True, exist_ok=True)
    slugs = []
    for hf_id, backend, fmt, quant in SLUG_CASES:
        fam = _infer_family(hf_id)
        slugs.append({"hf_id": hf_id, "family": fam, "backend": backend, "format": fmt, "quantization": quant,
                      "slug": simplified_slug_for_fields(family=fam, backend=backend, format_type=fmt,
                                                         quantization=quant, metadata=None,
                                                         download_path="/nonexistent", served_model_id=None)})
    (out / "slugs.json").write_text(json.dumps(slugs, indent=2) + "\n")

    labels = []
    gui = []
    with tempfile.TemporaryDirectory() as td:
        for name, files in LABEL_CASES:
            d = Path(td) / name
            _make_tree(d, files)
            fmt, quant = detect_format_and_quant(d)
            labels.append({"folder": name, "files": files, "format": fmt, "quantization": quant})
        # the VRAM page for a 13B llama with each label the two tools might write
        for q in ["gptq-int4", "gptq", "awq", "fp8", "mxfp4", "q4_k_m", "q8_0", "fp16", "bf16", "int4", "fp4"]:
            entry = {"name": "m", "quantization": q, "metadata": {"architecture": {
                "params_billion": 13.02, "num_layers": 40, "num_attention_heads": 40, "num_kv_heads": 40,
                "hidden_size": 5120, "context_length": 2048}}}
            gui.append({"quantization": q, **gui_estimate(entry)})
        d = Path(td) / "dirsum"
        _make_tree(d, DIRSUM_TREE)
        entry = models.RegistryEntry(
            name="x", display_name=None, backend="vllm",
            backend_config=models.BackendConfig(port=0, model_path=str(d)), capabilities={},
            artifacts=models.Artifacts(aggregate_sha256=""),
            chat_template=models.ChatTemplate(source="embedded", path=None, sha256=None),
            version_lock=models.VersionLock(locked=False, expected_aggregate_sha256=None, last_verified=None),
            performance=models.PerformanceSummary(rolling_samples=0, ttft_ms_avg=None,
                                                  throughput_toks_per_s_avg=None, last_sample=None),
            probes=models.Probes(vision=None), profiles_placeholder=None)
        hashed = hashing.compute_artifact_hashes(entry)
        dirsum = {"files": DIRSUM_TREE, "download_directory_checksum": compute_directory_checksum(d),
                  "aggregate_sha256": hashed.artifacts.aggregate_sha256,
                  "artifact_files": [{"path": f.path, "sha256": f.sha256} for f in hashed.artifacts.files]}
    (out / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    (out / "gui_quant.json").write_text(json.dumps(gui, indent=2) + "\n")
    (out / "dirsum.json").write_text(json.dumps(dirsum, indent=2, ensure_ascii=False) + "\n")

    # the snapshot the original materialises from two layers (json.dumps(indent=2) + "\n")
    src = Path(__file__).resolve().parent / "layers"
    snap = out / "snapshot"
    if snap.exists():
        shutil.rmtree(snap)
    snap.mkdir()
    for f in ("model_registry.curated.json", "model_registry.discovered.json"):
        shutil.copy(src / f, snap / f)
    reg = _registry(str(snap))
    reg.load_registry(force=True)

    # the legacy split
    legacy = out / "legacy"
    if legacy.exists():
        shutil.rmtree(legacy)
    legacy.mkdir()
    shutil.copy(src / "legacy_model_registry.json", legacy / "model_registry.json")
    reg = _registry(str(legacy))
    reg.load_registry(force=True)

    # an entry this tool wrote, after the original loaded and saved it
    saved = out / "saved"
    if not (src / "ours_discovered.json").exists():
        return
    if saved.exists():
        shutil.rmtree(saved)
    saved.mkdir()
    shutil.copy(src / "ours_discovered.json", saved / "model_registry.discovered.json")
    reg = _registry(str(saved))
    reg.load_registry(force=True)
    reg.save_registry()
    for tmp in list(snap.glob("*.tmp")) + list(legacy.glob("*.tmp")) + list(saved.glob("*.tmp")):
        tmp.unlink()


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "fixtures":
        fixtures(Path(args[0]))
    elif cmd == "load":
        reg = _registry(args[0])
        print(json.dumps({"entries": len(reg.load_registry(force=True))}))
    elif cmd == "save":
        reg = _registry(args[0])
        reg.load_registry(force=True)
        reg.save_registry()
        print(json.dumps({"saved": True}))
    elif cmd == "gui":
        entries = json.loads((Path(args[0]) / "model_registry.json").read_text(encoding="utf-8"))
        entry = next(e for e in entries if e.get("name") == args[1])
        print(json.dumps(gui_estimate(entry)))
    elif cmd == "cli":
        return run_cli(args[0], args[1:])
    elif cmd == "dirsum":
        from imageworks.model_loader.download_adapter import compute_directory_checksum

        print(json.dumps(compute_directory_checksum(Path(args[0]))))
    elif cmd == "detect":
        from imageworks.tools.model_downloader.format_utils import detect_format_and_quant

        print(json.dumps(detect_format_and_quant(Path(args[0]))))
    elif cmd == "slug":
        from imageworks.model_loader.simplified_naming import simplified_slug_for_fields

        q = args[3] if len(args) > 3 and args[3] != "-" else None
        print(json.dumps(simplified_slug_for_fields(family=args[0], backend=args[1], format_type=args[2],
                                                    quantization=q)))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
