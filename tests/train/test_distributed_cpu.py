"""`dsforge train --gpus 2` on CPU: two real processes over gloo (DDP, then FSDP2) against one
process with the same global batch.

Two ranks with one record each see, at every optimiser step, the same two records as one
process with batch 2: the Trainer's seeded sampler gives every rank the same permutation,
accelerate hands rank r the batches r, r+2, ... of it, and the loss is averaged over the
tokens of both ranks (`average_tokens_across_devices`). Dropout is off and LoRA's A matrices
are drawn from the run's seed, so both runs compute the same function; what remains is float
rounding (other padding widths, gradients summed by all-reduce instead of inside one matmul).

The base is SmolLM2-135M's architecture and tokenizer (chat template included) shrunk to two
layers of width 64 with random weights: the processes, the data path and the writes are real,
and training takes seconds instead of minutes on a shared two-core machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from builder.config import load_config
from tests.train.train_projects import one_cpu_thread, write_project
from train.data import TrainPaths
from train.qlora import train
from train.run_card import RunCard

TINY = {
    "mode": "lora",
    "max_steps": 4,
    "gradient_accumulation_steps": 1,
    "gradient_checkpointing": False,
    "eval_steps": 2,
    "logging_steps": 1,
    "max_seq_len": 96,
    "lora_r": 4,
    "lora_dropout": 0.0,
    "target_modules": ["q_proj", "v_proj"],
    "warmup_ratio": 0.0,
    "learning_rate": 1e-3,
}
# Seen: 2.7e-08 with lora_B entries up to 2.5e-03. Adam divides each step by the gradient's
# running RMS, which can blow rounding noise up where a gradient is near zero: hence 1e-6.
MAX_ABS_DIFF = 1e-6


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, smollm_base) -> Path:
    """SmolLM2's architecture and tokenizer, two layers of width 64, random weights (seed 0)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(smollm_base.path, local_files_only=True, trust_remote_code=False)
    config.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16})  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    folder = tmp_path_factory.mktemp("tiny-base")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(smollm_base.path, local_files_only=True, trust_remote_code=False).save_pretrained(
        folder
    )
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, license_records, repo_root, tiny_base):
    """The same data and seed three ways: 2 processes DDP, 2 processes FSDP, 1 process with twice the batch."""
    root = tmp_path_factory.mktemp("distributed")
    tiny = {**TINY, "base_model": str(tiny_base)}
    configs = {
        "ddp": write_project(root / "ddp", license_records, repo_root, train={**tiny, "batch_size": 1}),
        "fsdp": write_project(root / "fsdp", license_records, repo_root, train={**tiny, "batch_size": 1, "distributed": "fsdp"}),
        "one": write_project(root / "one", license_records, repo_root, train={**tiny, "batch_size": 2}),
    }  # fmt: skip
    logs = {}
    with one_cpu_thread() as env:
        for name in ("ddp", "fsdp"):
            command = [sys.executable, "-m", "builder.cli", "train", "-c", str(configs[name]), "--gpus", "2", "--no-progress"]
            done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, done.stderr[-4000:]
            logs[name] = done.stderr
        single = train(load_config(configs["one"]), show_progress=False)
    paths = {name: TrainPaths(root / name / "build") for name in configs}
    return paths, single, logs


def _adapter_diff(paths: dict[str, TrainPaths], name: str) -> tuple[float, float]:
    """Largest |difference| of the run's LoRA tensors from one process's, and the largest learned lora_B entry."""
    got = load_file(str(paths[name].adapter / "adapter_model.safetensors"))
    want = load_file(str(paths["one"].adapter / "adapter_model.safetensors"))
    assert got.keys() == want.keys() and got
    diff = max(float((got[k] - want[k]).abs().max()) for k in got)
    learned = max(float(want[k].abs().max()) for k in want if "lora_B" in k)  # B starts at 0: all of it learned
    print(f"\n{name}: max |LoRA two processes - one process| = {diff:.3g}; largest lora_B entry {learned:.3g}")
    return diff, learned


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_train_the_adapter_one_process_trains(runs, strategy):
    paths, single, _ = runs
    diff, learned = _adapter_diff(paths, strategy)
    card = RunCard.model_validate_json(paths[strategy].run_json.read_text("utf-8"))
    losses = [(e["step"], e["loss"]) for e in card.log_history if "loss" in e]
    reference = [(e["step"], e["loss"]) for e in single.log_history if "loss" in e]

    assert card.status == "complete" and card.steps == single.steps == 4
    assert card.hardware["processes"] == 2 and card.hardware["distributed"] == strategy
    assert card.hardware["global_batch"] == single.hardware["global_batch"] == 2
    assert (card.hardware["sharded_tensors"] > 0) == (strategy == "fsdp")  # FSDP really sharded the model
    assert single.hardware["processes"] == 1 and single.hardware["sharded_tensors"] == 0
    assert card.best_checkpoint == single.best_checkpoint
    assert [s for s, _ in losses] == [s for s, _ in reference] == [1, 2, 3, 4]
    for (_, got), (_, want) in zip(losses, reference, strict=True):
        assert got == pytest.approx(want, rel=1e-5)
    assert learned > 100 * MAX_ABS_DIFF  # training moved the adapter far past the tolerance
    assert diff <= MAX_ABS_DIFF


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_only_rank_zero_writes(runs, strategy):
    paths, _, logs = runs
    two, one = paths[strategy], paths["one"]

    def listing(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir())

    assert listing(two.root) == ["RUN_CARD.md", "adapter", "checkpoints", "loss.png", "run.json"]  # no temp folders
    assert listing(two.adapter) == listing(one.adapter)
    assert listing(two.checkpoints) == listing(one.checkpoints)
    assert "checkpoint-2" in listing(two.checkpoints) and "checkpoint-4" in listing(two.checkpoints)
    for split in ("train", "validation"):  # datasets' map caches: written once, no half-written twins
        assert listing(two.dataset / split) == listing(one.dataset / split)
    assert logs[strategy].count("best val loss") == 1  # one summary table, from rank 0
