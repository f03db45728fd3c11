"""`train.checkpoint_keep` and `train.checkpoint_reentrant`: how a gradient checkpoint runs.

Reentrant checkpointing runs a layer's first forward under `no_grad` and builds
its autograd graph only when the backward recomputes it; the non-reentrant kind
builds it twice and routes every saved tensor through its hooks. The gradients
are the same; the host's work is not (on CPU a fifth less per step with eager
layers, an eighth with compiled ones; on an H200 1.28× the 0.5B's tokens/s:
bench/README.md §1g). Selective checkpointing and DDP need the non-reentrant kind.

`train.checkpoint_keep`: what a gradient checkpoint keeps instead of recomputing.

Full checkpointing runs every layer's forward twice; at the recipe's batch that
second forward is a third of the step (bench/README.md §1e). Selective
activation checkpointing (PyTorch's `create_selective_checkpoint_contexts`, the
mechanism trl's `selective` option uses) keeps chosen op outputs from the first
forward and recomputes the rest, with bit-identical gradients. trl's own policy
keeps only the SDPA kernels, which packed training never calls (its attention is
PyTorch's varlen op), so the policy here names those ops as well.

The policy acts on ops as they are dispatched, so it reaches eager code only:
inside `train.compile_layers`' compiled body Inductor's kernels bypass it, and
the two are not combined (train/regional_compile.py). Seeing every op in Python
has a price: on a host-bound step (0.5B and 1.5B at the recipe's batch on an
H200) every keep ran slower than full recompute (bench/README.md §1f), so the
default keeps nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from core.options.train import TrainOptions
from train import distributed

KEEPS = ("nothing", "attention", "projections", "matmuls")


def checkpoint_first_layers(model: Any, count: int) -> str:
    """Make every later `gradient_checkpointing_enable` (peft's preparation, the Trainer's, trl's) checkpoint
    only the first `count` decoder layers; the others keep their activations and are not recomputed.

    transformers checkpoints a layer whose `gradient_checkpointing` flag is set (the compiled layers of
    train/regional_compile.py read the same flag), and every enable sets it on all of them, so the flags are
    put back after each. The last layers are the ones left whole: the backward reaches them first and frees
    their activations before any checkpointed layer recomputes its own, so the step never holds both.
    Wraps the model instance's method, as `keep_in_checkpoint` does. Returns what was done, for the run card.
    """
    layers = decoder_layers(model)
    count = min(count, len(layers))
    wrapper = model.gradient_checkpointing_enable
    if getattr(wrapper, "_dsforge_layers", None) is None:
        enable = wrapper

        def enable_first_layers(gradient_checkpointing_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
            done = enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs, **kwargs)
            for layer in layers[enable_first_layers._dsforge_layers :]:  # type: ignore[attr-defined]
                layer.gradient_checkpointing = False
            return done

        model.gradient_checkpointing_enable = wrapper = enable_first_layers
    wrapper._dsforge_layers = count  # type: ignore[attr-defined]
    for layer in layers[count:]:  # checkpointing enabled before this call
        layer.gradient_checkpointing = False
    if count == len(layers):
        return f"all {len(layers)} decoder layers"
    return f"the first {count} of {len(layers)} decoder layers; the last {len(layers) - count} keep their activations"


def decoder_layers(model: Any) -> list[Any]:
    """The decoder layers transformers can checkpoint, in order (a `GradientCheckpointingLayer` per block)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    layers = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    decoders = [m for m in layers if type(m).__name__.endswith("DecoderLayer")]
    return decoders or layers


def checkpoint_kwargs(opts: TrainOptions) -> dict[str, bool]:
    """`torch.utils.checkpoint`'s arguments for every checkpointed layer of this process."""
    return {"use_reentrant": use_reentrant(opts.checkpoint_reentrant, opts.checkpoint_keep, distributed.processes())}


def use_reentrant(reentrant: str, keep: str, processes: int) -> bool:
    """`auto`: reentrant on one process that keeps nothing, where nothing needs the non-reentrant kind."""
    if reentrant != "auto":
        return reentrant == "on"
    return keep == "nothing" and processes == 1


def _ops(namespace: str, names: tuple[str, ...]) -> set[Any]:
    import torch

    space = getattr(torch.ops, namespace)
    return {packet.default for name in names if (packet := getattr(space, name, None)) is not None}


def _attention_ops() -> set[Any]:
    return _ops(
        "aten",
        (
            "_scaled_dot_product_flash_attention",
            "_scaled_dot_product_efficient_attention",
            "_scaled_dot_product_cudnn_attention",
            "_scaled_dot_product_flash_attention_for_cpu",
            "_flash_attention_forward",
        ),
    ) | _ops("torch_attn", ("_varlen_attn", "_varlen_attn_out"))


def _output_width(op: Any, args: tuple[Any, ...]) -> int:
    """Last dimension of a matmul's output: mm(a, b) and addmm(bias, a, b) both end in b's."""
    return int(args[-1].shape[-1])


def _policy(keep: str, hidden_size: int, attention: frozenset[Any], matmuls: frozenset[Any],
            ctx: Any, op: Any, *args: Any, **kwargs: Any) -> Any:  # fmt: skip
    from torch.utils.checkpoint import CheckpointPolicy

    if op in attention or (
        op in matmuls and (keep == "matmuls" or (keep == "projections" and _output_width(op, args) <= hidden_size))
    ):
        return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE


def context_fn(keep: str, hidden_size: int) -> Callable[[], Any]:
    """The `context_fn` for `torch.utils.checkpoint.checkpoint` that keeps `keep`.

    `projections` keeps the attention and every matmul output no wider than the hidden size (q, k, v,
    o, down and the LoRA factors) and recomputes the wide gate/up projections; `matmuls` keeps them all.
    """
    import torch
    from torch.utils.checkpoint import create_selective_checkpoint_contexts

    if keep not in KEEPS[1:]:
        raise ValueError(f"checkpoint_keep must be one of {KEEPS[1:]}, not {keep!r}")
    matmuls = frozenset({torch.ops.aten.mm.default, torch.ops.aten.addmm.default})
    policy = partial(_policy, keep, hidden_size, frozenset(_attention_ops()), matmuls)
    return partial(create_selective_checkpoint_contexts, policy)


def keep_in_checkpoint(model: Any, keep: str) -> str:
    """Make every later `gradient_checkpointing_enable` (peft's preparation, the Trainer's) selective.

    Wraps the model instance's method, as trl does, so the callable never enters the Trainer's
    (serialised) arguments. Returns what was done, for the run card.
    """
    if keep == "nothing":
        return "nothing: every layer's forward runs again in the backward"
    hidden = int(model.config.hidden_size)
    fn = context_fn(keep, hidden)
    enable = model.gradient_checkpointing_enable
    if getattr(enable, "_dsforge_keep", None) is None:

        def selective_enable(gradient_checkpointing_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
            merged = {**(gradient_checkpointing_kwargs or {}), "use_reentrant": False, "context_fn": fn}
            return enable(gradient_checkpointing_kwargs=merged, **kwargs)

        selective_enable._dsforge_keep = keep  # type: ignore[attr-defined]
        model.gradient_checkpointing_enable = selective_enable
    what = {"attention": "the attention outputs", "projections": f"attention and matmul outputs ≤ {hidden} wide",
            "matmuls": "every matmul output"}[keep]  # fmt: skip
    return f"{keep}: the checkpoint keeps {what}, recomputes the rest"
