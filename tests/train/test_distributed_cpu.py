"""`dsforge train --gpus 2` on CPU: two real processes over gloo against one process, same global batch.

Two ranks with one record each see, at every optimiser step, the same two records as one
process with batch 2: the Trainer's seeded sampler gives every rank the same permutation
and accelerate hands rank r the batches r, r+2, ... of it, and the loss is averaged over
the tokens of both ranks (`average_tokens_across_devices`). Dropout is off so both runs
compute the same function; what remains is float rounding (different padding widths,
gradients summed by all-reduce instead of inside one matmul).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from safetensors.torch import load_file

from builder.config import load_config
from tests.train.train_projects import one_cpu_thread, write_project
from train.data import TrainPaths
from train.qlora import train
from train.run_card import RunCard

TINY = {
    "base_model": "smollm2-135m",
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
}
# Adam normalises each step by the gradient's running RMS, so an element whose gradient is
# rounding noise can move by up to the learning rate (2e-4) per step; what LoRA learned
# (B starts at 0) is compared against its own size.
MAX_ABS_DIFF = 1e-4


@pytest.fixture(scope="module")
def runs(tmp_path_factory, license_records, repo_root, smollm_base):
    root = tmp_path_factory.mktemp("distributed")
    two = write_project(root / "two", license_records, repo_root, train={**TINY, "batch_size": 1})
    one = write_project(root / "one", license_records, repo_root, train={**TINY, "batch_size": 2})
    command = [sys.executable, "-m", "builder.cli", "train", "-c", str(two), "--gpus", "2", "--no-progress"]
    with one_cpu_thread() as env:
        done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
        single = train(load_config(one), show_progress=False)
    return TrainPaths(root / "two" / "build"), TrainPaths(root / "one" / "build"), single, done.stderr


def test_two_processes_train_the_adapter_one_process_trains(runs):
    two, one, single, _ = runs
    card = RunCard.model_validate_json(two.run_json.read_text("utf-8"))
    assert card.status == "complete" and card.steps == single.steps == 4
    assert card.hardware["processes"] == 2 and card.hardware["distributed"] == "ddp"
    assert card.hardware["global_batch"] == single.hardware["global_batch"] == 2
    assert card.best_checkpoint == single.best_checkpoint

    losses = [(e["step"], e["loss"]) for e in card.log_history if "loss" in e]
    reference = [(e["step"], e["loss"]) for e in single.log_history if "loss" in e]
    assert [s for s, _ in losses] == [s for s, _ in reference] == [1, 2, 3, 4]
    for (_, got), (_, want) in zip(losses, reference, strict=True):
        assert got == pytest.approx(want, rel=1e-4)

    a = load_file(str(two.adapter / "adapter_model.safetensors"))
    b = load_file(str(one.adapter / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    learned = max(float(b[k].abs().max()) for k in b if "lora_B" in k)
    print(f"max |ΔLoRA| two vs one process: {diff:.3g} (largest learned lora_B entry {learned:.3g})")
    assert learned > 10 * MAX_ABS_DIFF  # training moved the adapter well past the tolerance
    assert diff <= MAX_ABS_DIFF


def test_only_rank_zero_writes(runs):
    two, _, _, stderr = runs
    written = sorted(p.name for p in two.root.iterdir())
    assert written == ["RUN_CARD.md", "adapter", "checkpoints", "loss.png", "run.json"]  # no temp folders left
    assert sorted(p.name for p in two.adapter.iterdir()) == sorted(
        ["adapter_config.json", "adapter_model.safetensors", "chat_template.jinja", "tokenizer.json", "tokenizer_config.json"]
    ) or (two.adapter / "adapter_model.safetensors").is_file()
    checkpoints = sorted(p.name for p in two.checkpoints.iterdir())
    assert checkpoints == ["checkpoint-2", "checkpoint-4", "fingerprint.txt"]
    assert stderr.count("best val loss") == 1  # one summary table, from rank 0


def test_a_second_launch_is_a_no_op(runs, repo_root):
    two, _, _, _ = runs
    before = two.run_json.stat().st_mtime_ns
    config = two.output.parent / "dsforge.yaml"
    command = [sys.executable, "-m", "builder.cli", "train", "-c", str(config), "--gpus", "2", "--no-progress"]
    with one_cpu_thread() as env:
        done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert two.run_json.stat().st_mtime_ns == before
