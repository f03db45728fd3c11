"""GGUF export round trip: a trained adapter out as a GGUF LoRA and as merged F16 / Q8_0, each loaded by the
embedded llama.cpp, its greedy answers set against transformers with the adapter.

For each form: export seconds, file size, llama.cpp load seconds, and on the prompts given (the test
split's by default) how many greedy answers agree token for token with transformers' over the first
`--tokens`, and the mean length of the common prefix. The GGUF LoRA runs on the packaged Q4_1 base
(quantised weights against transformers' dequantised floats: near-ties part), the merged files carry
the adapter folded into the float weights.

    .venv/bin/python bench/gguf_export.py --project DIR      # a project with build/train/adapter (SmolLM2)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results  # noqa: E402

PACKAGES = ["torch", "transformers", "peft", "gguf", "xllamacpp"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a project folder whose build has a trained adapter")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    args = parser.parse_args()

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from builder import model_store
    from core.config import load_config
    from core.layout import TrainPaths
    from train.data import load_splits, prompt_messages
    from train.model_export import export_model

    torch.set_num_threads(1)
    config = load_config(args.project / "dsforge.yaml")
    paths = TrainPaths(config.output_dir)
    card = json.loads(paths.run_json.read_text("utf-8"))
    base_ref = card["base_model"]["ref"]
    base_path = Path(card["base_model"]["path"])
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    test = load_splits(paths.dataset)["test"]
    prompts = [
        tokenizer.apply_chat_template(prompt_messages(row), tokenize=False, add_generation_prompt=True)
        for row in list(test)[: args.prompts]
    ]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32),
                                      paths.adapter).eval()  # fmt: skip
    reference = [_greedy_hf(model, tokenizer, p, args.tokens) for p in prompts]
    with model.disable_adapter():
        base_answers = [_greedy_hf(model, tokenizer, p, args.tokens) for p in prompts]

    rows = {}
    out = Path(tempfile.mkdtemp(prefix="gguf-export-"))
    for form in ("lora", "f16", "q8_0"):
        started = time.perf_counter()
        exported = export_model(config, out=out / form, force=True, merged=None if form == "lora" else form)
        export_s = time.perf_counter() - started
        model_path = model_store.resolve_gguf(base_ref) if form == "lora" else exported.lora
        started = time.perf_counter()
        server = _server(model_path, exported.lora if form == "lora" else None)
        load_s = time.perf_counter() - started
        answers = [_greedy_llama_cpp(server, tokenizer, p, args.tokens) for p in prompts]
        prefixes = [_common_prefix(a, r) for a, r in zip(answers, reference, strict=True)]
        rows[form] = {
            "file_mb": round(exported.lora.stat().st_size / 2**20, 2),
            "export_s": round(export_s, 2),
            "load_s": round(load_s, 2),
            "identical": sum(a == r for a, r in zip(answers, reference, strict=True)),
            "mean_common_prefix": round(statistics.mean(prefixes), 2),
            "prompts": len(prompts),
        }
        del server
    changed = sum(a != b for a, b in zip(reference, base_answers, strict=True))
    print(table(rows, args.tokens, changed, len(prompts)))
    path = write_results("gguf_export", {"base": base_ref, "adapter": str(paths.adapter), "tokens": args.tokens,
                                         "adapter_changed_answers": changed, "forms": rows,
                                         "machine": machine_info(PACKAGES)})  # fmt: skip
    print(f"results: {path}")


def _greedy_hf(model: Any, tokenizer: Any, prompt: str, tokens: int) -> list[int]:
    import torch

    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=tokens, do_sample=False)
    return out[0, ids.shape[1] :].tolist()


def _server(model_path: Path, lora: Path | None) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path, params.n_ctx, params.verbosity = str(model_path), 1024, -1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    if lora is not None:
        info = xllamacpp.CommonAdapterLoraInfo()
        info.path, info.scale = str(lora), 1.0
        params.lora_adapters = [info]
    return xllamacpp.Server(params)


def _greedy_llama_cpp(server: Any, tokenizer: Any, prompt: str, tokens: int) -> list[int]:
    text = server.handle_completions({"prompt": prompt, "max_tokens": tokens, "temperature": 0.0})["choices"][0]["text"]
    return tokenizer(text, add_special_tokens=False).input_ids[:tokens]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def table(rows: dict[str, dict[str, Any]], tokens: int, changed: int, prompts: int) -> str:
    lines = [
        f"greedy answers, first {tokens} tokens; the adapter changed {changed} of {prompts} answers against the base",
        "",
        "| form | file MB | export s | llama.cpp load s | answers identical to transformers | mean common prefix (tokens) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for form, r in rows.items():
        lines.append(f"| {form} | {r['file_mb']} | {r['export_s']} | {r['load_s']} | {r['identical']} of {r['prompts']} "
                     f"| {r['mean_common_prefix']} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
