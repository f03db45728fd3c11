"""Every choice a training run makes, decided in one place and kept with the words the run card prints.

A run's options say `auto` for most of what decides its speed and memory; what `auto` becomes
depends on the hardware, the data and the loaded base. The plan is frozen and built in three
steps, each a new plan: `plan` decides what the base is not needed for (packing, attention,
4-bit storage, optimiser), `TrainPlan.with_model` what it is needed for (the batch its free
memory holds, whether compiling pays), and `TrainPlan.applied` records what setting the model
up did. Training reads `TrainPlan.options`; the run card prints `TrainPlan.memory_policy()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.errors import TrainError
from core.options.train import TrainOptions
from train import distributed
from train.data import to_prompt_completion
from train.data_checks import token_count
from train.fit import BatchFit, fit_batch, packed_row_estimate
from train.loading import Hardware
from train.packing import attention_implementation, use_packing
from train.regional_compile import planned_steps, use_compiled_layers, why_not_compiled


@dataclass(frozen=True)
class TrainPlan:
    """One run's resolved choices; the reasons are the run card's words for them."""

    options: TrainOptions  # as configured until `with_model` resolves batch, checkpointing and packing
    hardware: Hardware
    allocator: str | None  # the CUDA allocator setting this run changed, if any
    quant_storage: Any  # the float dtype 4-bit weights are packed in for FSDP, or None
    packing: bool
    attention: str  # the attn_implementation the base is loaded with
    attention_reason: str
    fused_lora: bool
    offload_activations: bool
    optimizer: str
    train_rows: int  # records in the training mixture
    packed_rows: int | None  # about how many max_seq_len rows packing makes; None: not counted
    batch: BatchFit | None = None  # the batch size and checkpointing, with how they were chosen
    base_parameters: int = 0
    steps: int = 0
    compile_layers: bool = False
    liger_kernels: bool = False
    adapter: dict[str, Any] = field(default_factory=dict)  # add_lora's words: quantisation, frozen weights…
    checkpoint_keeps: str | None = None
    fused_layers: str | None = None
    compiled_layers: str | None = None  # what compiling did, or why `auto` did not compile
    method_choice: str | None = None  # why `train.method: auto` became this method; None: configured

    def with_model(self, model: Any) -> TrainPlan:
        """The choices the loaded base decides: the batch its free memory holds, whether compiling pays."""
        batch = fit_batch(self.options, self.hardware, model, self.packed_rows)
        resolved = {
            "batch_size": batch.batch_size,
            "gradient_checkpointing": batch.gradient_checkpointing,
            "packing": "on" if self.packing else "off",
        }
        opts = self.options.model_copy(update=resolved)  # the fingerprint keeps the configured options
        parameters = int(model.num_parameters())  # 4-bit weights counted unpacked
        rows = self.packed_rows if self.packed_rows is not None and self.packing else self.train_rows
        steps = planned_steps(opts, rows)
        compile_layers = use_compiled_layers(opts, self.hardware, steps, parameters)
        # Inductor generates Liger's fusions itself and cannot trace its kernels.
        liger = use_liger_kernels(opts, self.hardware) and not compile_layers
        why_not = None
        if not compile_layers and opts.compile_layers == "auto" and self.hardware.device == "cuda":
            why_not = f"not compiled (auto): {why_not_compiled(opts, self.hardware, steps, parameters)}"
        return replace(
            self,
            options=opts,
            batch=batch,
            base_parameters=parameters,
            steps=steps,
            compile_layers=compile_layers,
            liger_kernels=liger,
            compiled_layers=why_not,
        )

    def applied(
        self,
        adapter: dict[str, Any],
        checkpoint_keeps: str | None,
        fused_layers: str | None,
        compiled: str | None,
    ) -> TrainPlan:
        """The plan with what setting the model up reported doing, for the card."""
        return replace(
            self,
            adapter=dict(adapter),
            checkpoint_keeps=checkpoint_keeps,
            fused_layers=fused_layers,
            compiled_layers=compiled if compiled is not None else self.compiled_layers,
        )

    def memory_policy(self) -> dict[str, Any]:
        """The run card's `memory_policy`: every choice in words, in the card's order of keys."""
        policy = {"method_choice": self.method_choice} if self.method_choice else {}
        policy.update(self.adapter)
        if self.checkpoint_keeps is not None:
            policy["checkpoint_keeps"] = self.checkpoint_keeps
        policy["liger_kernels"] = self.liger_kernels
        if self.fused_lora:
            policy["fused_lora"] = self.fused_layers
        policy["batch"] = self.batch.card() if self.batch is not None else {}
        if self.allocator:
            policy["allocator"] = self.allocator
        if self.options.offload_activations == "on":
            policy["activation_offloading"] = self._offloading()
        policy["packing"] = (
            f"padding-free, per-record attention ({self.attention})"
            if self.packing
            else "off: one record per row, padded"
        )
        policy["attention"] = self.attention_reason
        if self.compiled_layers is not None:
            policy["compiled_layers"] = self.compiled_layers
        return policy

    def _offloading(self) -> str:
        if not self.offload_activations:
            return (
                f"not applied: no GPU ({self.hardware.device}), the activations already live in host memory"
            )
        return "on: saved activations to pinned CPU memory on a side stream (trl), back in the backward"


def plan(
    opts: TrainOptions,
    hardware: Hardware,
    train_split: Any,
    tokenizer: Any,
    allocator: str | None = None,
    method_choice: str | None = None,
    model_config: Any = None,
) -> TrainPlan:
    """The choices made before the base is loaded; packed rows are counted only where a choice needs them.

    `model_config` (the base's transformers config) decides the attention its architecture needs.
    """
    packing = use_packing(opts.packing)
    attention = attention_implementation(packing, hardware, model_config)
    if hardware.device == "cuda":
        needs_rows = opts.batch_size == "auto" or (packing and opts.compile_layers == "auto")
    else:  # a CPU's batch is capped only when packing makes few rows
        needs_rows = packing and opts.batch_size == "auto"
    rows = _packed_rows(train_split, opts, tokenizer) if needs_rows else None
    return TrainPlan(
        options=opts,
        hardware=hardware,
        allocator=allocator,
        quant_storage=distributed.quant_storage(opts, hardware),
        packing=packing,
        attention=attention.implementation,
        attention_reason=attention.reason,
        fused_lora=use_fused_lora(opts, hardware),
        offload_activations=offload_activations(opts, hardware),
        optimizer=optimizer(opts, hardware),
        train_rows=len(train_split),
        packed_rows=rows,
        method_choice=method_choice,
    )


def use_fused_lora(opts: TrainOptions, hardware: Hardware) -> bool:
    """`auto` fuses on CUDA, where the host paces small-model steps, for the methods whose row allows it.

    Not under FSDP: its sharded 4-bit storage is gathered by hooks this path has not been run with.
    """
    if not opts.training_method.fused_lora or (opts.distributed == "fsdp" and distributed.processes() > 1):
        return False
    return opts.fused_lora == "on" or (opts.fused_lora == "auto" and hardware.device == "cuda")


def use_liger_kernels(opts: TrainOptions, hardware: Hardware) -> bool:
    """Liger's Triton kernels (RMSNorm, RoPE, SwiGLU) need CUDA; `auto` uses them when installed."""
    if opts.liger_kernels == "off" or hardware.device != "cuda":
        return False
    import importlib.util

    installed = importlib.util.find_spec("liger_kernel") is not None
    if opts.liger_kernels == "on" and not installed:
        raise TrainError(
            "train.liger_kernels is 'on' but liger-kernel is not installed: pip install liger-kernel"
        )
    return installed


def offload_activations(opts: TrainOptions, hardware: Hardware) -> bool:
    """Only a GPU's activations can move to the host: on a CPU they are there already."""
    return opts.offload_activations == "on" and hardware.device == "cuda"


def optimizer(opts: TrainOptions, hardware: Hardware) -> str:
    """`auto`: torch's fused AdamW on CUDA, plain AdamW elsewhere."""
    if opts.optimizer != "auto":
        return opts.optimizer
    # LoRA's optimizer state is a few MB, so 8-bit paging saves nothing; torch's fused AdamW is one
    # kernel for all adapter tensors instead of a few per tensor (bench/README.md has the numbers).
    return "adamw_torch_fused" if hardware.device == "cuda" else "adamw_torch"


def _packed_rows(train_split: Any, opts: TrainOptions, tokenizer: Any) -> int:
    lengths = []
    for row in train_split:
        if opts.objective != "sft":  # a preference pair: prompt with each answer, two sequences
            lengths += [token_count(tokenizer, row["prompt"] + row[side]) for side in ("chosen", "rejected")]
            continue
        pair = to_prompt_completion(row)
        lengths.append(token_count(tokenizer, pair["prompt"] + pair["completion"]))
    return packed_row_estimate(lengths, opts.max_seq_len)
