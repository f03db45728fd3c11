"""`train.batch_size: auto` and `train.gradient_checkpointing: auto`: fill the GPU that is there.

Small models on a big GPU are bound by the host (kernel launches), not the GPU:
the same step time at 8 rows as at 32 (bench/README.md). So on CUDA the batch
grows to what free memory holds, and gradient checkpointing (a third more
compute) is dropped whenever a batch of at least `MIN_ROWS_WITHOUT_CHECKPOINTING`
rows fits without it. The estimate is linear in tokens: activation bytes per
token per (hidden size × layers), measured on the benchmark's runs. The choice
and its inputs go to the run card. On CPU: 4 rows, checkpointing on, and packed rows capped like
on CUDA so that a small set still gets its optimiser steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.options.train import TrainOptions
from train.kl_to_base import kl_sequence_bytes
from train.loading import Hardware

CPU_BATCH_SIZE = 4
MAX_ROWS = 64  # past this no size in bench/README.md got faster; it only coarsens optimiser steps
MIN_ROWS_WITHOUT_CHECKPOINTING = 8
MIN_STEPS_PER_EPOCH = 8  # a small dataset still gets this many optimiser steps per epoch
# Activation bytes per token per (hidden × layers), bf16, LoRA on all linear layers, Liger kernels
# (measured: bench/results/qlora_gpu-*.json, 0.5B and 1.5B), with a margin.
BYTES_PER_TOKEN_UNIT = {False: 80.0, True: 10.0}  # keyed by gradient checkpointing
MEMORY_SHARE = 0.85  # of the free memory after loading; the rest is allocator slack
RESERVED_BYTES = 3 * 2**30  # loss chunks, optimiser state, workspace


@dataclass(frozen=True)
class BatchFit:
    batch_size: int
    gradient_checkpointing: bool
    how: str
    free_gib: float | None = None
    rows_that_fit: dict[str, int] | None = None

    def card(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def fit_batch(opts: TrainOptions, hardware: Hardware, model: Any, packed_rows: int | None) -> BatchFit:
    """Resolve `auto` batch size and checkpointing; explicit values pass through untouched.

    `packed_rows`: about how many max_seq_len rows the training set makes (None: unknown).
    """
    batch_auto, ckpt_auto = opts.batch_size == "auto", opts.gradient_checkpointing == "auto"
    if not batch_auto and not ckpt_auto:
        return BatchFit(int(opts.batch_size), bool(opts.gradient_checkpointing), "as configured")
    if hardware.device != "cuda":
        ckpt = True if ckpt_auto else bool(opts.gradient_checkpointing)
        if not batch_auto:
            return BatchFit(int(opts.batch_size), ckpt, "CPU: as configured")
        if packed_rows is None:
            return BatchFit(CPU_BATCH_SIZE, ckpt, "CPU: the fixed defaults")
        batch = min(CPU_BATCH_SIZE, _rows_for_steps(opts, packed_rows))
        how = f"CPU: {CPU_BATCH_SIZE} rows" + (
            f", capped at {batch} for {packed_rows} packed rows ({MIN_STEPS_PER_EPOCH}+ steps an epoch)"
            if batch < CPU_BATCH_SIZE else ""
        )
        return BatchFit(batch, ckpt, how)

    import torch

    free, _ = torch.cuda.mem_get_info()
    budget = max(0.0, free * MEMORY_SHARE - RESERVED_BYTES)
    unit = _units(model) * opts.max_seq_len
    if opts.kl_to_base > 0:  # one general sequence a step: a row without checkpointing, and its full logits
        budget = max(0.0, budget - unit * BYTES_PER_TOKEN_UNIT[False] - kl_sequence_bytes(_vocab(model), opts.max_seq_len))
    fits = {"without_checkpointing": int(budget // (unit * BYTES_PER_TOKEN_UNIT[False])),
            # a selective checkpoint keeps part of the activations: counted as keeping them all (safe side)
            "with_checkpointing": int(budget // (unit * BYTES_PER_TOKEN_UNIT[opts.checkpoint_keep == "nothing"]))}  # fmt: skip
    if opts.objective != "sft":  # a row is a pair: two sequences (the reference forward keeps no activations)
        fits = {name: rows // 2 for name, rows in fits.items()}
    cap = MAX_ROWS
    if packed_rows is not None:
        cap = min(cap, _rows_for_steps(opts, packed_rows))

    if not ckpt_auto:
        ckpt = bool(opts.gradient_checkpointing)
    elif not batch_auto:
        ckpt = int(opts.batch_size) > fits["without_checkpointing"]
    else:
        ckpt = min(cap, fits["without_checkpointing"]) < min(cap, MIN_ROWS_WITHOUT_CHECKPOINTING)
    if batch_auto:
        rows = max(1, min(cap, fits["with_checkpointing" if ckpt else "without_checkpointing"]))
        batch = rows - rows % 8 if rows >= 16 else rows
    else:
        batch = int(opts.batch_size)
    how = (f"fitted to {free / 2**30:.1f} GiB free on {hardware.name}"
           + (f", capped at {cap} rows for {packed_rows} packed rows" if cap < MAX_ROWS else ""))  # fmt: skip
    return BatchFit(batch, ckpt, how, round(free / 2**30, 1), fits)


def _rows_for_steps(opts: TrainOptions, packed_rows: int) -> int:
    """The most rows a batch may hold for the set to give MIN_STEPS_PER_EPOCH optimiser steps (at least 1)."""
    return max(1, packed_rows // (opts.gradient_accumulation_steps * MIN_STEPS_PER_EPOCH))


def _vocab(model: Any) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(config.vocab_size)


def _units(model: Any) -> int:
    """hidden size × layers of the (possibly PEFT-wrapped) causal LM."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(config.hidden_size) * int(config.num_hidden_layers)


def packed_row_estimate(lengths: list[int], max_seq_len: int) -> int:
    """Rows best-fit packing makes of these token lengths (each cut to max_seq_len): about total ÷ row."""
    total = sum(min(n, max_seq_len) for n in lengths)
    return max(1, -(-total // max_seq_len))
