"""QLoRA training speed and memory on a GPU: `dsforge train` against the plain recipe.

    python bench/qlora_gpu.py --tokenizer DIR [--archs qwen2.5-0.5b,qwen2.5-1.5b] [--steps 20]

Each (architecture, policy, repeat) trains in its own process so peak memory,
allocator state and an out-of-memory error stay with that run. Weights are
random: speed and memory do not depend on their values, and real checkpoints
of these sizes cannot be shipped with a benchmark. Every sequence is exactly
`--seq-len` tokens, so tokens/s counts the same real tokens for every policy.

Baseline = the recipe as the transformers/peft/bitsandbytes docs show it:
`BitsAndBytesConfig(nf4, double quant, bf16 compute)`, `prepare_model_for_kbit_training`
(fp32 upcast of embeddings, norms and head), `get_peft_model`, `Trainer`, loss from
full logits, `adamw_torch`, gradient checkpointing, SDPA. `lora-bf16` is the same
with an unquantised bf16 base. `dsforge-*` policies call `train.recipe.train`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from transformers import TrainerCallback  # noqa: E402

from bench.gpu_archs import ARCHS, lora_training_flops_per_token  # noqa: E402

PEAK_BF16_TFLOPS = 800.0  # an 8192³ bf16 matmul measured on the H100 used (HOPPER/KINDS notes: 769–798)

# "same" = the documented recipe's configuration: --batch-size rows of --seq-len tokens, gradient checkpointing.
_SAME = {"gradient_checkpointing": True, "compile_layers": "off"}
POLICIES: dict[str, dict[str, Any]] = {
    "baseline-qlora": {"kind": "baseline", "quantise": True},
    "baseline-lora-bf16": {"kind": "baseline", "quantise": False},
    # dsforge levers at the same configuration, each alone, then together.
    "dsforge-same-nopack": {"kind": "dsforge", "options": {**_SAME, "packing": "off", "fused_lora": "off"}, "repeats": 1},
    "dsforge-same-noliger": {"kind": "dsforge", "options": {**_SAME, "packing": "on", "liger_kernels": "off"}},
    "dsforge-same-nofused": {"kind": "dsforge", "options": {**_SAME, "packing": "on", "fused_lora": "off"}},
    "dsforge-same": {"kind": "dsforge", "options": {**_SAME, "packing": "on"}},  # + fused LoRA layers (default)
    # Regional compile: Inductor fuses norm/RoPE/SwiGLU itself, so Liger stays off.
    "dsforge-same-compile": {"kind": "dsforge",
                             "options": {**_SAME, "packing": "on", "compile_layers": "on", "liger_kernels": "off"}},
    # ... each compiled layer replayed as a CUDA graph (compile_layers: graphs, torch.compile's reduce-overhead).
    "dsforge-same-graphs": {"kind": "dsforge",
                            "options": {**_SAME, "packing": "on", "compile_layers": "graphs", "liger_kernels": "off"}},
    "dsforge-same-compile-nofused": {"kind": "dsforge", "options": {
        **_SAME, "packing": "on", "compile_layers": "on", "liger_kernels": "off", "fused_lora": "off"}},
    "dsforge-same-compile-nopack": {"kind": "dsforge", "options": {
        **_SAME, "packing": "off", "compile_layers": "on", "liger_kernels": "off"}},
    # Checkpointing that builds autograd graphs twice (train.checkpoint_reentrant: off), as before it was auto.
    "dsforge-same-nonreentrant": {"kind": "dsforge", "repeats": 1,
                                  "options": {**_SAME, "packing": "on", "checkpoint_reentrant": "off"}},
    "dsforge-same-compile-nonreentrant": {"kind": "dsforge", "repeats": 1, "options": {
        **_SAME, "packing": "on", "compile_layers": "on", "liger_kernels": "off", "checkpoint_reentrant": "off"}},
    # Each checkpointed layer's input offloaded to the CPU on a side stream (train.offload_activations).
    "dsforge-same-offload": {"kind": "dsforge", "repeats": 1,
                             "options": {**_SAME, "packing": "on", "offload_activations": "on"}},
    # Selective checkpointing (train.checkpoint_keep): less recompute, eager layers (compile cannot carry it).
    **{f"dsforge-same-keep-{keep}": {"kind": "dsforge", "options": {**_SAME, "packing": "on", "checkpoint_keep": keep}}
       for keep in ("attention", "projections", "matmuls")},  # fmt: skip
    "dsforge-same-no-ckpt": {"kind": "dsforge", "options": {**_SAME, "packing": "on", "gradient_checkpointing": False}},
    # the defaults: batch size and checkpointing fitted to the GPU, packing on, layers compiled
    "dsforge-auto": {"kind": "dsforge", "options": {}, "batch": "auto"},
    "dsforge-auto-nocompile": {"kind": "dsforge", "options": {"compile_layers": "off"}, "batch": "auto"},
    "dsforge-auto-nofused": {"kind": "dsforge", "options": {"fused_lora": "off"}, "batch": "auto"},
    "dsforge-auto-compile": {"kind": "dsforge", "options": {"compile_layers": "on", "liger_kernels": "off"},
                             "batch": "auto"},
    # The defaults as they were before train.checkpoint_layers: the fitted batch with every layer checkpointed.
    "dsforge-auto-ckpt-all": {"kind": "dsforge", "options": {"checkpoint_layers": "all"}, "batch": "auto"},
    # Fixed rows with checkpointing left to the fit: every layer checkpointed, or as many as memory lets off.
    "dsforge-b16-ckpt-all": {"kind": "dsforge", "options": {"checkpoint_layers": "all"}, "batch": 16},
    "dsforge-b8-layers-auto": {"kind": "dsforge", "options": {}, "batch": 8},
    # 8 rows with a set number of checkpointed layers: every one, or fewer (the rest whole) within a memory line.
    **{f"dsforge-b8-ckpt-{layers}": {"kind": "dsforge", "options": {"checkpoint_layers": layers}, "batch": 8}
       for layers in ("all", 12, 14, 15, 16, 18, 20)},  # fmt: skip
    # The defaults held to a memory line (train.gpu_memory_gib): the recipe's 7B reserved 30.6 GiB on an H100.
    "dsforge-auto-line-30": {"kind": "dsforge", "options": {"gpu_memory_gib": 30.0}, "batch": "auto"},
    # The fitted batch with selective checkpointing: less recompute for the memory the batch leaves.
    **{f"dsforge-auto-keep-{keep}": {"kind": "dsforge", "options": {"checkpoint_keep": keep}, "batch": "auto"}
       for keep in ("attention", "projections")},  # fmt: skip
}
AUTO_ROWS = 64  # train.fit.MAX_ROWS: the most rows an auto batch takes


def main(return_runs: bool = False) -> list[dict[str, Any]] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="a Qwen2.5 tokenizer folder")
    parser.add_argument("--archs", default="qwen2.5-0.5b,qwen2.5-1.5b")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--steps", type=int, default=20, help="timed optimiser steps after warm-up")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="rows per step of the fixed-batch policies")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--data", choices=("fixed", "sample"), default="fixed",
                        help="fixed: every record cut to exactly --seq-len tokens; sample: record lengths drawn "
                        "from the sample dataset's (bench/sample_lengths.json)")
    parser.add_argument("--profile", action="store_true", help="profile one step per run (bench/profile_step.py)")
    parser.add_argument("--cprofile", action="store_true",
                        help="cProfile one step per run: the host's Python time by function")
    parser.add_argument("--deadline-s", type=float, default=1e9, help="start no new run after this many seconds")
    parser.add_argument("--run-timeout-s", type=float, default=600, help="stop one run after this many seconds")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dsforge-bench"))
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_policy(args, json.loads(args.worker))), flush=True)
        return None
    runs = []
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.results.mkdir(parents=True, exist_ok=True)
    partial = args.results / f"qlora_gpu-{args.data}-{stamp}.partial.json"
    for arch in args.archs.split(","):
        base = make_random_base(arch, args.tokenizer, args.work / arch)
        dataset = make_dataset(args.tokenizer, args.work / f"dataset-{args.data}-{args.seq_len}", args.seq_len,
                               _most_rows(args), args.data)
        # Every repeat of the repeated policies first, then the single-run levers (compile can be slow).
        order = [(r, p) for r in range(args.repeats) for p in args.policies.split(",")
                 if r < POLICIES[p].get("repeats", args.repeats)]  # fmt: skip
        order.sort(key=lambda rp: POLICIES[rp[1]].get("repeats", args.repeats) < args.repeats)
        for repeat, policy in order:
            job = {"arch": arch, "policy": policy, "repeat": repeat, "base": str(base), "dataset": str(dataset),
                   "data": args.data, "profile": args.profile, "cprofile": args.cprofile}
            if time.monotonic() - started > args.deadline_s:
                runs.append({**job, "error": "not run: --deadline-s reached"})
            else:
                run_started = time.monotonic()
                runs.append({**run_in_subprocess(job, args), "wall_s": round(time.monotonic() - run_started, 1)})
            print(json.dumps(_brief(runs[-1])), flush=True)
            if runs[-1].get("python_profile"):
                print(_python_profile_lines(runs[-1]), flush=True)
            # Runs so far survive a machine taken back or a command cut at its time limit.
            partial.write_text(json.dumps({"runs": runs}, indent=2))
    summary = summarise(runs, args)
    (args.results / f"qlora_gpu-{args.data}-{stamp}.json").write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    partial.unlink(missing_ok=True)
    print_table(summary)
    return runs if return_runs else None


def _brief(run: dict[str, Any]) -> dict[str, Any]:
    """One run as a short log line (the full record, versions included, goes to the results file)."""
    keep = ("arch", "policy", "repeat", "batch", "tokens_per_s", "step_s_median", "peak_reserved_gib", "mfu_lora",
            "memory_policy", "wall_s", "error", "log_tail")  # fmt: skip
    return {k: run[k] for k in keep if k in run}


def _python_profile_lines(run: dict[str, Any]) -> str:
    """The host profile as `{"arch"`-prefixed lines, so a log filtered to result lines keeps it."""
    prof = run["python_profile"]
    head = {"arch": run["arch"], "policy": run["policy"], "python_wall_ms": prof["wall_ms"],
            "function_calls": prof["function_calls"]}  # fmt: skip
    lines = [json.dumps(head)]
    for key in ("top_self", "top_cumulative"):
        lines.append(json.dumps({"arch": run["arch"], key: [f"{t['fn']} {t['ms']}ms x{t['calls']}" for t in prof[key]]}))
    return "\n".join(lines)


def _most_rows(args: argparse.Namespace) -> int:
    """Records enough for every step of the largest batch (and, for auto, for train.fit's data cap)."""
    batches = [POLICIES[p].get("batch", args.batch_size) for p in args.policies.split(",")]
    rows = max(AUTO_ROWS if b == "auto" else b for b in batches) * (args.steps + args.warmup + 2)
    if "auto" in batches:  # train.fit caps the batch at packed rows ÷ MIN_STEPS_PER_EPOCH
        rows = max(rows, AUTO_ROWS * 8)
    if args.data == "sample":  # packed rows hold seq_len / (mean record length) records each
        rows = rows * args.seq_len // 120
    return rows


def make_random_base(arch: str, tokenizer: Path, target: Path) -> Path:
    """A checkpoint of the architecture with random bf16 weights, built on the GPU (fast) and saved once."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bench.gpu_archs import model_config

    if (target / "config.json").is_file():
        return target
    config = model_config(arch)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(tokenizer).save_pretrained(target)
    del model
    return target


def make_dataset(tokenizer_dir: Path, target: Path, seq_len: int, rows: int, data: str = "fixed") -> Path:
    """`fixed`: records whose prompt + answer exceed seq_len, so every sequence is cut to exactly seq_len.
    `sample`: prompt and answer token counts drawn (with replacement) from the sample dataset's records."""
    if (target / "dataset_dict.json").is_file():
        return target
    import random

    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=False)
    words = (REPO / "samples" / "docs" / "mit.txt").read_text("utf-8").split()
    per_word = len(tokenizer(" ".join(words))["input_ids"]) / len(words)
    lengths = json.loads((REPO / "bench" / "sample_lengths.json").read_text())["prompt_completion_tokens"]
    rng = random.Random(0)

    def text(tokens: int) -> str:
        return " ".join(rng.choice(words) for _ in range(max(1, round(tokens / per_word))))

    def record(i: int) -> dict[str, str]:
        if data == "fixed":
            prompt, answer = int(seq_len * 0.55), int(seq_len * 0.9)
        else:
            prompt, answer = rng.choice(lengths)
            prompt = max(1, prompt - 20)  # the chat template's own tokens
        return {
            "id": f"r{i}", "instruction": "Summarise the clause below.", "input": text(prompt),
            "output": text(answer), "doc_id": f"d{i % 50}", "stratum": "s", "template": "t", "schema_name": "bench",
        }  # fmt: skip

    dataset = DatasetDict(
        train=Dataset.from_list([record(i) for i in range(rows)]),
        validation=Dataset.from_list([record(rows + i) for i in range(16)]),
        test=Dataset.from_list([record(rows + 16 + i) for i in range(16)]),
    )
    dataset.save_to_disk(str(target))
    return target


