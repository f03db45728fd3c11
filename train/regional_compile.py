"""`train.compile_layers`: torch.compile the body of each decoder layer, inside its checkpoint.

All layers share one compiled function (the layer class's own forward, `self` an
argument), so dynamo traces and Inductor compiles it once for every layer. The
gradient checkpoint stays outside the compiled region, in eager PyTorch: compiled
around the checkpoint, AOTAutograd's partitioner saved every activation anyway
(bench/README.md §1b: 4.4× the memory, no recompute), which is not checkpointing.
Inside it, the compiled forward runs again in the backward and its saved tensors
go through the checkpoint's hooks like any others.
"""

from __future__ import annotations

import types
from functools import partial
from typing import Any

from core.errors import TrainError
from core.options.train import TrainOptions
from train import distributed
from train.loading import Hardware


def use_compiled_layers(opts: TrainOptions, hardware: Hardware) -> bool:
    """`auto` compiles on one CUDA GPU for LoRA and QLoRA, where the host paces the step.

    Measured there (bench/README.md §1e); not yet run across several GPUs, nor for the other
    methods, so `auto` leaves those alone. Liger asked for by name wins over `auto`: Inductor
    cannot trace its kernels and generates the same fusions itself.
    """
    if opts.compile_layers == "on":
        if opts.liger_kernels == "on":
            raise TrainError(
                "train.compile_layers fuses RMSNorm, RoPE and SwiGLU itself and cannot trace Liger's "
                "kernels; set train.liger_kernels to auto or off."
            )
        if hardware.device != "cuda" and opts.method == "qlora":
            raise TrainError(
                "train.compile_layers: on a CPU, bitsandbytes repacks 4-bit weights behind the compiled "
                "graph's back; set train.compile_layers to auto (off here) or train a plain LoRA (train.method: lora)."
            )
        return True
    return (
        opts.compile_layers == "auto"
        and hardware.device == "cuda"
        and opts.method in ("qlora", "lora")
        and opts.liger_kernels != "on"
        and distributed.processes() == 1
    )


def compile_decoder_layers(model: Any) -> str:
    """Compile every `*DecoderLayer`'s forward in place; returns what was done, for the run card."""
    import torch

    layers = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
    if not layers:
        return "no decoder layers found: nothing compiled"
    forward = type(layers[0]).forward
    body = getattr(forward, "__wrapped__", forward)  # transformers wraps forward with its checkpointing
    compiled = torch.compile(body, dynamic=True)  # packed rows vary in length: one graph for every length
    for layer in layers:
        layer.forward = types.MethodType(partial(_checkpointed_forward, compiled), layer)
    return f"{len(layers)} decoder layers ({type(layers[0]).__name__}), one torch.compile graph inside the checkpoint"


def _checkpointed_forward(compiled: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    if getattr(self, "gradient_checkpointing", False) and self.training:
        kwargs.pop("use_cache", None)
        return self._gradient_checkpointing_func(partial(compiled, self, **kwargs), *args)
    return compiled(self, *args, **kwargs)
