"""`train.method: auto`: QLoRA where memory is what limits the run, plain LoRA where it is not.

A 4-bit base is a memory trade: on a GPU it lets a bigger base or batch fit, but on a CPU
bitsandbytes' 4-bit kernels are slower than plain matmuls (0.5B on 2 cores: 33.7 vs 37.0
tokens/s in float32, and plain LoRA can use bf16 matrix units where the CPU has them) and a
0.5B base in bf16 fits a laptop's memory many times over. So `auto` is QLoRA on a GPU, and on a
CPU LoRA unless the base would not fit in a share of the memory that is free; the reason goes to
the run card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from core.options.train import AUTO_METHOD, TrainOptions
from train.loading import Hardware

# The base in the compute dtype, its gradients' working copies and the activations must fit:
# a base taking more than this share of the free memory is trained over 4-bit weights.
BASE_SHARE_OF_FREE_MEMORY = 0.4


@dataclass(frozen=True)
class MethodChoice:
    options: TrainOptions  # with `method` (and `mode`) as trained
    reason: str | None  # the run card's words for an `auto` choice; None when the method was configured


def choose_method(opts: TrainOptions, hardware: Hardware, base_path: Path, free_bytes: int | None = None) -> MethodChoice:
    """Resolve `auto` to qlora or lora for this hardware and base; any other method passes through."""
    if opts.method != AUTO_METHOD:
        return MethodChoice(opts, None)
    if hardware.device == "cuda":
        return _chosen(opts, "qlora", f"auto: QLoRA on a GPU ({hardware.name}), where memory is what limits the run")
    base_bytes = _base_bytes(base_path, hardware)
    free = _free_memory() if free_bytes is None else free_bytes
    needed_gib, free_gib = base_bytes / 2**30, free / 2**30
    if base_bytes > BASE_SHARE_OF_FREE_MEMORY * free:
        return _chosen(
            opts,
            "qlora",
            f"auto: QLoRA on the CPU, since the base in {_dtype_name(hardware)} ({needed_gib:.1f} GiB) would take "
            f"over {BASE_SHARE_OF_FREE_MEMORY:.0%} of the {free_gib:.1f} GiB free",
        )
    return _chosen(
        opts,
        "lora",
        f"auto: LoRA on the CPU, which holds the base in {_dtype_name(hardware)} ({needed_gib:.1f} GiB of "
        f"{free_gib:.1f} GiB free); 4-bit kernels are slower than plain matmuls there",
    )


def _chosen(opts: TrainOptions, method: str, reason: str) -> MethodChoice:
    # The qlora and lora rows share the learning rate and refuse nothing the options allow.
    return MethodChoice(opts.model_copy(update={"method": method, "mode": method}), reason)


def _base_bytes(base_path: Path, hardware: Hardware) -> int:
    """The base's weights in the compute dtype, from its safetensors headers (nothing is loaded)."""
    from safetensors import safe_open

    elements = 0
    for weights in sorted(base_path.glob("*.safetensors")):
        with safe_open(str(weights), framework="pt") as handle:
            elements += sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())
    return elements * hardware.compute_dtype.itemsize


def _free_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _dtype_name(hardware: Hardware) -> str:
    return str(hardware.compute_dtype).removeprefix("torch.")
