"""The training plan: every choice of a run made once, and the run card's memory policy worded from it."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core.options.train import TrainOptions
from train.fit import BatchFit
from train.loading import Hardware, load_model
from train.plan import TrainPlan, plan

CPU = Hardware("cpu", torch.float32, "cpu")
CUDA = Hardware("cuda", torch.bfloat16, "NVIDIA H100")


def test_the_loaded_base_resolves_auto_and_the_configured_options_stay_as_written(tiny_checkpoint):
    opts = TrainOptions(mode="lora", epochs=3, gradient_accumulation_steps=4, packing="off")  # batch, ckpt: auto
    before = plan(opts, CPU, [{}] * 10, tokenizer=None)  # on a CPU nothing is tokenised to count rows
    planned = before.with_model(load_model(tiny_checkpoint, CPU, load_in_4bit=False))

    assert before.options is opts and opts.batch_size == "auto" and before.batch is None
    resolved = planned.options
    assert (resolved.batch_size, resolved.gradient_checkpointing, resolved.packing) == (4, True, "off")
    assert planned.batch == BatchFit(4, True, "CPU: the fixed defaults")
    assert planned.steps == 3  # 3 epochs of ceil(10 records / (4 rows × 4 accumulated))
    assert planned.base_parameters > 0 and not planned.compile_layers and planned.compiled_layers is None
    assert (planned.attention, planned.optimizer, planned.fused_lora) == ("sdpa", "adamw_torch", False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        planned.packing = True  # type: ignore[misc]


def test_the_memory_policy_words_each_gpu_choice_in_the_cards_order():
    opts = TrainOptions(batch_size=8, gradient_checkpointing=True, offload_activations="on")
    planned = TrainPlan(
        options=opts,
        hardware=CUDA,
        allocator="expandable_segments:True",
        quant_storage=None,
        packing=True,
        attention="dsforge_varlen",
        attention_reason="varlen flash attention over record boundaries",
        fused_lora=True,
        offload_activations=True,
        optimizer="adamw_torch_fused",
        train_rows=100,
        packed_rows=40,
    )
    planned = dataclasses.replace(
        planned,
        batch=BatchFit(8, True, "as configured"),
        compiled_layers="not compiled (auto): 13 planned steps: compiling pays from 1000",
    )
    adapter = {"quantisation": "4-bit NF4, double quantisation", "method": "qlora"}
    planned = planned.applied(adapter, "nothing: …", "168 LoRA linear layers, one autograd node each", None)

    policy = planned.memory_policy()
    assert list(policy) == [
        "quantisation", "method", "checkpoint_keeps", "liger_kernels", "fused_lora", "batch",
        "allocator", "activation_offloading", "packing", "attention", "compiled_layers",
    ]  # fmt: skip
    assert policy["batch"] == {"batch_size": 8, "gradient_checkpointing": True, "how": "as configured"}
    assert policy["packing"] == "padding-free, per-record attention (dsforge_varlen)"
    assert policy["activation_offloading"].startswith("on: saved activations to pinned CPU memory")
    assert policy["compiled_layers"] == "not compiled (auto): 13 planned steps: compiling pays from 1000"

    compiled = dataclasses.replace(planned, compile_layers=True, compiled_layers=None, fused_lora=False)
    compiled = compiled.applied(adapter, None, None, "30 decoder layers (Qwen2DecoderLayer), one graph")
    policy = compiled.memory_policy()
    assert "fused_lora" not in policy and "checkpoint_keeps" not in policy
    assert policy["compiled_layers"] == "30 decoder layers (Qwen2DecoderLayer), one graph"
