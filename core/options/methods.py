"""The fine-tuning methods `train.method` names: one row each, asked by every module that cares.

The options validator (names, default learning rate, what a method refuses), the
trainer (4-bit base, the fast LoRA paths, its peft config), the run card and the
report (how the method's settings read) all look a method up here, so a new
method is one `register_method` call, or one `dsforge.train_methods` entry
point. The table is a core.registry.Registry, like every other table found by
name. A row names its peft-config builder as a `"module:function"` string,
imported only when training: the options stay free of peft and of the `train`
package.

- qlora / lora: low-rank updates on the linear layers, over a 4-bit / full-precision base.
- dora: LoRA with the weight split into magnitude and direction (Liu et al. 2024).
- ia3: learned vectors rescaling keys, values and the MLP's down projection (Liu et al. 2022).
- prefix: trained key/value vectors prepended in every layer (Li & Liang 2021).
- prompt: trained input embeddings prepended to the prompt (Lester et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError
from core.registry import Registry

LORA_LINE = "{method} r={hp.lora_r} alpha={hp.lora_alpha} dropout={hp.lora_dropout} targets={hp.target_modules}"
VIRTUAL_TOKENS_LINE = "{method} tuning, {hp.num_virtual_tokens} virtual tokens"


@dataclass(frozen=True)
class TrainingMethod:
    """What dsforge must know of one method; the defaults are a full-precision, mergeable method."""

    name: str
    learning_rate: float  # when train.learning_rate is not set: fewer trained parameters want larger steps
    peft_config: str  # "module:function(opts, model, base_path) -> peft config"
    card_line: str  # the run card's method line, formatted with `method` and the hyperparameters `hp`
    loads_4bit: bool = False  # the frozen base is loaded in 4-bit NF4 (train.mode's qlora)
    lora_family: bool = False  # rank, alpha, dropout and target_modules apply; reports show the rank
    fused_lora: bool = False  # train/fused_lora.py's layer computes it (plain LoRA; DoRA keeps peft's)
    auto_compile: bool = False  # compile_layers `auto` may compile it (measured on LoRA and QLoRA only)
    unmergeable_because: str | None = None  # why it cannot be folded into the base; None: it can
    checkpointing_conflict: str | None = None  # why gradient checkpointing breaks it; None: it does not

    @property
    def mergeable(self) -> bool:
        return self.unmergeable_because is None


_LORA = "train.methods:lora_config"
_VIRTUAL = "adds virtual tokens, not weights"

# Registration order is the order the names are listed in. An installed package adds a row with a
# `dsforge.plugins` module calling register_method, or a `dsforge.train_methods` entry point
# `name = "module:attr"` naming a TrainingMethod whose `name` is the entry point's.
METHODS: Registry[TrainingMethod] = Registry("train.method", group="dsforge.train_methods")


def register_method(method: TrainingMethod) -> TrainingMethod:
    """Add a row (or replace the row of that name, in place)."""
    METHODS.register(method.name, method)
    return method


def unregister_method(name: str) -> None:
    METHODS.unregister(name)


def find_method(name: str | None) -> TrainingMethod | None:
    """The row of `name`, or None for a name no table row has (a merge's `mode`, a removed method)."""
    return training_method(name) if name is not None and name in METHODS else None


def training_method(name: str) -> TrainingMethod:
    """The row of `name`; an unknown name is refused with the registry's list of known methods."""
    method = METHODS.get(name)
    if not isinstance(method, TrainingMethod) or method.name != name:
        raise ConfigError(
            f"train.method {name!r}: its entry point must name a TrainingMethod whose name is {name!r}, "
            f"not {method!r}."
        )
    return method


def method_names() -> list[str]:
    return METHODS.names()


# The vector and virtual-token methods train far fewer parameters and need larger steps
# (peft's examples, the IA³ paper's 3e-3).
for _row in (
    TrainingMethod("qlora", 2e-4, _LORA, LORA_LINE, loads_4bit=True, lora_family=True, fused_lora=True,
                   auto_compile=True),
    TrainingMethod("lora", 2e-4, _LORA, LORA_LINE, lora_family=True, fused_lora=True, auto_compile=True),
    TrainingMethod("dora", 2e-4, "train.methods:dora_config", LORA_LINE, lora_family=True),
    TrainingMethod("ia3", 3e-3, "train.methods:ia3_config",
                   "ia3 targets={hp.target_modules} (all-linear: peft's per-architecture layers)"),
    TrainingMethod("prefix", 1e-2, "train.methods:prefix_config", VIRTUAL_TOKENS_LINE,
                   unmergeable_because=_VIRTUAL, checkpointing_conflict="the checkpointed layers drop the prefix"),
    TrainingMethod("prompt", 3e-2, "train.methods:prompt_config",
                   "prompt tuning, {hp.num_virtual_tokens} virtual tokens from {hp.prompt_init_text!r}",
                   unmergeable_because=_VIRTUAL),
):  # fmt: skip
    register_method(_row)
