"""A tiny model made ready as train() makes it, for the checkpoint-policy tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def tiny_lora(path: Any, prepare: Callable[[Any], Any] | None = None, checkpointing: bool = True,
              reentrant: bool = False) -> Any:  # fmt: skip
    """`prepare(model)` first (a checkpoint policy, before peft and the Trainer enable checkpointing), then
    LoRA on every linear layer with B drawn non-zero, the Trainer's checkpoint enable and fused LoRA layers."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from train.fused_lora import fuse_lora_layers

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if prepare is not None:
        prepare(model)
    torch.manual_seed(1)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules="all-linear"))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    model.train()
    model.enable_input_require_grads()
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": reentrant})
    fuse_lora_layers(model)
    return model
