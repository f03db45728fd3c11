"""Each `train.method`'s peft config, built from peft's own config class.

The method table (core/options/methods.py) names one of these builders per row;
everything else (data, trainer, checkpoints, run card) is the same for every method.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.registry import load_target
from train.target_modules import resolve

if TYPE_CHECKING:
    from core.options.train import TrainOptions


def lora_config(opts: TrainOptions, model: Any, base_path: Path, use_dora: bool = False) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=opts.lora_r,
        lora_alpha=opts.lora_alpha,
        lora_dropout=opts.lora_dropout,
        target_modules=resolve(opts.target_modules, model),
        use_dora=use_dora,
        bias="none",
        task_type="CAUSAL_LM",
    )


def dora_config(opts: TrainOptions, model: Any, base_path: Path) -> Any:
    return lora_config(opts, model, base_path, use_dora=True)


def ia3_config(opts: TrainOptions, model: Any, base_path: Path) -> Any:
    """peft's per-architecture choice (k, v and down_proj on Llama) unless target_modules names layers."""
    from peft import IA3Config
    from peft.utils.constants import (
        TRANSFORMERS_MODELS_TO_IA3_FEEDFORWARD_MODULES_MAPPING as FEEDFORWARD,
    )
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as TARGETS

    from core.errors import ConfigError

    if opts.target_modules != "all-linear":
        targets = list(resolve(opts.target_modules, model))
        feedforward = [m for m in targets if m in {"down_proj", "fc2", "w2", "c_proj"}]
    else:
        model_type = model.config.model_type
        if model_type not in TARGETS:
            raise ConfigError(
                f"peft has no default IA³ layers for the {model_type!r} architecture; set "
                "train.target_modules to the attention and MLP output layers to rescale "
                "(e.g. [k_proj, v_proj, down_proj])."
            )
        targets, feedforward = list(TARGETS[model_type]), list(FEEDFORWARD[model_type])
    return IA3Config(target_modules=targets, feedforward_modules=feedforward, task_type="CAUSAL_LM")


def prefix_config(opts: TrainOptions, model: Any, base_path: Path) -> Any:
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(num_virtual_tokens=opts.num_virtual_tokens, task_type="CAUSAL_LM")


def prompt_config(opts: TrainOptions, model: Any, base_path: Path) -> Any:
    """Start from the embeddings of `prompt_init_text`: converges faster than random vectors."""
    from peft import PromptTuningConfig, PromptTuningInit

    return PromptTuningConfig(
        num_virtual_tokens=opts.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.TEXT,
        prompt_tuning_init_text=opts.prompt_init_text,
        tokenizer_name_or_path=str(base_path),
        tokenizer_kwargs={"local_files_only": True},
        task_type="CAUSAL_LM",
    )


def peft_config(opts: TrainOptions, model: Any, base_path: Path) -> Any:
    """The peft config of the run's method, by the builder its table row names."""
    return load_target(opts.training_method.peft_config)(opts, model, base_path)


def unpadded_batches(model: Any) -> bool:
    """Prompt tuning drops position ids, so left padding would shift the positions of a batch's
    shorter prompts: such an adapter is evaluated one sequence at a time."""
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.peft_type.value == "PROMPT_TUNING")
