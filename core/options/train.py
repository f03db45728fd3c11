"""The `train` and `eval` sections of dsforge.yaml.

Defaults are the memory-friendly QLoRA recipe: 4-bit NF4 base with double
quantisation, LoRA on every linear projection, frozen weights kept in bf16
where the hardware has it (not the plain recipe's fp32 upcast, which makes
QLoRA use more memory than bf16 LoRA on small large-vocabulary models).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.registry import Registry

DEFAULT_BASE_MODEL = "qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class TrainMethod:
    """What the options must know of a `train.method`; its peft config is built only when training starts."""

    peft_config: str  # "module:function" of (TrainOptions, model, base path) -> peft config
    learning_rate: float  # the start when train.learning_rate is not set
    load_in_4bit: bool = False
    prompt_learning: bool = False  # virtual tokens, not weights: cannot be merged


# train/methods.py builds the built-ins' peft configs; an installed package adds a method through a
# `dsforge.train_methods` entry point naming a TrainMethod. Starting learning rates: the vector and
# virtual-token methods train far fewer parameters and need larger steps (peft's examples, the IA³
# paper's 3e-3).
TRAIN_METHODS: Registry[TrainMethod] = Registry("train.method", group="dsforge.train_methods")
for _name, _method in {
    "qlora": TrainMethod("train.methods:lora_config", 2e-4, load_in_4bit=True),
    "lora": TrainMethod("train.methods:lora_config", 2e-4),
    "dora": TrainMethod("train.methods:dora_config", 2e-4),
    "ia3": TrainMethod("train.methods:ia3_config", 3e-3),
    "prefix": TrainMethod("train.methods:prefix_config", 1e-2, prompt_learning=True),
    "prompt": TrainMethod("train.methods:prompt_config", 3e-2, prompt_learning=True),
}.items():
    TRAIN_METHODS.register(_name, _method)


class TrainOptions(BaseModel):
    """How the adapter is trained; the same options and data give the same run."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        DEFAULT_BASE_MODEL,
        description="catalogued model (smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b), "
        "a local Hugging Face folder or a .gguf file",
    )
    mode: Literal["qlora", "lora"] = Field(
        "qlora", description="qlora: 4-bit NF4 base; lora: full-precision base (set from `method`)"
    )
    method: str | None = Field(
        None,
        description="the peft method: qlora, lora, dora, ia3, prefix, prompt (train/methods.py) or an "
        "installed one; None: as `mode`. Only qlora loads the base in 4-bit",
    )
    num_virtual_tokens: int = Field(20, ge=1, description="prefix and prompt tuning: virtual tokens")
    prompt_init_text: str = Field(
        "Answer the instruction using only the text that follows it.",
        min_length=1,
        description="prompt tuning: the virtual tokens start as this sentence's embeddings",
    )
    replay: float = Field(
        0.0,
        ge=0,
        le=0.5,
        description="share of the training mixture drawn from the packaged general instruction set "
        "(train/data/general_replay.jsonl) against forgetting; 0: off",
    )
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto: bfloat16 on GPUs that have it, float32 otherwise"
    )
    upcast_frozen_to_fp32: bool = Field(
        False,
        description="cast embeddings, norms and lm_head to fp32 as the plain recipe does (more memory)",
    )
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    epochs: float = Field(3.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimiser steps; -1: run the epochs")
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="rows per device and step; auto: fitted to the free GPU memory (train/fit.py), 4 on CPU",
    )
    gradient_accumulation_steps: int = Field(4, ge=1)
    gradient_checkpointing: bool | Literal["auto"] = Field(
        "auto", description="auto: off on a GPU when the fitted batch fits without it, on otherwise"
    )
    max_seq_len: int = Field(1024, ge=16)
    packing: Literal["auto", "on", "off"] = Field(
        "auto",
        description="pack records into max_seq_len rows with no padding and per-record attention "
        "(train/packing.py); auto: on CUDA",
    )
    compile_layers: Literal["auto", "on", "off"] = Field(
        "auto",
        description="torch.compile the decoder layer's forward once for all layers, inside the gradient "
        "checkpoint, with Liger off (train/regional_compile.py); costs 70–110 s of compiling at the start; "
        "auto: on one CUDA GPU for LoRA and QLoRA runs of models under 4B parameters with 1000+ checkpointed "
        "steps, where it earns them back (bench/README.md §1e, §1f), unless liger_kernels is 'on'",
    )
    checkpoint_keep: Literal["nothing", "attention", "projections", "matmuls"] = Field(
        "nothing",
        description="with gradient checkpointing, what each checkpoint keeps instead of recomputing "
        "(selective activation checkpointing, train/checkpoint_policy.py): attention outputs; those and "
        "the matmul outputs no wider than the hidden size; or every matmul output. Same gradients, less "
        "recompute, more memory; not combined with compile_layers; slower than full recompute on host-bound "
        "steps (0.5B/1.5B on an H200, bench/README.md §1f)",
    )
    checkpoint_reentrant: Literal["auto", "on", "off"] = Field(
        "auto",
        description="run each checkpointed layer's first forward without autograd and rebuild its graph in the "
        "backward (PyTorch's reentrant checkpoint): the same gradients with less host work a step (0.5B on an "
        "H200: 1.28× the tokens/s, bench/README.md §1g); auto: on for one process keeping nothing (selective "
        "checkpointing and DDP need the non-reentrant kind)",
    )
    offload_activations: Literal["on", "off"] = Field(
        "off",
        description="move the activations a step saves (with checkpointing: each layer's input) to pinned CPU "
        "memory on a side stream and back in the backward (trl's activation offloading): less GPU memory for "
        "host-to-device traffic (7B on an H200: 1.1 GiB less allocated, a third of the speed, bench/README.md "
        "§1g); GPU only (on a CPU they are in host memory already)",
    )
    fused_lora: Literal["auto", "on", "off"] = Field(
        "auto",
        description="each LoRA linear layer as one autograd node over its 4-bit weight (train/fused_lora.py); "
        "the same arithmetic as peft's, fewer kernels; auto: on CUDA",
    )
    liger_kernels: Literal["auto", "on", "off"] = Field(
        "auto", description="Liger's fused RMSNorm/RoPE/SwiGLU kernels on CUDA; auto: when installed"
    )
    optimizer: str = Field(
        "auto", description="auto: adamw_torch_fused on CUDA (LoRA states are small), adamw_torch on CPU"
    )
    eval_steps: int = Field(25, ge=1, description="evaluate (and checkpoint) every N optimiser steps")
    logging_steps: int = Field(5, ge=1)
    early_stopping_patience: int = Field(3, ge=1, description="evaluations without a better eval_loss")
    min_train_examples: int = Field(200, ge=0, description="warn below this many training records")
    merge: bool = Field(False, description="also write base + adapter merged into one model")
    seed: int = 42
    distributed: Literal["ddp", "fsdp"] = Field(
        "ddp",
        description="with `dsforge train --gpus N`: ddp copies the base to every GPU; fsdp shards it "
        "(for a base that does not fit one GPU)",
    )

    @field_validator("packing", "compile_layers", "checkpoint_reentrant", "offload_activations", "fused_lora",
                     "liger_kernels", mode="before")  # fmt: skip
    @classmethod
    def _switch_bool(cls, value: Any) -> Any:
        """`true/false` (older configs, YAML's bare on/off) means on/off."""
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        if value is not None:
            TRAIN_METHODS.get(value)  # the unknown-name error lists the known methods
        return value

    @model_validator(mode="after")
    def _resolve_method(self) -> TrainOptions:
        """`method` wins over `mode`, which then only says whether the base is 4-bit; old configs keep `mode`."""
        if self.method is None:
            self.method = self.mode
        method = TRAIN_METHODS.get(self.method)
        mode = "qlora" if method.load_in_4bit else "lora"
        if "mode" in self.model_fields_set and self.mode != mode:
            raise ValueError(
                f"train.mode {self.mode!r} contradicts train.method {self.method!r} (only qlora loads the "
                "base in 4-bit); drop train.mode."
            )
        self.mode = mode
        if "learning_rate" not in self.model_fields_set:
            self.learning_rate = method.learning_rate
        if self.method == "prefix" and self.gradient_checkpointing:
            # transformers' checkpointed layers drop the key/value cache that carries the prefix.
            if self.gradient_checkpointing is True and "gradient_checkpointing" in self.model_fields_set:
                raise ValueError(
                    "train.method prefix cannot train with gradient checkpointing (the checkpointed layers "
                    "drop the prefix); set gradient_checkpointing: false."
                )
            self.gradient_checkpointing = False
        if self.checkpoint_reentrant == "on" and self.checkpoint_keep != "nothing":
            raise ValueError(
                "train.checkpoint_keep needs the non-reentrant checkpoint (PyTorch's selective checkpointing); "
                "set checkpoint_reentrant to auto or off."
            )
        if self.merge and method.prompt_learning:
            raise ValueError(
                f"train.merge: {self.method} tuning adds virtual tokens, not weights, so it cannot be merged "
                "into the base; set merge: false."
            )
        return self


