"""A trained LoRA adapter as a GGUF LoRA file that llama.cpp (and so Ollama, and the embedded
xllamacpp) loads on top of the base's own GGUF.

Written with the `gguf` package the way llama.cpp's convert_lora_to_gguf.py writes one:
`general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, and per adapted
weight `<gguf name>.lora_a` (r × in) and `.lora_b` (out × r), the names resolved through
gguf's TensorNameMap for the base's architecture. llama.cpp scales an adapter by
alpha / r, as peft does; an rsLoRA adapter (alpha / √r) gets the alpha that gives the same
scale. Llama-layout bases store q and k rows permuted for llama.cpp's RoPE, so their B
matrices are permuted the same way. DoRA and non-LoRA adapters have no GGUF LoRA form and
are refused: merge them into the base first.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import atomic
from core.errors import TrainError

# transformers model_type → llama.cpp architecture, for the bases whose tensors convert 1:1
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}
PERMUTED_Q_K = {"llama", "mistral"}  # convert_hf_to_gguf permutes q/k rows for these
Q_K_WEIGHTS = ("self_attn.q_proj.weight", "self_attn.k_proj.weight")


def export_lora_gguf(
    adapter: Path, base_config: dict[str, Any], target: Path, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    """Write `adapter` (a peft LoRA folder) to `target` as a GGUF LoRA; returns what was written.

    `base_config`: the base's transformers config.json. `metadata`: extra `dsforge.*` string keys
    (lineage) stored in the file.
    """
    import gguf
    import numpy as np

    config = _lora_config(adapter)
    model_type = str(base_config.get("model_type"))
    arch = ARCHITECTURES.get(model_type)
    if arch is None:
        raise TrainError(
            f"GGUF LoRA export knows the architectures {sorted(ARCHITECTURES)}; this base is {model_type!r}. "
            "Merge the adapter into the base (train.merge) and convert the merged model instead."
        )
    heads = int(base_config["num_attention_heads"])
    layout = GgufLayout.of(arch, int(base_config["num_hidden_layers"]), heads,
                           int(base_config.get("num_key_value_heads") or heads))  # fmt: skip
    pairs = _lora_pairs(adapter)

    rank = int(config["r"])
    alpha = float(config["lora_alpha"]) * (math.sqrt(rank) if config.get("use_rslora") else 1.0)
    tensors = []
    for module, (a, b) in sorted(pairs.items()):
        gguf_name, b = layout.place(module + ".weight", b, str(adapter))  # B's rows are the weight's rows
        tensors.append((gguf_name.removesuffix(".weight"), a, b))

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(tmp, arch)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_name(adapter.name)
        for key, value in (metadata or {}).items():
            writer.add_string(key, value)
        for name, a, b in tensors:
            writer.add_tensor(f"{name}.weight.lora_a", np.ascontiguousarray(a, dtype=np.float32))
            writer.add_tensor(f"{name}.weight.lora_b", np.ascontiguousarray(b, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    atomic.write_file(target, write)
    return {"path": str(target), "architecture": arch, "tensors": len(tensors), "rank": rank, "alpha": alpha}


def _lora_config(adapter: Path) -> dict[str, Any]:
    path = adapter / "adapter_config.json"
    if not path.is_file():
        raise TrainError(f"{adapter} is not a peft adapter folder (no adapter_config.json).")
    config = json.loads(path.read_text("utf-8"))
    kind = config.get("peft_type")
    if kind != "LORA":
        raise TrainError(
            f"{adapter} is a {kind} adapter; GGUF adapters are LoRA only. Merge it into the base first "
            "(train.merge), where the method allows."
        )
    if config.get("use_dora"):
        raise TrainError(
            f"{adapter} is a DoRA adapter, which GGUF LoRA cannot express; merge it into the base first."
        )
    if config.get("modules_to_save"):
        raise TrainError(
            f"{adapter} also trains whole modules {config['modules_to_save']}; merge it into the base first."
        )
    return config


def _lora_pairs(adapter: Path) -> dict[str, tuple[Any, Any]]:
    """module (the base's own name) → (A, B) as float32 numpy arrays."""
    from safetensors.torch import load_file

    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise TrainError(f"{adapter} has no adapter_model.safetensors.")
    pairs: dict[str, dict[str, Any]] = {}
    for name, tensor in load_file(str(weights)).items():
        if ".lora_A." not in name and ".lora_B." not in name:
            raise TrainError(
                f"{adapter}: unexpected tensor {name!r} (not a LoRA factor); merge it into the base first."
            )
        module = name.replace("base_model.model.", "", 1).split(".lora_")[0]
        pairs.setdefault(module, {})["A" if ".lora_A." in name else "B"] = tensor.float().numpy()
    return {module: (ab["A"], ab["B"]) for module, ab in pairs.items()}


@dataclass(frozen=True)
class GgufLayout:
    """Where a base's HF weights go in llama.cpp's GGUF for its architecture, and how their rows lie."""

    arch: str
    names: Any  # gguf's TensorNameMap for the architecture and layer count
    heads: int
    kv_heads: int

    @classmethod
    def of(cls, arch: str, n_layers: int, heads: int, kv_heads: int) -> GgufLayout:
        import gguf

        return cls(arch, gguf.get_tensor_name_map(gguf_arch(arch), n_layers), heads, kv_heads)

    def place(self, hf_name: str, rows: Any, what: str) -> tuple[str, Any]:
        """(GGUF name, `rows` as llama.cpp stores them) for the HF tensor `hf_name`; `what` names the export."""
        gguf_name = self.names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise TrainError(f"{what}: gguf has no name for {hf_name!r} in a {self.arch} model; cannot export it.")
        if self.arch in PERMUTED_Q_K and hf_name.endswith(Q_K_WEIGHTS):
            rows = permute_rows(rows, self.heads if hf_name.endswith("q_proj.weight") else self.kv_heads)
        return gguf_name, rows


def permute_rows(weight: Any, n_head: int) -> Any:
    """convert_hf_to_gguf's q/k permutation (rotary halves interleaved), applied to a matrix's rows."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def gguf_arch(name: str) -> Any:
    """gguf's MODEL_ARCH for llama.cpp's architecture name (`llama`, `qwen2`)."""
    import gguf

    return next(arch for arch, arch_name in gguf.MODEL_ARCH_NAMES.items() if arch_name == name)
