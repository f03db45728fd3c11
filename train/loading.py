"""Load the tokenizer and the base model the way the options ask, on the hardware there is.

One place decides device, compute dtype and quantisation so that training,
evaluation and merging never disagree about them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.errors import TrainError

log = logging.getLogger(__name__)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass(frozen=True)
class Hardware:
    device: str
    compute_dtype: torch.dtype
    name: str


def pick_hardware(compute_dtype: str) -> Hardware:
    """bf16 on GPUs that support it and on CPUs with bf16 matrix units (AMX: 10× the float32 matmul
    rate on 2 cores), fp32 on other CPUs, where bf16 matmuls are slow or emulated."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        if compute_dtype == "auto":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        else:
            dtype = DTYPES[compute_dtype]
        return Hardware("cuda", dtype, name)
    if compute_dtype == "auto":
        dtype = torch.bfloat16 if cpu_has_bf16_matrix_units() else torch.float32
    else:
        dtype = DTYPES[compute_dtype]
    return Hardware("cpu", dtype, "cpu")


def cpu_has_bf16_matrix_units() -> bool:
    """Intel AMX tiles (Sapphire Rapids and later), where oneDNN runs bf16 matmuls natively."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe()) if probe is not None else False


def grow_memory_in_place(hardware: Hardware) -> str | None:
    """Let the CUDA caching allocator grow segments instead of caching fixed-size blocks.

    Packed rows change length every step, so fixed segments fragment: a 7B run reserved 0.8 GiB
    over what it allocated (bench/README.md §1e). A user's own PYTORCH_CUDA_ALLOC_CONF wins.
    Returns the setting for the run card, or None where nothing was changed.
    """
    if hardware.device != "cuda" or os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF"):
        return None
    try:
        torch.cuda.memory._set_allocator_settings("expandable_segments:True")
    except (AttributeError, RuntimeError) as exc:  # an older torch, or an allocator that cannot
        log.info("allocator settings left as they are: %s", exc)
        return None
    return "expandable_segments:True"


def check_quantised_dtype(dtype: torch.dtype, load_in_4bit: bool) -> None:
    """fp16 compute over 4-bit weights overflows in the dequantised matmuls: refuse it."""
    if load_in_4bit and dtype == torch.float16:
        raise TrainError(
            "train.compute_dtype float16 with 4-bit weights is unstable (activations overflow "
            "fp16 and the loss turns NaN); set compute_dtype to bfloat16 (GPUs since Ampere) or "
            "float32, or train.method to 'lora'."
        )


def load_tokenizer(path: Path, padding_side: str = "right") -> Any:
    from transformers import AutoTokenizer

    with _no_model_code(path):
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def check_chat_template(tokenizer: Any) -> str:
    """Render one exchange; a tokenizer without a usable template would train on garbage."""
    if not getattr(tokenizer, "chat_template", None):
        raise TrainError(
            "the base model's tokenizer has no chat template; pick an instruct model "
            "(e.g. qwen2.5-coder-0.5b) or add a chat_template to its tokenizer_config.json."
        )
    probe = [{"role": "user", "content": "PROBE-QUESTION"}, {"role": "assistant", "content": "PROBE-ANSWER"}]
    try:
        full = tokenizer.apply_chat_template(probe, tokenize=False)
        prompt = tokenizer.apply_chat_template(probe[:1], tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # a broken Jinja template raises many kinds of error
        raise TrainError(f"the tokenizer's chat template fails to render: {exc}; fix or replace it.") from exc
    if "PROBE-QUESTION" not in full or "PROBE-ANSWER" not in full or not full.startswith(prompt):
        raise TrainError(
            "the tokenizer's chat template does not render user and assistant turns as a prompt "
            "followed by the answer; completion-only training needs that. Use an instruct model's template."
        )
    return full


def load_model(
    path: Path,
    hardware: Hardware,
    load_in_4bit: bool,
    for_training: bool = True,
    quant_storage: Any = None,
    attn_implementation: str | None = None,
) -> Any:
    """Base model in the compute dtype, or 4-bit NF4 with double quantisation.

    `quant_storage` packs the 4-bit weights into a float dtype so FSDP can shard them.
    `attn_implementation`: None lets transformers choose (SDPA); training passes train/packing.py's choice.
    """
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    check_quantised_dtype(hardware.compute_dtype, load_in_4bit)
    kwargs: dict[str, Any] = {
        "dtype": hardware.compute_dtype,
        "local_files_only": True,
        "trust_remote_code": False,
    }
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    if load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=hardware.compute_dtype,
            **({"bnb_4bit_quant_storage": quant_storage} if quant_storage is not None else {}),
        )
    if hardware.device == "cuda":
        # One full copy per process: under `accelerate launch` each rank owns its GPU (DDP).
        from accelerate import PartialState

        kwargs["device_map"] = {"": PartialState().local_process_index}
        if not load_in_4bit and os.environ.get("FSDP_CPU_RAM_EFFICIENT_LOADING", "").lower() == "true":
            del kwargs["device_map"]  # FSDP: rank 0 reads into CPU memory, then shards to the GPUs
    elif load_in_4bit:
        kwargs["device_map"] = {"": "cpu"}
    with _no_model_code(path):
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if for_training:
        model.config.use_cache = False
    return model


@contextmanager
def _no_model_code(path: Path) -> Iterator[None]:
    """Python shipped with a model folder never runs: say so instead of transformers' opt-in hint."""
    try:
        yield
    except ValueError as exc:
        if "trust_remote_code" not in str(exc):
            raise
        raise TrainError(
            f"the model at {path} needs its own Python code (auto_map), which dsforge never runs; "
            "pick a base model whose architecture transformers supports natively."
        ) from None


def keep_frozen_in_dtype(model: Any, dtype: torch.dtype) -> int:
    """Undo the fp32 upcast of frozen non-quantised weights; returns how many were cast.

    `prepare_model_for_kbit_training` casts embeddings, norms and the output head
    to fp32. On a 150k-token vocabulary that doubles the biggest tensors of a
    small model; in bf16 they train the adapter just as well.
    """
    cast = 0
    for param in model.parameters():
        if (
            param.dtype == torch.float32
            and not param.requires_grad
            and param.__class__.__name__ != "Params4bit"
        ):
            param.data = param.data.to(dtype)
            cast += 1
    return cast