class JudgeOptions(BaseModel):
    """An LLM that scores outputs 1–5 against the reference; off unless enabled."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    model_id: str | None = Field(None, description="langextract model id; None: the project's provider")
    params: dict[str, Any] = Field(default_factory=dict)
    api_key_env: str | None = Field(None, description="environment variable holding the judge's key")
    max_examples: int = Field(50, ge=1)


class HumanEvalOptions(BaseModel):
    """Blind pairwise comparison of base and tuned answers by reviewers in Argilla."""

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Argilla dataset; default: '<schema>-human-<evaluation id>', one per evaluation",
    )
    seed: int | None = Field(
        None,
        description="seeds which answer is shown as A; None: drawn at the first push and kept "
        "in eval/human/blinding.json (reviewers cannot recompute it)",
    )
    show_reference: bool = Field(True, description="show the dataset's reference answer beside the two")
    min_submitted: int | None = Field(
        None, ge=1, description="reviews a pair needs before it counts; None: review.min_submitted"
    )
    agreement: Literal["unanimous", "majority"] | None = Field(
        None, description="how reviewers of one pair must agree; None: review.agreement"
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="level of the Wilson intervals in the report")


class EvalOptions(BaseModel):
    """How base and tuned models are compared on the test split."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(8, ge=1)
    max_examples: int | None = Field(None, ge=1, description="evaluate the first N test records only")
    load_in_4bit: bool | None = Field(
        None, description="None: as trained on CUDA, full precision on CPU (4-bit kernels are slow there)"
    )
    probe_file: Path | None = Field(
        None, description="general text for the forgetting probe; default: packaged"
    )
    probe_window: int = Field(256, ge=16, description="tokens per perplexity window of the probe")
    forgetting_threshold: float = Field(
        0.02,
        ge=0,
        description="warn when the tuned model's general-text perplexity exceeds the base's by more than this share",
    )
    probe_adapters: list[Path] = Field(
        default_factory=list,
        description="other train folders or adapters of the same base (e.g. trained without replay) "
        "whose forgetting probe the report shows beside this run's",
    )
    examples_shown: int = Field(10, ge=0, description="best and worst examples in the report")
    judge: JudgeOptions = Field(default_factory=JudgeOptions)
    human: HumanEvalOptions = Field(default_factory=HumanEvalOptions)
    tuned_path: Path | None = Field(
        None,
        description="evaluate this adapter or model folder (e.g. one `dsforge merge` wrote) instead of "
        "the project's trained adapter; results go to <output>/eval-<folder name>",
    )
