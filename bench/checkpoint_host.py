"""Host time of a checkpointed step: reentrant against non-reentrant checkpoints, eager and compiled layers.

    python bench/checkpoint_host.py [--arch qwen2.5-0.5b] [--runs 3] [--steps 10] [--tokens 256]

A step of a small model at the recipe's batch is paced by the host (bench/README.md §1b), and
what the host does per layer depends on the module tree, not on its widths. So the model is
the architecture's real layer count and LoRA layout (r=16, all linear layers, dropout 0.05,
fused as `dsforge train` fuses them on a GPU) at hidden size 64, trained on this machine's
CPU, where the arithmetic is a small share of the step and the Python around it the rest.
Each variant runs in its own process (a fresh compile cache), the variants take turns run
after run, and the table gives the median over runs of each run's median step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VARIANTS = {  # name: (reentrant, compiled)
    "non-reentrant eager": (False, False),
    "reentrant eager": (True, False),
    "non-reentrant compiled": (False, True),
    "reentrant compiled": (True, True),
}


def one_run(arch: str, reentrant: bool, compiled: bool, steps: int, tokens: int) -> dict[str, Any]:
    """Median step seconds of one fresh model (3 untimed warm-up steps first, compiling included)."""
    import torch

    from bench.trainer_overhead import small_model
    from train.fused_lora import fuse_lora_layers
    from train.regional_compile import compile_decoder_layers

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the host's work is one Python thread
    model = small_model(arch)
    model.enable_input_require_grads()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
    fuse_lora_layers(model)
    if compiled:
        compile_decoder_layers(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=1e-4)
    ids = torch.randint(0, 1000, (1, tokens), generator=torch.Generator().manual_seed(1))
    times, loss = [], 0.0
    for _ in range(3 + steps):
        start = time.perf_counter()
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        loss = float(out.loss)
    return {"step_s": statistics.median(times[3:]), "warmup_s": sum(times[:3]), "last_loss": loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="qwen2.5-0.5b")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a single run, in a child process
    args = parser.parse_args()
    if args.one:
        reentrant, compiled = VARIANTS[args.one]
        print(json.dumps(one_run(args.arch, reentrant, compiled, args.steps, args.tokens)))
        return
    names = args.variants.split(",")
    runs: list[dict[str, Any]] = []
    for run in range(args.runs):
        for name in names:
            command = [sys.executable, __file__, "--one", name, "--arch", args.arch, "--steps", str(args.steps),
                       "--tokens", str(args.tokens)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            runs.append({"variant": name, "run": run, **json.loads(done.stdout.strip().splitlines()[-1])})
            print(f"run {run} {name}: {runs[-1]['step_s'] * 1e3:.1f} ms a step", flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"checkpoint_host-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"arch": args.arch, "tokens": args.tokens, "steps": args.steps, "runs": runs}, indent=2))
    print_table(runs, names)
    print(f"written {out}")


def print_table(runs: list[dict[str, Any]], names: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    medians = {n: statistics.median(r["step_s"] for r in runs if r["variant"] == n) for n in names}
    table = Table(title="Step ms on CPU, median of runs (module tree of the real architecture at hidden size 64)")
    for col in ("checkpoint, layers", "step ms (each run)", "× host time vs non-reentrant of the same layers"):
        table.add_column(col)
    for name in names:
        each = "; ".join(f"{r['step_s'] * 1e3:.1f}" for r in runs if r["variant"] == name)
        reference = medians.get(name.replace("reentrant", "non-reentrant", 1) if name.startswith("reentrant") else name)
        ratio = f"{medians[name] / reference:.2f}" if reference else "—"
        table.add_row(name, f"{medians[name] * 1e3:.1f} ({each})", ratio)
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
