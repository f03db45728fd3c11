"""Throughput and peak GPU memory of `dsforge train` under each memory policy.

Speed and memory do not depend on weight values, so a model initialised at
random from a real architecture's config (e.g. Qwen2.5-Coder-1.5B's) stands in
for weights too large to bring along. Each policy runs the project's own
`train.qlora.train` on the same dataset and prints one JSON line per policy.

    python bench/qlora_gpu.py --arch DIR --dataset DIR --out DIR [--steps 40]

DIR for --arch holds config.json and the tokenizer; --dataset is an exported
DatasetDict (train/validation/test).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

POLICIES = {
    "qlora-dsforge-defaults": {"mode": "qlora"},  # frozen non-quantised weights stay bf16
    "qlora-fp32-upcast": {"mode": "qlora", "upcast_frozen_to_fp32": True},  # the plain recipe
    "lora-bf16": {"mode": "lora"},
    "qlora-dsforge-packed": {"mode": "qlora", "packing": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument(
        "--policies", default=",".join(POLICIES), help="comma-separated; repeat one to warm up"
    )
    args = parser.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from train.options import TrainOptions
    from train.qlora import train

    base = args.out / "base"
    if not (base / "config.json").is_file():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(args.arch), dtype=torch.bfloat16)
        model.save_pretrained(base)
        AutoTokenizer.from_pretrained(args.arch).save_pretrained(base)
        del model
    for run, name in enumerate(args.policies.split(",")):
        overrides = POLICIES[name]
        project = args.out / f"{run}-{name}"
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(args.dataset, project / "export" / "dataset")
        options = TrainOptions(
            base_model=str(base),
            max_steps=args.steps,
            eval_steps=args.steps,
            logging_steps=10,
            batch_size=args.batch_size,
            gradient_accumulation_steps=1,
            max_seq_len=args.max_seq_len,
            **overrides,
        )
        config = types.SimpleNamespace(train=options, output_dir=project, project_root=args.out)
        card = train(config, show_progress=False)
        print(
            json.dumps(
                {
                    "policy": name,
                    "gpu": card.hardware.get("gpus"),
                    "steps": card.steps,
                    "tokens": card.train_tokens,
                    "seconds": card.train_seconds,
                    "tokens_per_second": card.tokens_per_second,
                    "peak_memory": card.peak_memory,
                    "memory_policy": card.memory_policy,
                    "optimizer": card.hyperparameters["optimizer"],
                    "final_train_loss": card.final_train_loss,
                }
            ),
            flush=True,
        )
        del card
        gc.collect()
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
