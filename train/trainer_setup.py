"""What peft and trl are handed: the base prepared with the method's adapter, and the SFTConfig.

Both read the options the plan resolved (train/plan.py), so the batch, checkpointing and
packing they set are the ones the run card reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.options.train import TrainOptions
from train import distributed
from train.checkpoint_policy import checkpoint_first_layers, checkpoint_kwargs
from train.loading import Hardware, keep_frozen_in_dtype
from train.methods import peft_config
from train.plan import offload_activations, optimizer


def add_lora(
    model: Any,
    opts: TrainOptions,
    hardware: Hardware,
    base_path: Path = Path("."),
    start_adapter: Path | None = None,
    checkpointed_layers: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Prepare a (4-bit) base for training and put the method's adapter (train/methods.py) on it.

    `start_adapter`: a trained adapter to go on training instead of a fresh one (its own config holds).
    `checkpointed_layers`: with checkpointing, how many decoder layers from the first (train/fit.py); None: all.
    Returns the model and, for the run card, what was done to the base's weights.
    """
    import torch
    from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training

    policy: dict[str, Any] = {
        "quantisation": "4-bit NF4, double quantisation" if opts.training_method.loads_4bit else "none",
        "compute_dtype": str(hardware.compute_dtype),
        "logits": "chunked loss through trl's fused LM head: no full fp32 logits",
        "gradient_checkpointing": opts.gradient_checkpointing,
    }
    gc_kwargs = checkpoint_kwargs(opts)
    if opts.gradient_checkpointing:
        policy["checkpoint"] = "reentrant" if gc_kwargs["use_reentrant"] else "non-reentrant"
        if checkpointed_layers is not None:  # before anything enables checkpointing
            policy["checkpointed_layers"] = checkpoint_first_layers(model, checkpointed_layers)
    if opts.training_method.loads_4bit:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=opts.gradient_checkpointing,
            gradient_checkpointing_kwargs=gc_kwargs,
        )
        if hardware.compute_dtype == torch.float32:
            policy["frozen_weights"] = "float32, the compute dtype on this hardware"
        elif opts.upcast_frozen_to_fp32:
            policy["frozen_weights"] = "float32 (embeddings, norms, lm_head upcast)"
        else:
            cast = keep_frozen_in_dtype(model, hardware.compute_dtype)
            policy["frozen_weights"] = f"{cast} non-quantised tensors kept in {hardware.compute_dtype}"
    else:
        policy["frozen_weights"] = str(hardware.compute_dtype)
    policy["method"] = opts.method
    if start_adapter is not None:
        model = PeftModel.from_pretrained(model, str(start_adapter), is_trainable=True)
        policy["started_from"] = str(start_adapter)
    else:
        model = get_peft_model(model, peft_config(opts, model, base_path))
    trainable, total = model.get_nb_trainable_parameters()
    policy["trainable_parameters"] = f"{trainable} of {total} ({100 * trainable / total:.2f}%)"
    return model, policy


def sft_config(
    opts: TrainOptions, hardware: Hardware, output_dir: Path, show_progress: bool, liger_kernels: bool
) -> Any:
    """trl's SFTConfig for the resolved options: evaluate and checkpoint together, keep the best."""
    from trl import SFTConfig

    return SFTConfig(
        **_shared_args(opts, hardware, output_dir, show_progress, evaluate=True),
        activation_offloading=offload_activations(opts, hardware),
        packing=opts.packing == "on",
        packing_strategy="bfd",  # whole records, padding-free: see train/packing.py
        use_liger_kernel=liger_kernels,
        completion_only_loss=True,
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
    )


# objective → (module, config class, trainer class): TRL's preference trainers
PREFERENCE_TRAINERS = {
    "dpo": ("trl", "DPOConfig", "DPOTrainer"),
    "kto": ("trl", "KTOConfig", "KTOTrainer"),  # unpairs the pairs itself: chosen desirable, rejected not
    "orpo": (
        "trl.experimental.orpo",
        "ORPOConfig",
        "ORPOTrainer",
    ),  # reference-free; TRL marks it experimental
}


def preference_trainer(
    opts: TrainOptions, hardware: Hardware, output_dir: Path, show_progress: bool, evaluate: bool
) -> tuple[Any, Any]:
    """(trainer class, its config) for `opts.objective` on the same stack: the batch, checkpointing and
    optimiser the plan resolved. `evaluate`: there are validation pairs, so evaluate and keep the best
    checkpoint as SFT does."""
    import importlib

    module, config_name, trainer_name = PREFERENCE_TRAINERS[opts.objective]
    trl = importlib.import_module(module)
    config = getattr(trl, config_name)(
        **_shared_args(opts, hardware, output_dir, show_progress, evaluate), beta=opts.beta
    )
    return getattr(trl, trainer_name), config


def _shared_args(
    opts: TrainOptions, hardware: Hardware, output_dir: Path, show_progress: bool, evaluate: bool
) -> dict[str, Any]:
    import torch

    return dict(
        output_dir=str(output_dir),
        num_train_epochs=opts.epochs,
        max_steps=opts.max_steps,
        per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.gradient_accumulation_steps,
        gradient_checkpointing=opts.gradient_checkpointing,
        gradient_checkpointing_kwargs=checkpoint_kwargs(opts),
        learning_rate=opts.learning_rate,
        lr_scheduler_type=opts.lr_scheduler,
        warmup_steps=opts.warmup_ratio,
        weight_decay=opts.weight_decay,
        optim=optimizer(opts, hardware),
        bf16=hardware.device == "cuda" and hardware.compute_dtype == torch.bfloat16,
        fp16=False,
        max_length=opts.max_seq_len,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=opts.eval_steps,
        save_strategy="steps",
        save_steps=opts.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=evaluate,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=opts.logging_steps,
        report_to="none",
        seed=opts.seed,
        data_seed=opts.seed,
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
        **distributed.trainer_args(opts, hardware),
    )
