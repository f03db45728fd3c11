"""`train.batch_size: auto` and `train.gradient_checkpointing: auto`: fill the GPU that is there.

Small models on a big GPU are bound by the host (kernel launches), not the GPU:
the same step time at 8 rows as at 32 (bench/README.md). So on CUDA the batch
grows to what free memory holds, and gradient checkpointing (a third more
compute) is dropped whenever a batch of at least `MIN_ROWS_WITHOUT_CHECKPOINTING`
rows fits without it. Where it does not (a 7B on an 80 GB GPU), checkpointing is
kept on only part of the layers (`train.checkpoint_layers: auto`): the batch takes
`ROWS_BEFORE_LAYERS` rows, and the memory left goes to decoder layers that keep
their activations, since a checkpointed layer costs about 4 forward passes a step
(forward, recompute, a backward of 2) and one without a checkpoint 3: past the
rows that keep the GPU busy, memory buys more speed as whole layers than as rows.
The estimate is linear in tokens: activation bytes per token per (hidden size ×
layer), for a layer with and without a checkpoint, measured on the benchmark's
runs. The choice and its inputs go to the run card. On CPU: 4 rows, every layer
checkpointed, and packed rows capped like on CUDA so that a small set still gets
its optimiser steps.
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
# Rows a partly checkpointed batch takes before memory goes to layers without a checkpoint. A layer kept whole
# costs memory in proportion to the rows and saves time in proportion to the tokens, so a GiB saves the most
# recompute at the fewest rows that still keep the GPU busy. At 7B on an H100, every layer checkpointed, 16 rows
# ran 10 500 tokens/s and 48 rows 10 678; with the memory left to whole layers, 8 rows (20 layers whole) ran
# 12 933 and 16 rows (8 whole) 11 552 (bench/results/qlora_gpu-fixed-20261205-194453.json).
ROWS_BEFORE_LAYERS = 8
# Activation bytes per token per (hidden × layer), bf16, LoRA on all linear layers, Liger kernels
# (measured: bench/results/qlora_gpu-*.json, 0.5B and 1.5B), with a margin. At 7B on an H100
# (qlora_gpu-fixed-20261205-194453.json) a checkpointed layer took about 5 (48 rows against 16), and a layer
# kept whole about 50 more (8 whole layers at 16 rows: 21.8 GiB over 16 rows all checkpointed).
BYTES_PER_TOKEN_UNIT = {False: 80.0, True: 10.0}  # keyed by whether the layer is checkpointed
MEMORY_SHARE = 0.85  # of the free memory after loading; the rest is allocator slack
RESERVED_BYTES = 3 * 2**30  # loss chunks, optimiser state, workspace


@dataclass(frozen=True)
class BatchFit:
    batch_size: int
    gradient_checkpointing: bool
    how: str
    free_gib: float | None = None
    rows_that_fit: dict[str, int] | None = None
    checkpointed_layers: int | None = None  # decoder layers checkpointed, from the first; None: every one

    def card(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def fit_batch(opts: TrainOptions, hardware: Hardware, model: Any, packed_rows: int | None) -> BatchFit:
    """Resolve `auto` batch size and checkpointing; explicit values pass through untouched.

    `packed_rows`: about how many max_seq_len rows the training set makes (None: unknown).
    """
    batch_auto, ckpt_auto = opts.batch_size == "auto", opts.gradient_checkpointing == "auto"
    configured = _configured_layers(opts)
    if not batch_auto and not ckpt_auto:
        ckpt = bool(opts.gradient_checkpointing)
        return BatchFit(int(opts.batch_size), ckpt, "as configured", checkpointed_layers=configured if ckpt else None)
    if hardware.device != "cuda":
        ckpt = True if ckpt_auto else bool(opts.gradient_checkpointing)
        layers = configured if ckpt else None
        if not batch_auto:
            return BatchFit(int(opts.batch_size), ckpt, "CPU: as configured", checkpointed_layers=layers)
        if packed_rows is None:
            return BatchFit(CPU_BATCH_SIZE, ckpt, "CPU: the fixed defaults", checkpointed_layers=layers)
        batch = min(CPU_BATCH_SIZE, _rows_for_steps(opts, packed_rows))
        how = f"CPU: {CPU_BATCH_SIZE} rows" + (
            f", capped at {batch} for {packed_rows} packed rows ({MIN_STEPS_PER_EPOCH}+ steps an epoch)"
            if batch < CPU_BATCH_SIZE else ""
        )
        return BatchFit(batch, ckpt, how, checkpointed_layers=layers)

    import torch

    free, _ = torch.cuda.mem_get_info()
    usable = free * MEMORY_SHARE
    if opts.gpu_memory_gib is not None:  # a line for the whole run: what loading took counts against it
        usable = min(usable, opts.gpu_memory_gib * 2**30 - torch.cuda.memory_reserved())
    budget = max(0.0, usable - RESERVED_BYTES)
    hidden, layers = _shape(model)
    unit = hidden * layers * opts.max_seq_len
    if opts.kl_to_base > 0:  # one general sequence a step: a row without checkpointing, and its full logits
        budget = max(0.0, budget - unit * BYTES_PER_TOKEN_UNIT[False] - kl_sequence_bytes(_vocab(model), opts.max_seq_len))
    # a selective checkpoint keeps part of the activations: counted as keeping them all (safe side)
    per_layer = {True: BYTES_PER_TOKEN_UNIT[opts.checkpoint_keep == "nothing"],
                 False: BYTES_PER_TOKEN_UNIT[False]}  # fmt: skip
    checkpointed = layers if configured is None else min(configured, layers)  # as set, or every layer
    with_checkpointing = (checkpointed * per_layer[True] + (layers - checkpointed) * per_layer[False]) / layers
    fits = {"without_checkpointing": int(budget // (unit * BYTES_PER_TOKEN_UNIT[False])),
            "with_checkpointing": int(budget // (unit * with_checkpointing))}
    sequences = 1 if opts.objective == "sft" else 2  # a preference row is a pair (the reference forward keeps none)
    fits = {name: rows // sequences for name, rows in fits.items()}
    cap = MAX_ROWS
    if packed_rows is not None:
        cap = min(cap, _rows_for_steps(opts, packed_rows))

    if not ckpt_auto:
        ckpt = bool(opts.gradient_checkpointing)
    elif not batch_auto:
        ckpt = int(opts.batch_size) > fits["without_checkpointing"]
    else:
        ckpt = min(cap, fits["without_checkpointing"]) < min(cap, MIN_ROWS_WITHOUT_CHECKPOINTING)
    # Only a checkpoint `auto` chose is split, and only a full one: a selective one is counted as keeping all.
    split = ckpt and ckpt_auto and opts.checkpoint_layers == "auto" and opts.checkpoint_keep == "nothing"
    if batch_auto:
        rows = max(1, min(cap, fits["with_checkpointing" if ckpt else "without_checkpointing"]))
        if split:
            rows = min(rows, ROWS_BEFORE_LAYERS)
        batch = rows - rows % 8 if rows >= 16 else rows
    else:
        batch = int(opts.batch_size)
    how = (f"fitted to {free / 2**30:.1f} GiB free on {hardware.name}"
           + (f" within a {opts.gpu_memory_gib:g} GiB line" if opts.gpu_memory_gib is not None else "")
           + (f", capped at {cap} rows for {packed_rows} packed rows" if cap < MAX_ROWS else ""))  # fmt: skip
    if not ckpt:
        checkpointed = None
    if split:
        kept = layers_without_checkpoint(budget, batch * sequences * hidden * opts.max_seq_len, layers)
        checkpointed = layers - kept
        how += (f"; {batch} rows, then {kept} of {layers} decoder layers without a checkpoint in the memory left "
                f"(the first {checkpointed} checkpointed)")  # fmt: skip
    return BatchFit(batch, ckpt, how, round(free / 2**30, 1), fits, checkpointed)


def layers_without_checkpoint(budget: float, batch_units: int, layers: int) -> int:
    """The most decoder layers that can keep their activations within `budget` bytes, the rest checkpointed.

    `batch_units`: hidden size × the batch's tokens (rows × sequences × max_seq_len). A layer costs
    BYTES_PER_TOKEN_UNIT of its kind per unit, so each layer moved off the checkpoint costs the difference.
    """
    if batch_units <= 0:
        return layers
    checkpointed, kept = BYTES_PER_TOKEN_UNIT[True], BYTES_PER_TOKEN_UNIT[False]
    room = budget / batch_units - checkpointed * layers  # bytes per unit beyond checkpointing every layer
    return max(0, min(layers, int(room // (kept - checkpointed))))


def _configured_layers(opts: TrainOptions) -> int | None:
    """A number of checkpointed layers set by hand; None for `all` and for `auto` until the fit decides."""
    return None if opts.checkpoint_layers in ("auto", "all") else int(opts.checkpoint_layers)


def _rows_for_steps(opts: TrainOptions, packed_rows: int) -> int:
    """The most rows a batch may hold for the set to give MIN_STEPS_PER_EPOCH optimiser steps (at least 1)."""
    return max(1, packed_rows // (opts.gradient_accumulation_steps * MIN_STEPS_PER_EPOCH))


def _vocab(model: Any) -> int:
    return int(_text_config(model).vocab_size)


def _shape(model: Any) -> tuple[int, int]:
    """(hidden size, decoder layers) of the (possibly PEFT-wrapped) causal LM."""
    config = _text_config(model)
    return int(config.hidden_size), int(config.num_hidden_layers)


def _text_config(model: Any) -> Any:
    """The language model's own config (a multimodal config keeps it apart)."""
    return model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config


def packed_row_estimate(lengths: list[int], max_seq_len: int) -> int:
    """Rows best-fit packing makes of these token lengths (each cut to max_seq_len): about total ÷ row."""
    total = sum(min(n, max_seq_len) for n in lengths)
    return max(1, -(-total // max_seq_len))
