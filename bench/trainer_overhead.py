"""Host time of the Trainer's per-step bookkeeping: transformers' walks against LeanSFTTrainer's.

    python bench/trainer_overhead.py [--archs qwen2.5-0.5b,qwen2.5-1.5b,qwen2.5-7b] [--repeats 30]

What a step's bookkeeping costs the host depends on how many modules and parameters the
model has, not on their sizes, so each architecture is built with its real layer count and
LoRA layout (r=16, all linear layers) but a hidden size of 64: every module and parameter
tensor of the real model exists, small. Each walk is timed on its own (median of
`--repeats`), on this machine's CPU, where a GPU run's host work also happens. The GPU
sync that transformers' padding-free token count adds is not in this table: it costs
whatever the GPU still has queued, which only a GPU run shows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.gpu_archs import ARCHS  # noqa: E402


def small_model(arch: str) -> Any:
    """The architecture's module tree with LoRA on every linear layer, at hidden size 64."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**{**ARCHS[arch], "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
                            "num_key_value_heads": 2, "vocab_size": 1000})  # fmt: skip
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, lora).train()


def timed(fn: Callable[[], Any], repeats: int, before: Callable[[], Any] = lambda: None) -> float:
    """Median milliseconds of `fn`, with `before` run untimed ahead of each call."""
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(arch: str, repeats: int) -> list[dict[str, Any]]:
    import torch

    from train.lean_trainer import clear_gradients_of, remember_train_mode

    model = small_model(arch)
    trainable = [p for p in model.parameters() if p.requires_grad]

    def give_grads() -> None:
        for p in trainable:
            p.grad = torch.zeros_like(p)

    full_train, full_zero = model.train, model.zero_grad
    count = int(model.num_parameters(exclude_embeddings=True))
    rows = [
        ("FLOP count's parameter walk", timed(lambda: model.num_parameters(exclude_embeddings=True), repeats),
         timed(lambda: 6 * 8192 * count, repeats)),
        ("clip_grad_norm_ over parameters", timed(lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0),
                                                  repeats, give_grads),
         timed(lambda: torch.nn.utils.clip_grad_norm_(trainable, 1.0), repeats, give_grads)),
    ]  # fmt: skip
    transformers_train = timed(full_train, repeats)
    transformers_zero = timed(full_zero, repeats, give_grads)
    remember_train_mode(model)
    clear_gradients_of(model, trainable)
    model.train()  # the one full pass that makes the state known
    rows.append(("model.train()", transformers_train, timed(model.train, repeats)))
    rows.append(("model.zero_grad()", transformers_zero, timed(model.zero_grad, repeats, give_grads)))
    modules, parameters = sum(1 for _ in model.modules()), sum(1 for _ in model.parameters())
    return [{"arch": arch, "walk": name, "transformers_ms": round(a, 3), "lean_ms": round(b, 3),
             "modules": modules, "parameters": parameters, "trainable": len(trainable)}
            for name, a, b in rows]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="qwen2.5-0.5b,qwen2.5-1.5b,qwen2.5-7b")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # host bookkeeping is one Python thread
    rows = [row for arch in args.archs.split(",") for row in measure(arch, args.repeats)]
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"trainer_overhead-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=2))
    print_table(rows)
    print(f"written {out}")


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Host ms per optimiser step, median (CPU; module trees of the real architectures)")
    for col in ("arch", "walk", "transformers ms", "LeanSFTTrainer ms", "× less host time"):
        table.add_column(col)
    totals: dict[str, list[float]] = {}
    for r in rows:
        table.add_row(r["arch"], r["walk"], f"{r['transformers_ms']:.2f}", f"{r['lean_ms']:.3f}",
                      _times(r["transformers_ms"], r["lean_ms"]))  # fmt: skip
        totals.setdefault(r["arch"], [0.0, 0.0])
        totals[r["arch"]][0] += r["transformers_ms"]
        totals[r["arch"]][1] += r["lean_ms"]
    for arch, (a, b) in totals.items():
        table.add_row(arch, "[b]all four[/b]", f"{a:.2f}", f"{b:.3f}", _times(a, b))
    Console(width=160).print(table)


def _times(before: float, after: float) -> str:
    """The ratio, or "—" where the lean side is below the timer's resolution (a cached number)."""
    return f"{before / after:.0f}" if after >= 0.005 else "— (cached)"


if __name__ == "__main__":
    main()
