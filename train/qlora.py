"""`dsforge train`: one QLoRA recipe, wired in the open.

config in → dataset, base model, LoRA, trl's SFTTrainer → best adapter, run
card and loss curves out. The same file runs on one CPU, one GPU, or several
GPUs under `accelerate launch` (DDP): nothing here depends on the process count.

Memory: trl's SFTTrainer computes the loss from the hidden states in chunks
(a fused LM head) so full fp32 logits over the vocabulary never exist, and the
frozen non-quantised weights stay in bf16 on GPUs (see loading.keep_frozen_in_dtype).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.atomic import replace_dir, write_text
from core.clock import utc_now
from core.config import DsforgeConfig
from core.errors import TrainError
from core.options.train import TrainOptions
from schemas.types import content_id
from train import distributed
from train import run_card as cards
from train.base_models import ResolvedBase, resolve_base_model
from train.checkpoint_policy import checkpoint_kwargs, keep_in_checkpoint
from train.data import TrainPaths, conversational, dataset_fingerprint, load_splits, read_lineage
from train.loading import (
    Hardware,
    check_chat_template,
    grow_memory_in_place,
    keep_frozen_in_dtype,
    load_model,
    load_tokenizer,
    pick_hardware,
)
from train.fit import fit_batch, packed_row_estimate
from train.methods import peft_config
from train.packing import attention_implementation, use_packing
from train.fused_lora import fuse_lora_layers
from train.regional_compile import (
    compile_decoder_layers,
    planned_steps,
    use_compiled_layers,
    why_not_compiled,
)
from train.replay import mix_replay, set_sha256

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "fingerprint.txt"


def train(
    config: DsforgeConfig, show_progress: bool = True, callbacks: Sequence[Any] = ()
) -> cards.RunCard:
    """Train (or resume, or skip when already done) and return the run card.

    `callbacks` are extra transformers TrainerCallbacks (timers, loggers) run beside early stopping.
    """
    opts = config.train
    paths = TrainPaths(config.output_dir)
    data = load_splits(paths.dataset)
    base = resolve_base_model(opts.base_model, config.project_root)
    fingerprint = run_fingerprint(opts, dataset_fingerprint(data), base, distributed.processes())

    done = cards.read_run_card(paths.run_json)
    if (
        done
        and done.status == "complete"
        and done.fingerprint == fingerprint
        and _adapter_exists(paths.adapter)
    ):
        log.info("training already complete for %s; nothing to do", fingerprint)
        return done
    hardware = pick_hardware(opts.compute_dtype)
    allocator = grow_memory_in_place(hardware)
    distributed.start(hardware)
    distributed.check_fsdp_options(opts, hardware)
    with distributed.main_first():
        _reset_stale_checkpoints(paths.checkpoints, fingerprint)

    started_at = utc_now()
    tokenizer = load_tokenizer(base.path)
    check_chat_template(tokenizer)
    warnings = data_warnings(data, opts, tokenizer)
    for warning in warnings:
        log.warning(warning)

    distributed.prepare_fsdp_loading(opts)
    quant_storage = distributed.quant_storage(opts, hardware)
    packing = use_packing(opts.packing, hardware)
    attention = attention_implementation(packing, hardware)
    model = load_model(
        base.path,
        hardware,
        load_in_4bit=opts.training_method.loads_4bit,
        quant_storage=quant_storage,
        attn_implementation=attention,
    )
    train_split, replay = mix_replay(data["train"], opts.replay, opts.seed)
    needs_rows = opts.batch_size == "auto" or (packing and opts.compile_layers == "auto")
    rows = _packed_rows(train_split, opts, tokenizer) if hardware.device == "cuda" and needs_rows else None
    fit = fit_batch(opts, hardware, model, rows)
    opts = opts.model_copy(  # the resolved values train the run; the fingerprint keeps the configured ones
        update={
            "batch_size": fit.batch_size,
            "gradient_checkpointing": fit.gradient_checkpointing,
            "packing": "on" if packing else "off",
        }
    )
    from transformers import set_seed

    set_seed(opts.seed)  # LoRA's A matrices are drawn here, before the Trainer seeds anything
    kept = keep_in_checkpoint(model, opts.checkpoint_keep) if opts.gradient_checkpointing else None
    base_parameters = int(model.num_parameters())  # 4-bit weights counted unpacked
    model, memory_policy = add_lora(model, opts, hardware, base.path)
    if kept is not None:
        memory_policy["checkpoint_keeps"] = kept
    steps = planned_steps(opts, rows if rows is not None and packing else len(train_split))
    compile_layers = use_compiled_layers(opts, hardware, steps, base_parameters)
    # Inductor generates Liger's fusions itself and cannot trace its kernels.
    memory_policy["liger_kernels"] = use_liger_kernels(opts, hardware) and not compile_layers
    if use_fused_lora(opts, hardware):
        memory_policy["fused_lora"] = fuse_lora_layers(model)
    memory_policy["batch"] = fit.card()
    if allocator:
        memory_policy["allocator"] = allocator
    if opts.offload_activations == "on":
        memory_policy["activation_offloading"] = _offloading_line(opts, hardware)
    memory_policy["packing"] = (
        f"padding-free, per-record attention ({attention})" if packing else "off: one record per row, padded"
    )
    if compile_layers:
        memory_policy["compiled_layers"] = compile_decoder_layers(model)
    elif opts.compile_layers == "auto" and hardware.device == "cuda":
        why = why_not_compiled(opts, hardware, steps, base_parameters)
        memory_policy["compiled_layers"] = f"not compiled (auto): {why}"

    from transformers import EarlyStoppingCallback

    from train.lean_trainer import LeanSFTTrainer

    args = sft_config(opts, hardware, paths.checkpoints, show_progress, memory_policy["liger_kernels"])
    with distributed.main_first():  # rank 0 writes the datasets' map caches, the others read them
        trainer = LeanSFTTrainer(
            model=model,
            args=args,
            train_dataset=conversational(train_split),
            eval_dataset=conversational(data["validation"]),
            processing_class=tokenizer,
            callbacks=[EarlyStoppingCallback(early_stopping_patience=opts.early_stopping_patience), *callbacks],
        )
    if hardware.device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    with distributed.main_first():
        resume = _last_checkpoint(paths.checkpoints)
    tokens_before = _tokens_at_resume(resume)
    clock = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - clock
    state = trainer.state

    adapter_state = distributed.adapter_state(trainer.model)  # every rank takes part under FSDP
    if not trainer.accelerator.is_main_process:
        return cards.RunCard.model_construct(status="replica")
    _save_adapter(trainer, tokenizer, paths.adapter, adapter_state)
    layout = distributed.run_card_fields(opts, trainer.model)
    artifacts = {"adapter": str(paths.adapter), "checkpoints": str(paths.checkpoints)}
    peak = cards.peak_memory(hardware.device)
    del trainer, model
    if opts.merge:
        merge_adapter(base.path, paths.adapter, paths.merged, distributed.merge_hardware(opts, hardware))
        artifacts["merged"] = str(paths.merged)

    tokens = int(state.num_input_tokens_seen or 0) - tokens_before
    train_losses = [e["loss"] for e in state.log_history if "loss" in e]
    card = cards.RunCard(
        status="complete",
        fingerprint=fingerprint,
        base_model={"ref": base.ref, "path": str(base.path), **base.provenance},
        dataset={
            "fingerprint": dataset_fingerprint(data),
            "path": str(paths.dataset),
            "sizes": {name: len(data[name]) for name in data},
            "lineage": read_lineage(paths.lineage),
            "replay": replay,
        },
        hyperparameters={**opts.model_dump(mode="json"), "optimizer": _optimizer(opts, hardware)},
        memory_policy=memory_policy,
        versions=cards.package_versions(),
        hardware={
            **cards.hardware_info(hardware.device),
            "compute_dtype": str(hardware.compute_dtype),
            **layout,
        },
        started_at=started_at,
        finished_at=utc_now(),
        train_seconds=round(seconds, 2),
        train_tokens=tokens,
        tokens_per_second=round(tokens / seconds, 2) if seconds > 0 else 0.0,
        peak_memory=peak,
        steps=state.global_step,
        stopped_early=bool(state.max_steps and state.global_step < state.max_steps),
        best_checkpoint=Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
        best_eval_loss=state.best_metric,
        final_train_loss=train_losses[-1] if train_losses else result.training_loss,
        warnings=warnings,
        artifacts=artifacts,
        log_history=state.log_history,
    )
    if cards.plot_losses(state.log_history, paths.loss_png):
        card.artifacts.loss_png = str(paths.loss_png)
    cards.write_run_card(card, paths.run_json, paths.run_card)
    return card


def run_fingerprint(opts: TrainOptions, data_id: str, base: ResolvedBase, processes: int = 1) -> str:
    """Everything that changes the trained adapter; `merge` only adds an artifact.

    The process count sets the global batch, so it counts; DDP or FSDP computes the same steps.
    Options added since the first release count only when they are not at their
    defaults, so a run of an older config keeps its fingerprint and is not redone.
    """
    # fused_lora and the checkpoint's options change how the step runs, not what it computes.
    execution_only = {"fused_lora", "checkpoint_keep", "checkpoint_reentrant", "offload_activations"}
    options = opts.model_dump(mode="json", exclude={"merge", "min_train_examples", "distributed"} | execution_only)
    options["compile_layers"] = opts.compile_layers == "on"  # the same arithmetic; ids of runs before `auto` kept
    later = {"method": opts.mode, "num_virtual_tokens": 20, "replay": 0.0}
    later["prompt_init_text"] = TrainOptions.model_fields["prompt_init_text"].default
    options = {k: v for k, v in options.items() if k not in later or v != later[k]}
    world = [{"processes": processes}] if processes > 1 else []
    replay = [set_sha256()] if opts.replay > 0 else []
    return content_id(options, data_id, base.provenance, *world, *replay, prefix="run-")


def data_warnings(data: Any, opts: TrainOptions, tokenizer: Any) -> list[str]:
    """What users learn too late otherwise: too little data, answers cut by max_seq_len."""
    warnings = []
    n_train, n_val = len(data["train"]), len(data["validation"])
    if n_train < opts.min_train_examples:
        warnings.append(
            f"only {n_train} training records (fewer than {opts.min_train_examples}): expect the "
            "adapter to memorise rather than generalise; build more records before trusting the report."
        )
    if n_val < 10:
        warnings.append(f"only {n_val} validation records: early stopping will follow noise.")
    from train.data import to_prompt_completion

    too_long = dropped = 0
    for row in data["train"]:
        pair = to_prompt_completion(row)
        prompt = _token_count(tokenizer, pair["prompt"], add_generation_prompt=True)
        full = _token_count(tokenizer, pair["prompt"] + pair["completion"])
        too_long += full > opts.max_seq_len
        dropped += prompt >= opts.max_seq_len
    if dropped == n_train:
        raise TrainError(
            f"every training prompt is at least train.max_seq_len={opts.max_seq_len} tokens, so no answer "
            "token would be left to learn from; raise max_seq_len."
        )
    if too_long:
        warnings.append(
            f"{too_long} of {n_train} training records exceed train.max_seq_len={opts.max_seq_len} tokens "
            f"and are truncated, which cuts their answers ({dropped} lose them entirely and are dropped); "
            "raise max_seq_len."
        )
    return warnings


def _packed_rows(train_split: Any, opts: TrainOptions, tokenizer: Any) -> int:
    from train.data import to_prompt_completion

    lengths = []
    for row in train_split:
        pair = to_prompt_completion(row)
        lengths.append(_token_count(tokenizer, pair["prompt"] + pair["completion"]))
    return packed_row_estimate(lengths, opts.max_seq_len)


def _token_count(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> int:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt)
    return len(ids["input_ids"] if hasattr(ids, "keys") else ids)


def add_lora(
    model: Any, opts: TrainOptions, hardware: Hardware, base_path: Path = Path(".")
) -> tuple[Any, dict[str, Any]]:
    """Prepare a (4-bit) base for training and put the method's adapter (train/methods.py) on it."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    policy: dict[str, Any] = {
        "quantisation": "4-bit NF4, double quantisation" if opts.training_method.loads_4bit else "none",
        "compute_dtype": str(hardware.compute_dtype),
        "logits": "chunked loss through trl's fused LM head: no full fp32 logits",
        "gradient_checkpointing": opts.gradient_checkpointing,
    }
    gc_kwargs = checkpoint_kwargs(opts)
    if opts.gradient_checkpointing:
        policy["checkpoint"] = "reentrant" if gc_kwargs["use_reentrant"] else "non-reentrant"
    if opts.training_method.loads_4bit:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=opts.gradient_checkpointing,
            gradient_checkpointing_kwargs=gc_kwargs,
        )
        if hardware.compute_dtype == _fp32():
            policy["frozen_weights"] = "float32, the compute dtype on this hardware"
        elif opts.upcast_frozen_to_fp32:
            policy["frozen_weights"] = "float32 (embeddings, norms, lm_head upcast)"
        else:
            cast = keep_frozen_in_dtype(model, hardware.compute_dtype)
            policy["frozen_weights"] = f"{cast} non-quantised tensors kept in {hardware.compute_dtype}"
    else:
        policy["frozen_weights"] = str(hardware.compute_dtype)
    policy["method"] = opts.method
    model = get_peft_model(model, peft_config(opts, model, base_path))
    trainable, total = model.get_nb_trainable_parameters()
    policy["trainable_parameters"] = f"{trainable} of {total} ({100 * trainable / total:.2f}%)"
    return model, policy


