"""QLoRA training across GPUs: `dsforge train --gpus N` (DDP, FSDP) against the same run on one GPU.

    . bench/gpu_setup.sh
    python3 bench/qlora_multigpu.py --tokenizer DIR                      # DDP 1.5B + 7B at 1, 2, 4 GPUs, FSDP 32B
    python3 bench/qlora_multigpu.py --tokenizer DIR --gpus 1,2 --fsdp-archs ""   # one x2 machine, DDP only

Every (architecture, strategy, GPU count, repeat) is one `accelerate launch` (a plain process
at 1 GPU) running train.recipe.train, as `dsforge train --gpus N` does. The per-GPU batch stays
fixed (`--batch-size`), so N GPUs train N times the tokens per step; scaling efficiency =
tokens/s at N ÷ (N × tokens/s at 1 GPU) for the same architecture and mode. Weights are random
(bench/gpu_archs.py configs): speed and memory do not depend on their values.

FSDP rows train a base that one GPU cannot hold in bf16 LoRA (`--fsdp-archs`, a 32B-class
architecture by default): the bf16 LoRA run on one GPU is attempted and its out-of-memory
recorded, then QLoRA and bf16 LoRA under FSDP on every GPU count above 1. Each rank reports its
own peak memory; the table shows the largest. Results: bench/results/qlora_multigpu-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.gpu_archs import ARCHS, lora_training_flops_per_token  # noqa: E402
from bench.qlora_gpu import (  # noqa: E402
    PEAK_BF16_TFLOPS,
    StepTimer,
    _versions,
    make_dataset,
    make_random_base,
    timing_options,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="a Qwen2.5 tokenizer folder")
    parser.add_argument("--archs", default="qwen2.5-1.5b,qwen2.5-7b", help="DDP QLoRA architectures")
    parser.add_argument("--gpus", default="1,2,4", help="GPU counts; those above the machine's are skipped")
    parser.add_argument("--fsdp-archs", default="qwen2.5-32b", help="FSDP architectures ('' for none)")
    parser.add_argument("--steps", type=int, default=12, help="timed optimiser steps after warm-up")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="per GPU")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=Path("/tmp/dsforge-bench"))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args, json.loads(args.worker))
        return

    gpus = [n for n in map(int, args.gpus.split(",")) if n <= max(_gpu_count(), 1) or not _gpu_count()]
    jobs = [
        {"arch": arch, "mode": "qlora", "strategy": "ddp", "gpus": n}
        for arch in _names(args.archs)
        for n in gpus
    ]
    for arch in _names(args.fsdp_archs):
        jobs.append({"arch": arch, "mode": "lora", "strategy": "single", "gpus": 1})  # expected not to fit
        jobs += [
            {"arch": arch, "mode": m, "strategy": "fsdp", "gpus": n}
            for m in ("qlora", "lora")
            for n in gpus
            if n > 1
        ]
    runs = []
    for repeat in range(args.repeats):
        for job in jobs:
            job = {**job, "repeat": repeat}
            job["base"] = str(make_random_base(job["arch"], args.tokenizer, args.work / job["arch"]))
            rows = args.batch_size * job["gpus"] * (args.steps + args.warmup + 2)
            job["dataset"] = str(
                make_dataset(args.tokenizer, args.work / f"dataset-{args.seq_len}-{rows}", args.seq_len, rows)
            )
            runs.append(launch(job, args))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "log_tail"}), flush=True)
    summary = summarise(runs)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.results / f"qlora_multigpu-{stamp}.json").write_text(
        json.dumps({"runs": runs, "summary": summary}, indent=2)
    )
    print_table(summary)


def _names(text: str) -> list[str]:
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in ARCHS]
    if unknown:
        raise SystemExit(f"unknown architecture(s) {unknown}; bench/gpu_archs.py has {sorted(ARCHS)}")
    return names


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def launch(job: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """One run in fresh processes, so peak memory and an out-of-memory error stay with it."""
    from train.distributed import free_port

    name = f"{job['arch']}-{job['mode']}-{job['strategy']}-{job['gpus']}-{job['repeat']}"
    project = args.work / "multigpu" / name
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(job["dataset"], project / "export" / "dataset")
    worker = [__file__, "--tokenizer", str(args.tokenizer), "--steps", str(args.steps), "--warmup", str(args.warmup),
              "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len), "--work", str(args.work),
              "--worker", json.dumps({**job, "project": str(project)})]  # fmt: skip
    if job["gpus"] == 1:
        cmd = [sys.executable, *worker]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1",
               "--num_processes", str(job["gpus"]), "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), *worker]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    ranks = [json.loads(p.read_text()) for p in sorted(project.glob("rank-*.json"))]
    if proc.returncode == 0 and len(ranks) == job["gpus"]:
        return combine(job, ranks, args)
    tail = (proc.stdout + proc.stderr)[-3000:]
    oom = "OutOfMemoryError" in tail or "CUDA out of memory" in tail
    return {**job, "error": "out of memory" if oom else f"exit {proc.returncode}", "log_tail": tail[-1500:]}


def run_worker(args: argparse.Namespace, job: dict[str, Any]) -> None:
    """One rank: train, then write this rank's step times and peak memory beside the project."""
    import torch

    from train.recipe import train

    timer = StepTimer()
    total = args.warmup + args.steps
    opts = timing_options(job["base"], total, args.batch_size, args.seq_len, mode=job["mode"],
                          distributed="fsdp" if job["strategy"] == "fsdp" else "ddp")  # fmt: skip
    project = Path(job["project"])
    config = types.SimpleNamespace(train=opts, output_dir=project, project_root=project)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    card = train(config, show_progress=False, callbacks=[timer])
    rank = int(os.environ.get("RANK", "0"))
    result = {
        "rank": rank,
        "step_s": timer.durations[args.warmup :],
        "tokens": card.train_tokens if rank == 0 else None,  # counted over all ranks
        "steps": card.steps if rank == 0 else None,
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else 0.0,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2)
        if torch.cuda.is_available()
        else 0.0,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (smoke test only)",
    }
    (project / f"rank-{rank}.json").write_text(json.dumps(result))