def run_in_subprocess(job: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--tokenizer", str(args.tokenizer), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len),
           "--work", str(args.work), "--data", args.data, "--results", str(args.results),
           "--worker", json.dumps(job)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                              timeout=args.run_timeout_s)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {**job, "error": f"timeout after {args.run_timeout_s:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stdout + proc.stderr)[-3000:]
    oom = "OutOfMemoryError" in tail or "CUDA out of memory" in tail
    return {**job, "error": "out of memory" if oom else f"exit {proc.returncode}", "log_tail": tail[-1500:]}


class StepTimer(TrainerCallback):
    """Wall time of each optimiser step with the GPU drained, excluding evaluation and saving."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        _sync()
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        _sync()
        self.durations.append(time.perf_counter() - self._start)


def run_policy(args: argparse.Namespace, job: dict[str, Any]) -> dict[str, Any]:
    import torch

    spec = POLICIES[job["policy"]]
    args.batch_size = spec.get("batch", args.batch_size)
    timer = StepTimer()
    callbacks: list[Any] = [timer]
    if job.get("profile"):
        from bench.profile_step import StepProfiler

        callbacks.append(StepProfiler(at_step=args.warmup - 1))  # the last warm-up step: timed steps stay clean
    if job.get("cprofile"):
        from bench.profile_step import StepPythonProfile

        dump = Path(args.results) / f"pstats-{job['arch']}-{job['policy']}-{job['repeat']}.prof"
        callbacks.append(StepPythonProfile(at_step=args.warmup - 1, dump_to=dump))
    total_steps = args.warmup + args.steps
    extra: dict[str, Any] = {}
    if spec["kind"] == "baseline":
        if args.batch_size == "auto":
            raise SystemExit("baseline policies take a fixed --batch-size")
        tokens_seen = train_baseline(job, args, spec["quantise"], total_steps, callbacks)
    else:
        tokens_seen, card = train_dsforge(job, args, spec["options"], total_steps, callbacks)
        resolved_batch = card.hyperparameters.batch_size
        extra = {"memory_policy": card.memory_policy.model_dump(mode="json"), "resolved_batch": resolved_batch}
        args.batch_size = args.batch_size if resolved_batch is None else resolved_batch
    for callback in callbacks:
        if getattr(callback, "result_key", ""):
            extra[callback.result_key] = callback.summary
    timed = timer.durations[args.warmup :]
    step_s = statistics.median(timed)
    tokens_per_step = tokens_seen / max(len(timer.durations), 1)
    tok_s = tokens_per_step / step_s
    # Attention FLOPs follow the length a record attends over: the full row, or a sample record (mean 133).
    flops = lora_training_flops_per_token(ARCHS[job["arch"]], args.seq_len if args.data == "fixed" else 133)
    return {
        **job,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (smoke test only)",
        "versions": _versions(),
        "batch": args.batch_size,
        "seq_len": args.seq_len,
        "timed_steps": len(timed),
        "step_s_median": round(step_s, 4),
        "step_s_p10_p90": _p10_p90(timed),
        "tokens_per_step": tokens_per_step,
        "tokens_per_s": round(tok_s, 1),
        "mfu_lora": round(tok_s * flops["lora"] / (PEAK_BF16_TFLOPS * 1e12), 4),
        "mfu_6n": round(tok_s * flops["6n"] / (PEAK_BF16_TFLOPS * 1e12), 4),
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else 0.0,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if torch.cuda.is_available() else 0.0,
        **extra,
    }


def _p10_p90(values: list[float]) -> list[float] | None:
    if len(values) < 3:
        return None
    deciles = statistics.quantiles(values, n=10)
    return [round(deciles[0], 4), round(deciles[-1], 4)]


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train_baseline(job: dict[str, Any], args: argparse.Namespace, quantise: bool, steps: int, callbacks: list[Any]) -> int:
    """The documented recipe, kept plain on purpose: it is what dsforge is measured against."""
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BitsAndBytesConfig,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(job["base"])
    device = 0 if torch.cuda.is_available() else "cpu"
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16, "device_map": {"": device}, "attn_implementation": "sdpa"}
    if quantise:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    model = AutoModelForCausalLM.from_pretrained(job["base"], **kwargs)
    model.config.use_cache = False
    if quantise:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)

    def tokenize(row: dict[str, Any]) -> dict[str, Any]:
        messages = [
            {"role": "user", "content": f"{row['instruction']}\n\n{row['input']}"},
            {"role": "assistant", "content": row["output"]},
        ]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        return tokenizer(text, truncation=True, max_length=args.seq_len)

    train = load_from_disk(job["dataset"])["train"]
    train = train.map(tokenize, remove_columns=train.column_names)
    out = Path(args.work) / "runs" / f"{job['arch']}-{job['policy']}-{job['repeat']}"
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(out),
            per_device_train_batch_size=args.batch_size,
            max_steps=steps,
            learning_rate=2e-4,
            bf16=torch.cuda.is_available(),
            optim="adamw_torch",
            gradient_checkpointing=True,
            logging_steps=10,
            save_strategy="no",
            report_to="none",
            include_num_input_tokens_seen="non_padding",
        ),
        train_dataset=train,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        callbacks=callbacks,
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    return int(trainer.state.num_input_tokens_seen)


def train_dsforge(
    job: dict[str, Any], args: argparse.Namespace, options: dict[str, Any], steps: int, callbacks: list[Any]
) -> tuple[int, Any]:
    import shutil

    from train.recipe import train

    project = Path(args.work) / "runs" / f"{job['arch']}-{job['policy']}-{job['repeat']}"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(job["dataset"], project / "export" / "dataset")
    opts = timing_options(job["base"], steps, args.batch_size, args.seq_len, **options)
    config = types.SimpleNamespace(train=opts, output_dir=project, project_root=project)
    card = train(config, show_progress=False, callbacks=callbacks)
    return int(card.train_tokens), card


def timing_options(base: str, steps: int, batch_size: int | str, seq_len: int, **options: Any) -> Any:
    """Train options of a timed run: `steps` steps, one validation at the end, no warm-up, no accumulation."""
    from core.options.train import TrainOptions

    return TrainOptions(base_model=base, max_steps=steps, eval_steps=steps, logging_steps=10, batch_size=batch_size,
                        gradient_accumulation_steps=1, max_seq_len=seq_len, warmup_ratio=0.0, min_train_examples=0,
                        **options)  # fmt: skip


def summarise(runs: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Median over repeats per (arch, policy), with ratios against the baseline QLoRA of the same arch."""
    rows = []
    for arch in dict.fromkeys(r["arch"] for r in runs):
        ok = [r for r in runs if r["arch"] == arch and "error" not in r]
        by_policy: dict[str, list[dict[str, Any]]] = {}
        for r in ok:
            by_policy.setdefault(r["policy"], []).append(r)
        medians = {
            p: {k: statistics.median(r[k] for r in rs) for k in
                ("batch", "tokens_per_s", "step_s_median", "peak_allocated_gib", "peak_reserved_gib", "mfu_lora", "mfu_6n")}
            for p, rs in by_policy.items()
        }  # fmt: skip
        base = medians.get("baseline-qlora")
        bf16 = medians.get("baseline-lora-bf16")
        for policy in args.policies.split(","):
            failed = [r for r in runs if r["arch"] == arch and r["policy"] == policy and "error" in r]
            if policy not in medians:
                rows.append({"arch": arch, "policy": policy, "error": failed[0]["error"] if failed else "not run"})
                continue
            m = medians[policy]
            rows.append({
                "arch": arch, "policy": policy, "repeats": len(by_policy[policy]), **m,
                "speed_vs_baseline_qlora": _ratio(m, base, "tokens_per_s"),
                "memory_vs_baseline_qlora": _ratio(m, base, "peak_reserved_gib"),
                "memory_vs_bf16_lora": _ratio(m, bf16, "peak_reserved_gib"),
            })  # fmt: skip
    return rows


def _ratio(run: dict[str, float], baseline: dict[str, float] | None, key: str) -> float | None:
    return round(run[key] / baseline[key], 2) if baseline and baseline[key] else None


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="QLoRA training, random-init weights (speed/memory do not depend on weight values)")
    for col in ("arch", "policy", "batch", "tok/s", "step s", "peak alloc GiB", "peak resv GiB", "MFU lora", "MFU 6N",
                "× speed vs base QLoRA", "× mem vs base QLoRA", "× mem vs bf16 LoRA"):  # fmt: skip
        table.add_column(col)
    for r in rows:
        if "error" in r:
            table.add_row(r["arch"], r["policy"], "", r["error"], *[""] * 8)
            continue
        table.add_row(
            r["arch"], r["policy"], f"{r['batch']:.0f}", f"{r['tokens_per_s']:.0f}", f"{r['step_s_median']:.3f}",
            f"{r['peak_allocated_gib']:.1f}", f"{r['peak_reserved_gib']:.1f}",
            f"{r['mfu_lora']:.1%}", f"{r['mfu_6n']:.1%}", str(r["speed_vs_baseline_qlora"]),
            str(r["memory_vs_baseline_qlora"]), str(r["memory_vs_bf16_lora"]),
        )  # fmt: skip
    Console(width=200).print(table)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "liger-kernel"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


if __name__ == "__main__":
    main()
