"""Packing on CUDA honours each architecture: Qwen2, Llama, Mistral, Gemma, Gemma 2, Gemma 3, Phi-3.

For each, a small random checkpoint (the tests' tiny architectures, widened to hidden 256 with
64-wide heads and a 64-token sliding window where the architecture has one) runs
bench/profile_step.check_packing in bf16: five records of 5–700 tokens packed in one row under the
attention train/packing.py picks (varlen flash, or eager for Gemma 2's soft-capping), each compared
with the record alone under transformers' own eager attention. Prints a table; writes JSON to
bench/results (and $OUT where set).

    python3 bench/architectures_gpu.py --tokenizer .tok
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GPU_SHAPE = {"hidden_size": 256, "intermediate_size": 512, "head_dim": 64, "initializer_range": 0.02}
GPU_WINDOW = 64


def save_gpu_base(arch: str, tokenizer: Path, target: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.train.architectures import ARCHITECTURES, tiny_config

    if (target / "config.json").is_file():
        return target
    tok = AutoTokenizer.from_pretrained(tokenizer)
    window = {"sliding_window": GPU_WINDOW} if "sliding_window" in ARCHITECTURES[arch] else {}
    softcap = {"attn_logit_softcapping": 50.0} if arch == "gemma2" else {}  # the release's value
    config = tiny_config(arch, len(tok), **GPU_SHAPE, **window, **softcap)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(target)
    tok.save_pretrained(target)
    return target


def main() -> None:
    from bench.profile_step import check_packing
    from tests.train.architectures import ARCHITECTURES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--archs", default=",".join(ARCHITECTURES))
    parser.add_argument("--work", type=Path, default=Path("/tmp/dsforge-archs"))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    checks = []
    for arch in args.archs.split(","):
        try:
            checks.append(check_packing(arch, save_gpu_base(arch, args.tokenizer, args.work / arch)))
        except Exception as exc:  # one architecture's failure is a row of the table, not the end of the run
            checks.append({"arch": arch, "error": f"{type(exc).__name__}: {exc}"})
        print(json.dumps(checks[-1]), flush=True)
    print(
        "| arch | attention | window | packed vs eager alone (max) | floor (max) | no-window diff | leak | backward |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for c in checks:
        if "error" in c:
            print(f"| {c['arch']} | error: {c['error'][:80]} |")
            continue
        print(f"| {c['arch']} | {c['attention']} | {c['sliding_window'] or '—'} | "
              f"{max(c['relative_error_packed_vs_eager_alone']):.4f} | "
              f"{max(c['relative_error_floor_same_attention_alone']):.4f} | "
              f"{c['relative_difference_without_window'] if c['relative_difference_without_window'] is not None else '—'} | "
              f"{c['relative_difference_with_cross_record_attention']:.3f} | {c['backward_finite']} |")  # fmt: skip
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in [args.results, Path(os.environ["OUT"]) if os.environ.get("OUT") else None]:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"architectures_gpu-{stamp}.json").write_text(json.dumps(checks, indent=2))


if __name__ == "__main__":
    main()
