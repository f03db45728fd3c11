"""`train.target_modules` by role, resolved against the layers the base's architecture really has.

Architectures name their linear layers differently: Llama, Mistral, Qwen2 and Gemma have
`q_proj, k_proj, v_proj, o_proj` and `gate_proj, up_proj, down_proj`; Phi-3 fuses them into
`qkv_proj` and `gate_up_proj`. A role (`attention`, `mlp`, `all-linear`) names the same layers
on every architecture; a list of names is checked against this model's names *before* any
weight is read, so a typo or another architecture's name fails in a second with the names
to use, instead of peft's "Target modules not found" after the load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from core.errors import ConfigError

ROLES = ("all-linear", "attention", "mlp")
# Where each role's layers live: the submodule path components of decoder layers.
_ROLE_PARENTS = {
    "attention": re.compile(r"(^|_)(attn|attention)$"),
    "mlp": re.compile(r"^(mlp|feed_forward|ffn)$"),
}
_OUTPUT_HEADS = {"lm_head", "embed_out", "output"}


def linear_layers(model: Any) -> dict[str, list[str]]:
    """Leaf names of the model's linear layers by role; `all-linear` is peft's: every one but the output head."""
    import torch

    roles: dict[str, set[str]] = {role: set() for role in ROLES}
    for path, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):  # bitsandbytes' 4-bit layers subclass it too
            continue
        parts = path.split(".")
        if parts[-1] in _OUTPUT_HEADS:
            continue
        roles["all-linear"].add(parts[-1])
        for role, parent in _ROLE_PARENTS.items():
            if any(parent.search(part) for part in parts[:-1]):
                roles[role].add(parts[-1])
    return {role: sorted(names) for role, names in roles.items()}


def resolve(target: list[str] | str, model: Any) -> list[str] | str:
    """What peft is given: `all-linear` as is (peft resolves it), a role as this model's layer names,
    a list as is once every name is one of this model's linear layers."""
    if target == "all-linear":
        return target
    layers = linear_layers(model)
    if isinstance(target, str):
        if target not in layers:
            raise ConfigError(
                f"train.target_modules {target!r} is neither a role ({', '.join(ROLES)}) nor a list"
            )
        if not layers[target]:
            raise ConfigError(_unknown_message(f"role {target!r} matches no layer", model, layers))
        return layers[target]
    unknown = [name for name in target if name not in layers["all-linear"]]
    if unknown:
        raise ConfigError(_unknown_message(f"names {', '.join(unknown)}, which", model, layers, missing=True))
    return list(target)


def check_before_loading(target: list[str] | str, config: Any) -> list[str] | str:
    """Resolve `target` on the base's architecture (its transformers `config`) built on the meta
    device: no weight is read."""
    if target == "all-linear":
        return target
    return resolve(target, skeleton(config))


def skeleton(config: Any) -> Any:
    """The module tree of the architecture `config` describes, with no storage behind it (seconds even for a 70B)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, trust_remote_code=False)


def _unknown_message(what: str, model: Any, layers: dict[str, list[str]], missing: bool = False) -> str:
    arch = getattr(getattr(model, "config", None), "model_type", "this")
    verb = " the " + arch + " architecture does not have" if missing else f" on {arch}"
    return (
        f"train.target_modules {what}{verb}. Its linear layers: {_names(layers['all-linear'])}; "
        f"by role: attention = {_names(layers['attention'])}, mlp = {_names(layers['mlp'])}. "
        "Name some of these, or a role (attention, mlp, all-linear) that fits every architecture."
    )


def _names(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"
