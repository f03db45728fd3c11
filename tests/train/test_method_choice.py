"""`train.method: auto` and `compute_dtype: auto` follow the hardware, and say why."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from core.options.train import TrainOptions
from train import loading
from train.loading import Hardware, pick_hardware
from train.method_choice import choose_method
from train.plan import plan

CPU_BF16 = Hardware("cpu", torch.bfloat16, "cpu")
GIB = 2**30


@pytest.fixture()
def base(tmp_path):
    """A base whose weights hold 3 × 2^20 elements: 6 MiB in bf16."""
    save_file({"a": torch.zeros(1024, 1024), "b": torch.zeros(2, 1024, 1024)}, str(tmp_path / "model.safetensors"))
    return tmp_path


def test_the_default_method_is_auto_and_a_configured_one_wins(base):
    assert TrainOptions().method == "auto"
    configured = TrainOptions(method="dora")
    assert choose_method(configured, CPU_BF16, base).options is configured
    with pytest.warns(FutureWarning):
        legacy = TrainOptions(mode="qlora")  # the deprecated spelling still means what it said
    assert legacy.method == "qlora" and choose_method(legacy, CPU_BF16, base).reason is None
    assert TrainOptions().training_method.name == "qlora"  # read before training chooses: the GPU choice


def test_auto_is_lora_on_a_cpu_that_holds_the_base_and_qlora_where_it_would_not(base):
    roomy = choose_method(TrainOptions(), CPU_BF16, base, free_bytes=8 * GIB)
    assert (roomy.options.method, roomy.options.mode) == ("lora", "lora")
    assert roomy.options.training_method.loads_4bit is False
    assert "LoRA on the CPU" in roomy.reason and "bfloat16" in roomy.reason
    short = choose_method(TrainOptions(), CPU_BF16, base, free_bytes=10 * 2**20)  # 6 MiB of 10 MiB: over 40 %
    assert short.options.method == "qlora" and short.options.training_method.loads_4bit
    assert "would take" in short.reason


def test_auto_is_qlora_on_a_gpu(base):
    chosen = choose_method(TrainOptions(), Hardware("cuda", torch.bfloat16, "H200"), base, free_bytes=GIB)
    assert chosen.options.method == "qlora" and "GPU (H200)" in chosen.reason


def test_the_choice_reaches_the_run_cards_memory_policy(base):
    chosen = choose_method(TrainOptions(packing="off"), CPU_BF16, base, free_bytes=8 * GIB)
    planned = plan(chosen.options, CPU_BF16, train_split=[], tokenizer=None, method_choice=chosen.reason)
    assert planned.memory_policy()["method_choice"] == chosen.reason


def test_cpu_compute_dtype_auto_is_bf16_only_with_matrix_units(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(loading, "cpu_has_bf16_matrix_units", lambda: True)
    assert pick_hardware("auto").compute_dtype == torch.bfloat16
    monkeypatch.setattr(loading, "cpu_has_bf16_matrix_units", lambda: False)
    assert pick_hardware("auto").compute_dtype == torch.float32
    assert pick_hardware("bfloat16").compute_dtype == torch.bfloat16  # a configured dtype is kept


def test_the_default_cpu_recipe_trains_lora_in_bf16_packed(tmp_path, license_records, repo_root, smollm_base):
    """Through `train()` with the CPU defaults (method, packing, batch: auto) and bf16 compute."""
    from safetensors.torch import load_file

    from core.config import load_config
    from core.layout import TrainPaths
    from tests.train.train_projects import TINY_TRAIN, one_cpu_thread, write_project
    from train.recipe import train

    options = {k: v for k, v in TINY_TRAIN.items() if k not in {"mode", "packing", "batch_size", "compute_dtype"}}
    options.update(compute_dtype="bfloat16", max_steps=2, learning_rate=1e-2, warmup_ratio=0.0)
    config = load_config(write_project(tmp_path, license_records, repo_root, train=options))
    with one_cpu_thread():
        card = train(config, show_progress=False)
    assert card.status == "complete" and card.steps == 2
    assert card.hyperparameters["method"] == "lora" and card.hyperparameters["mode"] == "lora"
    assert card.memory_policy["method_choice"].startswith("auto: LoRA on the CPU")
    assert card.memory_policy["packing"].startswith("padding-free")
    assert card.memory_policy["batch"]["how"].startswith("CPU: 4 rows")
    assert card.hardware["compute_dtype"] == "torch.bfloat16"
    weights = load_file(str(TrainPaths(config.output_dir).adapter / "adapter_model.safetensors"))
    assert any(name.endswith("lora_B.weight") and t.abs().sum() > 0 for name, t in weights.items())
