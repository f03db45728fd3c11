"""`dsforge train`: one training recipe for every PEFT method, wired in the open.

config in → dataset, base model, adapter, trl's SFTTrainer (DPOTrainer for review's preference
pairs) → best adapter, run card and loss curves out. `train` reads top to bottom: the inputs and
their fingerprint, the plan (every choice with its reason, train/plan.py), the model set up as
planned, the fit, the adapter, an optional merge into the base, the card. The same file runs on
one CPU, one GPU, or several GPUs under `accelerate launch` (DDP or FSDP): nothing here depends
on the process count.

Memory: trl's SFTTrainer computes the loss from the hidden states in chunks
(a fused LM head) so full fp32 logits over the vocabulary never exist, and the
frozen non-quantised weights stay in bf16 on GPUs (see loading.keep_frozen_in_dtype).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import replace_dir
from core.clock import utc_now
from core.config import DsforgeConfig
from core.errors import TrainError
from core.layout import TrainPaths
from core.options.train import TrainOptions
from schemas.types import content_id
from train import distributed
from train import run_card as cards
from train.base_models import ResolvedBase, base_config, resolve_base_model
from train.checkpoint_policy import keep_in_checkpoint
from train.data import conversational, dataset_fingerprint, load_splits, read_lineage
from train.data_checks import data_warnings
from train.fused_lora import fuse_lora_layers
from train.loading import check_chat_template, grow_memory_in_place, load_model, load_tokenizer, pick_hardware
from train.merge import MergeCard, MergeOptions, merge
from train.method_choice import choose_method
from train.plan import TrainPlan, plan
from train.preference_data import load_preference_splits, preference_fingerprint
from train.preference_run import held_out_preference, pairs_only, preference_warnings, start_adapter
from train.regional_compile import compile_decoder_layers
from train.replay import mix_replay, set_sha256
from train.resume import last_checkpoint, reset_stale_checkpoints, tokens_at_resume
from train.target_modules import check_before_loading
from train.tracking import lineage_params, require_trackers, tracked_at, tracking_callbacks
from train.trainer_setup import add_lora, preference_trainer, sft_config

log = logging.getLogger(__name__)


def train(config: DsforgeConfig, show_progress: bool = True, callbacks: Sequence[Any] = ()) -> cards.RunCard:
    """Train (or resume, or skip when already done) and return the run card.

    `callbacks` are extra transformers TrainerCallbacks (timers, loggers) run beside early stopping.
    """
    opts = config.train
    paths = TrainPaths(config.output_dir, objective=opts.objective)
    prefers = opts.objective != "sft"  # pairs from review instead of records
    start = start_adapter(opts, config.output_dir) if prefers else None
    data = load_preference_splits(paths.preference) if prefers else load_splits(paths.dataset)
    data_id = preference_fingerprint(data, start) if prefers else dataset_fingerprint(data)
    base = resolve_base_model(opts.base_model, config.project_root)
    hardware = pick_hardware(opts.compute_dtype)
    chosen = choose_method(opts, hardware, base.path)
    opts = chosen.options  # `auto` is a method from here on, and the fingerprint names it
    architecture = base_config(base.path)
    if opts.training_method.lora_family or opts.training_method.name == "ia3":
        check_before_loading(opts.target_modules, architecture)  # a wrong layer name fails before the weights load
    require_trackers(opts.report_to)
    if opts.kl_to_base > 0 and distributed.processes() > 1:
        raise TrainError(
            "train.kl_to_base runs in one process (its second forward is outside the data-parallel wrapper); "
            "train with one GPU, or use train.replay."
        )
    if prefers:
        opts = opts.model_copy(update={"packing": "off"})  # a pair is two sequences scored apart
    fingerprint = run_fingerprint(opts, data_id, base, distributed.processes())
    done = cards.read_run_card(paths.run_json)
    if (
        done
        and done.status == "complete"
        and done.fingerprint == fingerprint
        and _adapter_exists(paths.adapter)
    ):
        log.info("training already complete for %s; nothing to do", fingerprint)
        return done

    allocator = grow_memory_in_place(hardware)
    distributed.start(hardware)
    distributed.check_fsdp_options(opts, hardware)
    with distributed.main_first():
        reset_stale_checkpoints(paths.checkpoints, fingerprint)
    started_at = utc_now()
    tokenizer = load_tokenizer(base.path)
    check_chat_template(tokenizer)
    warnings = preference_warnings(data, opts) if prefers else data_warnings(data, opts, tokenizer)
    for warning in warnings:
        log.warning(warning)
    distributed.prepare_fsdp_loading(opts)

    train_split, replay = mix_replay(data["train"], 0.0 if prefers else opts.replay, opts.seed)
    planned = plan(opts, hardware, train_split, tokenizer, allocator, method_choice=chosen.reason,
                   model_config=architecture)  # fmt: skip
    model, planned = setup_model(planned, base.path, start)
    splits = (train_split, data["validation"])
    lineage = lineage_params(fingerprint, data_id, base.ref, read_lineage(paths.lineage))
    callbacks = [*callbacks, *tracking_callbacks(opts.report_to, paths.tracking, lineage)]
    trainer, fitted = fit(model, planned, tokenizer, splits, paths.checkpoints, show_progress, callbacks)
    held_out = held_out_preference(trainer, data["test"]) if prefers else None
    adapter_state = distributed.adapter_state(trainer.model)  # every rank takes part under FSDP
    if not trainer.accelerator.is_main_process:
        return cards.RunCard.model_construct(status="replica")
    _save_adapter(trainer, tokenizer, paths.adapter, adapter_state)
    del trainer, model

    preference = None
    if prefers:
        preference = {"objective": opts.objective, "beta": opts.beta,
                      "started_from": str(start) if start else "base", "held_out": held_out}  # fmt: skip
    card = write_card(paths, fingerprint, base, data, data_id, replay, planned, fitted, started_at, warnings,
                      preference)  # fmt: skip
    if opts.merge:
        merge_into_base(paths, planned, config.project_root)
        card.artifacts.merged = str(paths.merged)
        card.finished_at = utc_now()  # the run includes its merge
        cards.write_run_card(card, paths.run_json, paths.run_card)
    return card


def setup_model(planned: TrainPlan, base_path: Path, start: Path | None = None) -> tuple[Any, TrainPlan]:
    """Load the base as planned, finish the plan on it, then put the adapter and the planned kernels on.

    `start`: an adapter to go on training (a preference run's SFT adapter) instead of a fresh one.

    Returns the model and the plan with what each step did, in the run card's words.
    """
    from transformers import set_seed

    model = load_model(
        base_path,
        planned.hardware,
        load_in_4bit=planned.options.training_method.loads_4bit,
        quant_storage=planned.quant_storage,
        attn_implementation=planned.attention,
    )
    planned = planned.with_model(model)
    opts = planned.options
    set_seed(opts.seed)  # LoRA's A matrices are drawn here, before the Trainer seeds anything
    kept = keep_in_checkpoint(model, opts.checkpoint_keep) if opts.gradient_checkpointing else None
    layers = planned.batch.checkpointed_layers if planned.batch is not None else None
    model, adapter = add_lora(model, opts, planned.hardware, base_path, start, checkpointed_layers=layers)
    fused = fuse_lora_layers(model) if planned.fused_lora else None
    graphs = planned.options.compile_layers == "graphs"
    compiled = compile_decoder_layers(model, cuda_graphs=graphs) if planned.compile_layers else None
    return model, planned.applied(adapter, kept, fused, compiled)


@dataclass(frozen=True)
class Fitted:
    """What the run card needs from training, read while the trainer still exists."""

    state: Any  # transformers' TrainerState: steps, logs, best checkpoint
    training_loss: float
    seconds: float
    tokens: int  # input tokens seen by this run, not by the run it resumed
    layout: dict[str, Any]  # processes, strategy, global batch, sharded tensors
    peak_memory: dict[str, float | None]


def fit(
    model: Any,
    planned: TrainPlan,
    tokenizer: Any,
    splits: tuple[Any, Any],
    checkpoints: Path,
    show_progress: bool,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, Fitted]:
    """Train on `splits` (train, validation) with early stopping, from this configuration's last checkpoint.

    Returns the trainer (its model holds the best weights) and what the card records.
    """
    from transformers import EarlyStoppingCallback

    from train.kl_to_base import KlToBase
    from train.lean_trainer import LeanSFTTrainer

    opts, hardware = planned.options, planned.hardware
    evaluate = splits[1] is not None  # a preference run may have no validation pairs
    stopping = [EarlyStoppingCallback(early_stopping_patience=opts.early_stopping_patience)] if evaluate else []
    with distributed.main_first():  # rank 0 writes the datasets' map caches, the others read them
        if opts.objective != "sft":
            trainer_class, args = preference_trainer(opts, hardware, checkpoints, show_progress, evaluate)
            trainer = trainer_class(
                model=model,  # its reference: the starting adapter's frozen copy, or the base with it disabled
                args=args,
                train_dataset=pairs_only(splits[0]),
                eval_dataset=pairs_only(splits[1]) if evaluate else None,
                processing_class=tokenizer,
                callbacks=[*stopping, *callbacks],
            )
        else:
            kl = KlToBase(tokenizer, opts.kl_to_base, opts.max_seq_len, opts.seed) if opts.kl_to_base > 0 else None
            trainer = LeanSFTTrainer(
                model=model,
                args=sft_config(opts, hardware, checkpoints, show_progress, planned.liger_kernels),
                train_dataset=conversational(splits[0]),
                eval_dataset=conversational(splits[1]),
                processing_class=tokenizer,
                callbacks=[*stopping, *callbacks],
                kl_to_base=kl,
            )
    if hardware.device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    with distributed.main_first():
        resume = last_checkpoint(checkpoints)
    tokens_before = tokens_at_resume(resume)
    clock = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - clock
    state = trainer.state
    return trainer, Fitted(
        state=state,
        training_loss=result.training_loss,
        seconds=seconds,
        tokens=int(state.num_input_tokens_seen or 0) - tokens_before,
        layout=distributed.run_card_fields(opts, trainer.model),
        peak_memory=cards.peak_memory(hardware.device),
    )


def write_card(
    paths: TrainPaths,
    fingerprint: str,
    base: ResolvedBase,
    data: Any,
    data_id: str,
    replay: dict[str, Any],
    planned: TrainPlan,
    fitted: Fitted,
    started_at: str,
    warnings: list[str],
    preference: dict[str, Any] | None = None,
) -> cards.RunCard:
    """run.json for machines, RUN_CARD.md for people, loss.png for a glance; returns the card."""
    state, hardware, seconds = fitted.state, planned.hardware, fitted.seconds
    train_losses = [e["loss"] for e in state.log_history if "loss" in e]
    card = cards.RunCard(
        status="complete",
        fingerprint=fingerprint,
        base_model={"ref": base.ref, "path": str(base.path), **base.provenance},
        dataset={
            "fingerprint": data_id,
            "path": str(paths.export / "preference" if planned.options.objective != "sft" else paths.dataset),
            "sizes": {name: len(data[name]) if data[name] is not None else 0 for name in data},
            "lineage": read_lineage(paths.lineage),
            "replay": replay,
        },
        hyperparameters={**planned.options.model_dump(mode="json"), "optimizer": planned.optimizer},
        memory_policy=planned.memory_policy(),
        versions=cards.package_versions(),
        hardware={
            **cards.hardware_info(hardware.device),
            "compute_dtype": str(hardware.compute_dtype),
            **fitted.layout,
        },
        started_at=started_at,
        finished_at=utc_now(),
        train_seconds=round(seconds, 2),
        train_tokens=fitted.tokens,
        tokens_per_second=round(fitted.tokens / seconds, 2) if seconds > 0 else 0.0,
        peak_memory=fitted.peak_memory,
        steps=state.global_step,
        stopped_early=bool(state.max_steps and state.global_step < state.max_steps),
        best_checkpoint=Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
        best_eval_loss=state.best_metric,
        final_train_loss=train_losses[-1] if train_losses else fitted.training_loss,
        warnings=warnings,
        artifacts={"adapter": str(paths.adapter), "checkpoints": str(paths.checkpoints)},
        log_history=state.log_history,
        preference=preference,
    )
    if planned.options.report_to:
        card.artifacts.tracking = tracked_at(planned.options.report_to, paths.tracking)
    if cards.plot_losses(state.log_history, paths.loss_png):
        card.artifacts.loss_png = str(paths.loss_png)
    cards.write_run_card(card, paths.run_json, paths.run_card)
    return card


def merge_into_base(paths: TrainPaths, planned: TrainPlan, project_root: Path) -> MergeCard:
    """`train.merge`: the adapter folded into the base as `dsforge merge --into-base` does, with merge.json.

    The merge takes the adapter's lineage from the run card beside it, so the card is written
    first; a failed merge takes the card with it, so that `dsforge train` again does the merge.
    """
    hardware = distributed.merge_hardware(planned.options, planned.hardware)
    try:
        return merge([paths.adapter], paths.merged, MergeOptions(into_base=True), project_root, hardware)
    except BaseException:
        paths.run_json.unlink(missing_ok=True)
        paths.run_card.unlink(missing_ok=True)
        raise


def run_fingerprint(opts: TrainOptions, data_id: str, base: ResolvedBase, processes: int = 1) -> str:
    """Everything that changes the trained adapter; `merge` only adds an artifact.

    The process count sets the global batch, so it counts; DDP or FSDP computes the same steps.
    Options added since the first release count only when they are not at their
    defaults, so a run of an older config keeps its fingerprint and is not redone.
    """
    # fused_lora and the checkpoint's options change how the step runs, not what it computes.
    execution_only = {"fused_lora", "checkpoint_keep", "checkpoint_reentrant", "checkpoint_layers",
                      "offload_activations"}
    exclude = {"merge", "min_train_examples", "distributed", "report_to"} | execution_only
    options = opts.model_dump(mode="json", exclude=exclude)
    # `auto` and `off` compute the same arithmetic: ids of runs from before `auto` are kept.
    options["compile_layers"] = opts.compile_layers in ("on", "graphs")  # CUDA graphs replay the same kernels
    later = {"method": opts.mode, "num_virtual_tokens": 20, "replay": 0.0, "objective": "sft", "beta": 0.1,
             "start_from": "auto", "kl_to_base": 0.0, "gpu_memory_gib": None}  # fmt: skip
    later["prompt_init_text"] = TrainOptions.model_fields["prompt_init_text"].default
    options = {k: v for k, v in options.items() if k not in later or v != later[k]}
    world = [{"processes": processes}] if processes > 1 else []
    replay = [set_sha256()] if opts.replay > 0 else []
    return content_id(options, data_id, base.provenance, *world, *replay, prefix="run-")


def _save_adapter(trainer: Any, tokenizer: Any, target: Path, state: dict[str, Any] | None = None) -> None:
    # load_best_model_at_end left the best weights in the trainer's model; `state` holds them when sharded.
    model = trainer.accelerator.unwrap_model(trainer.model)

    # a preference run's frozen reference copy ("ref") is not part of the result
    adapters = {"selected_adapters": ["default"]} if "ref" in getattr(model, "peft_config", {}) else {}

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, state_dict=state, **adapters)
        tokenizer.save_pretrained(tmp)

    replace_dir(target, write)


def _adapter_exists(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() and any(path.glob("adapter_model.*"))
