"""`dsforge train` on CPU killed with SIGKILL once a checkpoint is on disk, then run again: it resumes."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from peft import PeftModel
from transformers.utils import logging as hf_logging

from core.config import load_config
from core.layout import TrainPaths
from tests.faults import LogLines, kill_when
from tests.train.train_projects import TINY_TRAIN, one_cpu_thread, write_project
from train.loading import Hardware, load_model
from train.recipe import train

TINY = {**TINY_TRAIN, "max_steps": 2, "logging_steps": 1, "max_seq_len": 128}  # eval_steps 1: a checkpoint a step


def test_train_killed_after_a_checkpoint_resumes_from_it(tmp_path, license_records, repo_root, smollm_base):
    config_path = write_project(tmp_path, license_records, repo_root, train=TINY)
    paths = TrainPaths(tmp_path / "build")
    checkpoint = paths.checkpoints / "checkpoint-1"
    command = [sys.executable, "-m", "dsforge", "train", "-c", str(config_path), "--no-progress"]
    with one_cpu_thread() as env:
        process = subprocess.Popen(
            command, cwd=repo_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # The trainer state is the last file of a checkpoint: once it exists, the checkpoint is whole.
        kill_when(process, (checkpoint / "trainer_state.json").exists, timeout_s=400)
        assert not paths.run_json.exists() and not (paths.checkpoints / "checkpoint-2").exists()

        first = {f.name: f.stat().st_mtime_ns for f in checkpoint.iterdir()}
        with _transformers_log() as log:
            card = train(load_config(config_path), show_progress=False)

    # Step 1 was not run again: checkpoint-1 is untouched and only checkpoint-2 is new.
    assert {f.name: f.stat().st_mtime_ns for f in checkpoint.iterdir()} == first
    assert (paths.checkpoints / "checkpoint-2" / "trainer_state.json").is_file()
    assert f"Loading model from {checkpoint}" in log.text
    assert re.findall(r"Saving model checkpoint to \S*checkpoint-(\d+)", log.text) == ["2"]
    assert card.status == "complete" and card.steps == 2
    base = load_model(
        smollm_base.path, Hardware("cpu", torch.float32, "cpu"), load_in_4bit=False, for_training=False
    )
    model = PeftModel.from_pretrained(base, paths.adapter)
    trained = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert trained and any(p.abs().sum() > 0 for p in trained)  # LoRA B starts at zero


@contextmanager
def _transformers_log() -> Iterator[LogLines]:
    """transformers' own INFO lines (which checkpoint it loads and saves) for the duration of a block.

    The Trainer sets the library's verbosity itself when it starts, so the trainer's own logger
    gets its level here: its INFO lines reach the handler whatever the library level becomes.
    """
    lines, level = LogLines(), hf_logging.get_verbosity()
    trainer_logger = logging.getLogger("transformers.trainer")
    trainer_level = trainer_logger.level
    hf_logging.set_verbosity_info()
    trainer_logger.setLevel(logging.INFO)
    hf_logging.add_handler(lines)
    try:
        yield lines
    finally:
        hf_logging.remove_handler(lines)
        trainer_logger.setLevel(trainer_level)
        hf_logging.set_verbosity(level)


def test_a_half_written_checkpoint_is_dropped_and_the_last_whole_one_resumed(tmp_path):
    from train.resume import last_checkpoint

    whole = tmp_path / "checkpoint-1"
    whole.mkdir()
    (whole / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    (whole / "trainer_state.json").write_text("{}")
    cut = tmp_path / "checkpoint-10"  # numeric order, not string order, decides what is newest
    cut.mkdir()
    (cut / "adapter_model.safetensors").write_bytes(b"\x08\0\0")  # truncated header, no trainer state
    empty = tmp_path / "checkpoint-2"
    empty.mkdir()

    assert last_checkpoint(tmp_path) == whole
    assert not cut.exists() and not empty.exists()
    assert last_checkpoint(tmp_path / "absent") is None
