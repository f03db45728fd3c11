"""`train.compile_layers`: torch.compile the body of each decoder layer, inside its checkpoint.

All layers share one compiled function (the layer class's own forward, `self` an
argument), so dynamo traces and Inductor compiles it once for every layer. The
gradient checkpoint stays outside the compiled region, in eager PyTorch: compiled
around the checkpoint, AOTAutograd's partitioner saved every activation anyway
(bench/README.md §1d: 4.4× the memory, no recompute), which is not checkpointing.
Inside it, the compiled forward runs again in the backward and its saved tensors
go through the checkpoint's hooks like any others.
"""

from __future__ import annotations

import math
import types
from functools import partial
from typing import Any

from core.errors import TrainError
from core.options.train import TrainOptions
from train import distributed
from train.loading import Hardware


# A run pays 70–110 s of compiling and saves about 0.1–0.17 s per checkpointed step of a small model
# (0.5B/1.5B at the recipe's batch); past the fitted, uncheckpointed batch or at 7B it saves next to
# nothing (bench/README.md §1e). `auto` compiles only runs that earn the minutes back.
COMPILE_MIN_STEPS = 1000
# At 7B the checkpointed step is paced by the GPU: compiled or not it took 0.62 baseline-steps, and
# the compiled graph holds more memory (bench/README.md §1e, §1f). 1.5B gained about 20 %; the sizes
# in between are unmeasured, so the line sits between them.
COMPILE_MAX_PARAMETERS = 4_000_000_000


def use_compiled_layers(opts: TrainOptions, hardware: Hardware, planned_steps: int, base_parameters: int = 0) -> bool:
    """`auto` compiles long checkpointed LoRA/QLoRA runs of models under 4B parameters on one CUDA GPU,
    where the host paces the step.

    `opts` carries the resolved batch and checkpointing. Not yet run across several GPUs, nor for
    the other methods, so `auto` leaves those alone. Liger asked for by name wins over `auto`:
    Inductor cannot trace its kernels and generates the same fusions itself.
    """
    if opts.compile_layers == "graphs" and (hardware.device != "cuda" or distributed.processes() > 1):
        raise TrainError(
            "train.compile_layers: graphs replays CUDA graphs on one CUDA GPU; "
            f"here: {hardware.device}, {distributed.processes()} process(es). Set compile_layers to on, auto or off."
        )
    if opts.compile_layers in ("on", "graphs"):
        if opts.liger_kernels == "on":
            raise TrainError(
                "train.compile_layers fuses RMSNorm, RoPE and SwiGLU itself and cannot trace Liger's "
                "kernels; set train.liger_kernels to auto or off."
            )
        if opts.checkpoint_keep != "nothing":
            raise TrainError(
                "train.compile_layers runs Inductor's kernels past train.checkpoint_keep's policy, which then "
                "keeps nothing; set one of them off (compile_layers: off, or checkpoint_keep: nothing)."
            )
        if hardware.device != "cuda" and opts.training_method.loads_4bit:
            raise TrainError(
                "train.compile_layers: on a CPU, bitsandbytes repacks 4-bit weights behind the compiled "
                "graph's back; set train.compile_layers to auto (off here) or train a plain LoRA (train.method: lora)."
            )
        return True
    return why_not_compiled(opts, hardware, planned_steps, base_parameters) is None


def why_not_compiled(opts: TrainOptions, hardware: Hardware, planned_steps: int, base_parameters: int) -> str | None:
    """The one reason `auto` leaves the layers uncompiled (for the run card), or None when it compiles."""
    reasons = [
        (opts.compile_layers != "auto", f"compile_layers is {opts.compile_layers}"),
        (hardware.device != "cuda", f"no CUDA GPU ({hardware.device})"),
        (not opts.training_method.auto_compile, f"method {opts.method} (auto compiles LoRA and QLoRA)"),
        (opts.liger_kernels == "on", "liger_kernels is on"),
        (opts.checkpoint_keep != "nothing", f"checkpoint_keep is {opts.checkpoint_keep}"),
        (distributed.processes() > 1, f"{distributed.processes()} processes (auto compiles on one GPU)"),
        (opts.gradient_checkpointing is not True, "checkpointing is off, so the step is paced by the GPU"),
        (base_parameters >= COMPILE_MAX_PARAMETERS,
         f"{base_parameters / 1e9:.1f}B parameters: a step this size is paced by the GPU"),
        (planned_steps < COMPILE_MIN_STEPS,
         f"{planned_steps} planned steps: compiling pays from {COMPILE_MIN_STEPS}"),
    ]  # fmt: skip
    return next((why for applies, why in reasons if applies), None)


def planned_steps(opts: TrainOptions, rows: int) -> int:
    """Optimiser steps the run will take: `max_steps`, or the epochs over `rows` training rows."""
    if opts.max_steps > 0:
        return opts.max_steps
    per_step = int(opts.batch_size) * opts.gradient_accumulation_steps * distributed.processes()
    return math.ceil(opts.epochs * math.ceil(rows / per_step))


def compile_decoder_layers(model: Any, cuda_graphs: bool = False) -> str:
    """Compile every `*DecoderLayer`'s forward in place; returns what was done, for the run card.

    `cuda_graphs`: Inductor's CUDA graph trees replay each layer's kernels with one launch. A graph's
    outputs live until the next step's replay, so every forward of the whole model starts a new step.
    """
    import torch

    layers = [m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")]
    if not layers:
        return "no decoder layers found: nothing compiled"
    forward = type(layers[0]).forward
    body = getattr(forward, "__wrapped__", forward)  # transformers wraps forward with its checkpointing
    # packed rows vary in length: one graph for every length
    compiled = torch.compile(body, dynamic=True, mode="reduce-overhead" if cuda_graphs else None)
    for layer in layers:
        layer.forward = types.MethodType(partial(_checkpointed_forward, compiled), layer)
    if cuda_graphs:
        model.register_forward_pre_hook(_new_graph_step)
    return (f"{len(layers)} decoder layers ({type(layers[0]).__name__}), one torch.compile graph inside the checkpoint"
            + (", replayed as CUDA graphs" if cuda_graphs else ""))  # fmt: skip


def _new_graph_step(module: Any, args: Any) -> None:
    import torch

    torch.compiler.cudagraph_mark_step_begin()


def _checkpointed_forward(compiled: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
    if getattr(self, "gradient_checkpointing", False) and self.training:
        kwargs.pop("use_cache", None)
        return self._gradient_checkpointing_func(partial(compiled, self, **kwargs), *args)
    return compiled(self, *args, **kwargs)
