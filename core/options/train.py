"""The `train` and `eval` sections of dsforge.yaml.

Defaults are the memory-friendly QLoRA recipe: 4-bit NF4 base with double
quantisation, LoRA on every linear projection, frozen weights kept in bf16
where the hardware has it (not the plain recipe's fp32 upcast, which makes
QLoRA use more memory than bf16 LoRA on small large-vocabulary models).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.options.methods import TrainingMethod, method_names, training_method

DEFAULT_BASE_MODEL = "qwen2.5-coder-0.5b"
AUTO_METHOD = "auto"  # qlora or lora, chosen from the hardware when training starts
PREFERENCE_OBJECTIVES = ("dpo", "kto", "orpo")
PREFERENCE_LEARNING_RATE = 5e-5  # an adapter's step from a good SFT policy: a quarter of SFT's


class TrainOptions(BaseModel):
    """How the adapter is trained; the same options and data give the same run."""

    model_config = ConfigDict(extra="forbid")

    base_model: str = Field(
        DEFAULT_BASE_MODEL,
        description="catalogued model (smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b), "
        "a local Hugging Face folder or a .gguf file",
    )
    mode: Literal["qlora", "lora"] = Field(
        "qlora",
        description="deprecated: write `method`. Set from `method` (qlora: 4-bit NF4 base, lora: not) and "
        "kept in run cards and run fingerprints",
    )
    method: str | None = Field(
        None,
        description="the peft method, a row of core/options/methods.py (qlora, lora, dora, ia3, prefix, "
        "prompt), or auto: qlora on a GPU or where memory is short, lora on a CPU that holds the base "
        "(train/method_choice.py); None: auto, or the deprecated `mode` where one is set",
    )
    objective: Literal["sft", "dpo", "kto", "orpo"] = Field(
        "sft",
        description="sft: learn the exported records' answers; dpo, kto, orpo: learn to prefer reviewers' "
        "corrections over the model's originals (export/preference/, TRL's DPOTrainer, KTOTrainer with the "
        "pairs unpaired, or the experimental reference-free ORPOTrainer), into <output>/train-<objective>/",
    )
    beta: float = Field(
        0.1, gt=0, description="dpo, kto: how far the tuned model may move from its reference; orpo: the odds "
        "ratio term's weight"
    )
    start_from: Literal["auto", "base", "sft"] = Field(
        "auto",
        description="dpo, kto, orpo: the adapter training starts from (dpo and kto also compare against "
        "it) — the project's SFT adapter (<output>/train/adapter) or a fresh one on the base (reference: the "
        "base, adapter disabled); auto: the SFT adapter when there is one",
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
    kl_to_base: float = Field(
        0.0,
        ge=0,
        description="weight of a KL(base ‖ tuned) term on one general sequence a step (the packaged replay "
        "set; the base is the adapter disabled) against forgetting, beside or instead of replay; sft only, "
        "one process; 0: off",
    )
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="auto: bfloat16 on GPUs that have it and on CPUs with bf16 matrix units (AMX), float32 otherwise",
    )
    upcast_frozen_to_fp32: bool = Field(
        False,
        description="cast embeddings, norms and lm_head to fp32 as the plain recipe does (more memory)",
    )
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear", "attention", "mlp"] = Field(
        "all-linear",
        description="the linear layers adapters go on: a role (attention, mlp, all-linear) that "
        "train/target_modules.py resolves on each architecture (Phi-3's fused qkv_proj, gate_up_proj "
        "included), or a list of this base's layer names, checked before its weights load",
    )
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
        "(train/packing.py); auto: on (CPU and GPU alike)",
    )
    compile_layers: Literal["auto", "on", "off", "graphs"] = Field(
        "auto",
        description="torch.compile the decoder layer's forward once for all layers, inside the gradient "
        "checkpoint, with Liger off (train/regional_compile.py); costs 70–110 s of compiling at the start; "
        "auto: on one CUDA GPU for LoRA and QLoRA runs of models under 4B parameters with 1000+ checkpointed "
        "steps, where it earns them back (bench/README.md §1e, §1f), unless liger_kernels is 'on'; graphs: "
        "as on, each compiled layer also replayed as a CUDA graph (mode reduce-overhead: fewer kernel launches "
        "from the host; one CUDA GPU only)",
    )
    checkpoint_keep: Literal["nothing", "attention", "projections", "matmuls"] = Field(
        "nothing",
        description="with gradient checkpointing, what each checkpoint keeps instead of recomputing "
        "(selective activation checkpointing, train/checkpoint_policy.py): attention outputs; those and "
        "the matmul outputs no wider than the hidden size; or every matmul output. Same gradients, less "
        "recompute, more memory; not combined with compile_layers; slower than full recompute on host-bound "
        "steps (0.5B/1.5B on an H200, bench/README.md §1f)",
    )
    checkpoint_layers: Annotated[int, Field(ge=0)] | Literal["auto", "all"] = Field(
        "auto",
        description="with gradient checkpointing, how many decoder layers are checkpointed, counted from the "
        "first; the others keep their activations and skip the recompute (a checkpointed layer costs about 4 "
        "forward passes a step, one that is not 3) for 8× the activation memory; all: every layer; auto: on a "
        "GPU with gradient_checkpointing auto, the fit (train/fit.py) gives the batch the rows a large model "
        "needs to keep the GPU busy, then spends the memory left on layers without a checkpoint; every layer "
        "otherwise",
    )
    gpu_memory_gib: float | None = Field(
        None,
        gt=0,
        description="the most GPU memory (GiB, weights included) the fitted batch and the layers kept without a "
        "checkpoint may take, for a GPU shared with other work or a run held to another run's memory; unset: "
        "the free memory after loading (train/fit.py). Only `auto` batch size and checkpointing read it",
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
    report_to: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(
        default_factory=list,
        description="experiment trackers for the losses, the trainer's arguments and the run's lineage "
        "(train/tracking.py): none, tensorboard, mlflow, wandb or a list; logs go under the run's folder "
        "unless MLFLOW_TRACKING_URI / WANDB_API_KEY name a server; pip install 'dsforge[tracking]'",
    )
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

    @field_validator("report_to", mode="before")
    @classmethod
    def _trackers(cls, value: Any) -> Any:
        """`none`, one name, or a list of names (the order does not matter; each once)."""
        names = [value] if isinstance(value, str) else list(value or [])
        return sorted({name for name in names if name != "none"})

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str | None) -> str | None:
        if value is not None and value != AUTO_METHOD:
            training_method(value)  # raises, naming the methods there are
        return value

    @model_validator(mode="before")
    @classmethod
    def _objective_as_method(cls, data: Any) -> Any:
        """`method: dpo` reads as `objective: dpo` with the adapter chosen as usual."""
        if isinstance(data, dict) and data.get("method") in PREFERENCE_OBJECTIVES:
            data = {**data, "objective": data["method"]}
            del data["method"]
        return data

    @model_validator(mode="after")
    def _resolve_method(self) -> TrainOptions:
        """`method` wins over the deprecated `mode`, which then only records whether the base is 4-bit."""
        if self.method is None:
            self.method = self.mode if "mode" in self.model_fields_set else AUTO_METHOD
            if "mode" in self.model_fields_set:
                warnings.warn(
                    f"train.mode is deprecated; write `method: {self.mode}` instead of `mode: {self.mode}` "
                    f"(methods: {', '.join(method_names())}).",
                    FutureWarning,
                    stacklevel=2,
                )
        # auto becomes qlora or lora when training starts; the two rows share what is checked here.
        method = self.training_method
        mode = "qlora" if method.loads_4bit else "lora"
        if "mode" in self.model_fields_set and self.mode != mode and self.method != AUTO_METHOD:
            raise ValueError(
                f"train.mode {self.mode!r} contradicts train.method {self.method!r} (only qlora loads the "
                "base in 4-bit); drop train.mode."
            )
        self.mode = mode
        if "learning_rate" not in self.model_fields_set:
            self.learning_rate = method.learning_rate if self.objective == "sft" else PREFERENCE_LEARNING_RATE
        if self.objective == "kto" and self.batch_size != "auto" and int(self.batch_size) < 2:
            raise ValueError(
                "train.objective kto needs batch_size 2 or more (its KL estimate pairs answers within a batch); "
                "set batch_size: auto or 2."
            )
        if self.objective != "sft" and self.kl_to_base > 0:
            raise ValueError(
                f"train.kl_to_base regularises SFT; {self.objective} keeps near its reference through beta. "
                "Set kl_to_base: 0."
            )
        if self.objective != "sft" and not method.lora_family:
            raise ValueError(
                f"train.objective {self.objective} trains a LoRA-family adapter (qlora, lora, dora), "
                f"not {self.method}."
            )
        if method.checkpointing_conflict and self.gradient_checkpointing:
            if self.gradient_checkpointing is True and "gradient_checkpointing" in self.model_fields_set:
                raise ValueError(
                    f"train.method {self.method} cannot train with gradient checkpointing "
                    f"({method.checkpointing_conflict}); set gradient_checkpointing: false."
                )
            self.gradient_checkpointing = False
        if self.checkpoint_reentrant == "on" and self.checkpoint_keep != "nothing":
            raise ValueError(
                "train.checkpoint_keep needs the non-reentrant checkpoint (PyTorch's selective checkpointing); "
                "set checkpoint_reentrant to auto or off."
            )
        if self.merge and not method.mergeable:
            raise ValueError(
                f"train.merge: {self.method} tuning {method.unmergeable_because}, so it cannot be merged "
                "into the base; set merge: false."
            )
        return self

    @property
    def training_method(self) -> TrainingMethod:
        """This run's row of the method table (core/options/methods.py).

        Training replaces `auto` with its choice before anything reads this; until then `auto`
        reads as its GPU choice, qlora.
        """
        if self.method == AUTO_METHOD:
            return training_method("qlora")
        return training_method(self.method or self.mode)


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