def offload_activations(opts: TrainOptions, hardware: Hardware) -> bool:
    """Only a GPU's activations can move to the host: on a CPU they are there already."""
    return opts.offload_activations == "on" and hardware.device == "cuda"


def _offloading_line(opts: TrainOptions, hardware: Hardware) -> str:
    if not offload_activations(opts, hardware):
        return f"not applied: no GPU ({hardware.device}), the activations already live in host memory"
    return "on: saved activations to pinned CPU memory on a side stream (trl), back in the backward"


def sft_config(
    opts: TrainOptions, hardware: Hardware, output_dir: Path, show_progress: bool, liger_kernels: bool
) -> Any:
    import torch
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=opts.epochs,
        max_steps=opts.max_steps,
        per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.gradient_accumulation_steps,
        gradient_checkpointing=opts.gradient_checkpointing,
        gradient_checkpointing_kwargs=checkpoint_kwargs(opts),
        activation_offloading=offload_activations(opts, hardware),
        learning_rate=opts.learning_rate,
        lr_scheduler_type=opts.lr_scheduler,
        warmup_steps=opts.warmup_ratio,
        weight_decay=opts.weight_decay,
        optim=_optimizer(opts, hardware),
        bf16=hardware.device == "cuda" and hardware.compute_dtype == torch.bfloat16,
        fp16=False,
        max_length=opts.max_seq_len,
        packing=opts.packing == "on",
        packing_strategy="bfd",  # whole records, padding-free: see train/packing.py
        use_liger_kernel=liger_kernels,
        completion_only_loss=True,
        eval_strategy="steps",
        eval_steps=opts.eval_steps,
        save_strategy="steps",
        save_steps=opts.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=opts.logging_steps,
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
        report_to="none",
        seed=opts.seed,
        data_seed=opts.seed,
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
        **distributed.trainer_args(opts, hardware),
    )


