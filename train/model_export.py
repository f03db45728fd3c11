"""`dsforge export-model`: the trained adapter as a file llama.cpp, Ollama and the embedded
provider run, offline, with its lineage inside.

The adapter becomes a GGUF LoRA (train/gguf_lora.py) that loads on top of the base's GGUF,
or, with `merged`, is folded into the base and written as one F16 / Q8_0 GGUF carrying the base
GGUF's tokenizer and template (train/gguf_model.py). For a catalogued base that GGUF is the
packaged one, so an Ollama `Modelfile` (FROM the base and ADAPTER the LoRA, or FROM the merged
file; the chat template and stop token of a ChatML base) is written beside it. Nothing is
overwritten without `force`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import atomic
from core.config import DsforgeConfig
from core.errors import ExportError, TrainError
from core.layout import TrainPaths, run_card_beside
from train.base_models import resolve_base_model
from train.gguf_lora import export_lora_gguf
from train.gguf_model import TYPES as MERGED_TYPES
from train.gguf_model import export_merged_gguf

FOLDER = "model-export"
# Ollama's Go template for ChatML, the format of the catalogued bases' chat templates
CHATML_TEMPLATE = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n"
)


@dataclass(frozen=True)
class ModelExport:
    lora: Path
    modelfile: Path | None
    card: Path
    written: dict[str, Any]


def export_model(
    config: DsforgeConfig,
    adapter: Path | None = None,
    out: Path | None = None,
    force: bool = False,
    merged: str | None = None,
) -> ModelExport:
    """Write `<out>/<adapter name>-lora.gguf`, its model card and (catalogued base) an Ollama Modelfile.

    `merged` (f16 or q8_0): write the base with the adapter folded in as one GGUF instead.
    """
    if merged is not None and merged not in MERGED_TYPES:
        raise TrainError(f"merged GGUF types are {sorted(MERGED_TYPES)}, not {merged!r}.")
    adapter = adapter or TrainPaths(config.output_dir).adapter
    if not (adapter / "adapter_config.json").is_file():
        raise TrainError(f"no trained adapter at {adapter}; run `dsforge train` first or pass --adapter.")
    folder = out or config.output_dir / FOLDER
    name = adapter.parent.name if adapter.name == "adapter" else adapter.name  # train, train-dpo, …
    lora = folder / (f"{name}-merged-{merged}.gguf" if merged else f"{name}-lora.gguf")
    if lora.exists() and not force:
        raise ExportError(f"{lora} exists; pass --force to overwrite it.")

    run = _run_card(adapter)
    base_ref = (run.get("base_model") or {}).get("ref") or config.train.base_model
    base = resolve_base_model(base_ref, config.project_root)
    base_config = json.loads((base.path / "config.json").read_text("utf-8"))
    lineage = {
        "dsforge.base_model": base_ref,
        "dsforge.run_fingerprint": run.get("fingerprint", ""),
        "dsforge.dataset_fingerprint": (run.get("dataset") or {}).get("fingerprint", ""),
    }
    metadata = {k: v for k, v in lineage.items() if v}
    base_gguf = _packaged_gguf(base_ref)
    if merged:
        if base_gguf is None:
            raise TrainError(
                f"a merged GGUF takes its tokenizer from the base's own GGUF; {base_ref!r} is not a catalogued "
                "base with one. Export the LoRA (without --merged) and apply it to your converted base."
            )
        written = export_merged_gguf(_merged_tensors(base.path, adapter), base_gguf, lora, merged, metadata)
    else:
        written = export_lora_gguf(adapter, base_config, lora, metadata)
    modelfile = folder / "Modelfile" if base_gguf else None
    if modelfile is not None and base_gguf is not None:
        atomic.write_text(modelfile, _modelfile(base_gguf, lora, base.path, merged=bool(merged)))
    card = folder / "MODEL_CARD.md"
    atomic.write_text(card, _card(lora, base_ref, base_gguf, lineage, written, modelfile))
    return ModelExport(lora, modelfile, card, written)


def _merged_tensors(base_folder: Path, adapter: Path) -> dict[str, Any]:
    """The base with the adapter folded in (peft's merge), as float32 arrays by HF name."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        base_folder, dtype=torch.float32, local_files_only=True, trust_remote_code=False
    )
    try:
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (ValueError, AttributeError, NotImplementedError) as exc:
        raise TrainError(
            f"{adapter} cannot be folded into the base ({exc}); export it as a LoRA instead."
        ) from exc
    return {name: tensor.float().numpy() for name, tensor in merged.state_dict().items()}


def _run_card(adapter: Path) -> dict[str, Any]:
    path = run_card_beside(adapter)
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def _packaged_gguf(base_ref: str) -> Path | None:
    """The catalogued base's own GGUF (the file the LoRA goes on), or None for a local HF folder."""
    from builder import model_store

    if base_ref not in model_store.CATALOGUE:
        return None
    return model_store.resolve_gguf(base_ref)


def _modelfile(base_gguf: Path, exported: Path, base_folder: Path, merged: bool = False) -> str:
    lines = [f"FROM ./{exported.name}"] if merged else [f"FROM {base_gguf}", f"ADAPTER ./{exported.name}"]
    template = _chat_template(base_folder)
    if template and "<|im_start|>" in template:
        lines += [f'TEMPLATE """{CHATML_TEMPLATE}"""', 'PARAMETER stop "<|im_end|>"']
    lines.append("PARAMETER temperature 0")
    return "\n".join(lines) + "\n"


def _chat_template(base_folder: Path) -> str | None:
    path = base_folder / "tokenizer_config.json"
    template = json.loads(path.read_text("utf-8")).get("chat_template") if path.is_file() else None
    jinja = base_folder / "chat_template.jinja"
    return template or (jinja.read_text("utf-8") if jinja.is_file() else None)


def _card(
    lora: Path,
    base_ref: str,
    base_gguf: Path | None,
    lineage: dict[str, str],
    written: dict[str, Any],
    modelfile: Path | None,
) -> str:
    base_line = (
        f"`{base_gguf}` (packaged)" if base_gguf else f"`{base_ref}` — convert it to GGUF to run the adapter"
    )
    if "type" in written:  # a merged model
        what = (f"The base with the adapter folded in, one {written['type']} GGUF ({written['tensors']} tensors, "
                f"{written['architecture']}; tokenizer and chat template from {base_line}).")  # fmt: skip
        run = f"llama-cli -m {lora.name}"
    else:
        what = (f"A LoRA adapter (rank {written['rank']}, alpha {written['alpha']:g}, {written['tensors']} "
                f"tensors, {written['architecture']} layout) in GGUF, for the base {base_line}.")  # fmt: skip
        run = f"llama-cli -m {base_gguf or '<base>.gguf'} --lora {lora.name}"
    lines = [
        f"# {lora.stem}",
        "",
        what,
        "",
        "| lineage | |",
        "|---|---|",
        *[f"| {key} | `{value}` |" for key, value in lineage.items() if value],
        "",
        "Run it:",
        "",
        "```bash",
        run,
        *([f"ollama create {lora.stem} -f {modelfile.name}"] if modelfile else []),
        "```",
        "",
        "The same keys are stored in the file's metadata (`dsforge.*`).",
    ]
    return "\n".join(lines) + "\n"