def combine(job: dict[str, Any], ranks: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    main = next(r for r in ranks if r["rank"] == 0)
    step_s = statistics.median(main["step_s"])
    tokens_per_step = main["tokens"] / main["steps"]
    tok_s = tokens_per_step / step_s
    flops = lora_training_flops_per_token(ARCHS[job["arch"]], args.seq_len)
    return {
        **job,
        "gpu": main["gpu"],
        "versions": _versions(),
        "batch_per_gpu": args.batch_size,
        "seq_len": args.seq_len,
        "timed_steps": len(main["step_s"]),
        "step_s_median": round(step_s, 4),
        "tokens_per_step": tokens_per_step,
        "tokens_per_s": round(tok_s, 1),
        "mfu_lora_per_gpu": round(tok_s * flops["lora"] / (PEAK_BF16_TFLOPS * 1e12 * job["gpus"]), 4),
        "peak_allocated_gib_max": max(r["peak_allocated_gib"] for r in ranks),
        "peak_reserved_gib_max": max(r["peak_reserved_gib"] for r in ranks),
        "peak_reserved_gib_per_rank": [
            r["peak_reserved_gib"] for r in sorted(ranks, key=lambda r: r["rank"])
        ],
    }


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median over repeats per (arch, mode, strategy, gpus); efficiency against 1 GPU of the same arch and mode."""
    keys = list(dict.fromkeys((r["arch"], r["mode"], r["strategy"], r["gpus"]) for r in runs))
    medians: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key in keys:
        same = [r for r in runs if (r["arch"], r["mode"], r["strategy"], r["gpus"]) == key]
        ok = [r for r in same if "error" not in r]
        if not ok:
            medians[key] = {"error": same[0]["error"]}
            continue
        medians[key] = {
            "repeats": len(ok),
            **{k: statistics.median(r[k] for r in ok)
               for k in ("tokens_per_s", "step_s_median", "peak_reserved_gib_max", "peak_allocated_gib_max", "mfu_lora_per_gpu")},
        }  # fmt: skip
    rows = []
    for key in keys:
        arch, mode, strategy, gpus = key
        row = {"arch": arch, "mode": mode, "strategy": strategy, "gpus": gpus, **medians[key]}
        one = medians.get((arch, mode, "ddp", 1)) or medians.get((arch, mode, "single", 1))
        if "error" not in row and one and "error" not in one:
            row["scaling_efficiency"] = round(row["tokens_per_s"] / (gpus * one["tokens_per_s"]), 3)
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="QLoRA across GPUs, random-init weights, fixed per-GPU batch")
    for col in ("arch", "mode", "strategy", "GPUs", "tok/s", "step s", "scaling eff.", "peak resv GiB (max rank)",
                "peak alloc GiB", "MFU lora / GPU"):  # fmt: skip
        table.add_column(col)
    for r in rows:
        head = (r["arch"], r["mode"], r["strategy"], str(r["gpus"]))
        if "error" in r:
            table.add_row(*head, r["error"], *[""] * 5)
            continue
        eff = r.get("scaling_efficiency")
        table.add_row(
            *head, f"{r['tokens_per_s']:.0f}", f"{r['step_s_median']:.3f}", "–" if eff is None else f"{eff:.2f}",
            f"{r['peak_reserved_gib_max']:.1f}", f"{r['peak_allocated_gib_max']:.1f}", f"{r['mfu_lora_per_gpu']:.1%}",
        )  # fmt: skip
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