def use_fused_lora(opts: TrainOptions, hardware: Hardware) -> bool:
    """`auto` fuses on CUDA, where the host paces small-model steps; the methods whose row says it computes them.

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
        raise TrainError("train.liger_kernels is 'on' but liger-kernel is not installed: pip install liger-kernel")
    return installed


def merge_adapter(base_path: Path, adapter: Path, target: Path, hardware: Hardware) -> None:
    """Dequantise first (load the plain base, not the 4-bit one), then fold LoRA in."""
    from peft import PeftModel

    model = load_model(base_path, hardware, load_in_4bit=False, for_training=False)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    tokenizer = load_tokenizer(base_path)
    replace_dir(target, lambda tmp: (merged.save_pretrained(tmp), tokenizer.save_pretrained(tmp)))


def _save_adapter(trainer: Any, tokenizer: Any, target: Path, state: dict[str, Any] | None = None) -> None:
    # load_best_model_at_end left the best weights in the trainer's model; `state` holds them when sharded.
    model = trainer.accelerator.unwrap_model(trainer.model)
    replace_dir(target, lambda tmp: (model.save_pretrained(tmp, state_dict=state), tokenizer.save_pretrained(tmp)))


def _adapter_exists(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() and any(path.glob("adapter_model.*"))


def _reset_stale_checkpoints(folder: Path, fingerprint: str) -> None:
    """Checkpoints of another configuration must not be resumed into this one."""
    marker = folder / FINGERPRINT_FILE
    if folder.exists() and (not marker.is_file() or marker.read_text("utf-8").strip() != fingerprint):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_text(marker, fingerprint + "\n")


def _last_checkpoint(folder: Path) -> Path | None:
    """The newest whole checkpoint; newer ones a kill left half-written are deleted.

    transformers writes `trainer_state.json` last, so a checkpoint without it was cut
    short: resuming from it would crash on a truncated file or silently start over.
    """
    if not folder.is_dir():
        return None
    numbered = [p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    for checkpoint in sorted(numbered, key=lambda p: int(p.name.split("-")[1]), reverse=True):
        if (checkpoint / "trainer_state.json").is_file():
            return checkpoint
        log.warning("removing %s: a stopped run left it incomplete", checkpoint)
        shutil.rmtree(checkpoint)
    return None


def _tokens_at_resume(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    from transformers import TrainerState

    try:
        return int(
            TrainerState.load_from_json(str(checkpoint / "trainer_state.json")).num_input_tokens_seen or 0
        )
    except (OSError, ValueError):
        return 0


def _optimizer(opts: TrainOptions, hardware: Hardware) -> str:
    if opts.optimizer != "auto":
        return opts.optimizer
    # LoRA's optimizer state is a few MB, so 8-bit paging saves nothing; torch's fused AdamW is one
    # kernel for all adapter tensors instead of a few per tensor (bench/README.md has the numbers).
    return "adamw_torch_fused" if hardware.device == "cuda" else "adamw_torch"


def _fp32() -> Any:
    import torch

    return torch.float32
