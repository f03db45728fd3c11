"""The run card: what was trained, on what, with what, and what it cost.

`run.json` is for machines (eval and reruns read it), `RUN_CARD.md` for people,
`loss.png` for a glance at whether training converged or overfit.
"""

from __future__ import annotations

import importlib.metadata as metadata
import platform
import resource
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core import atomic
from core.options.methods import LORA_LINE, VIRTUAL_TOKENS_LINE, find_method
from train.card_sections import (
    Artifacts,
    BaseModelRecord,
    DatasetRecord,
    HardwareRecord,
    Hyperparameters,
    MemoryPolicy,
    PeakMemory,
    Replay,
)

PACKAGES = (
    "dsforge",
    "torch",
    "transformers",
    "peft",
    "trl",
    "bitsandbytes",
    "accelerate",
    "datasets",
    "gguf",
)


class RunCard(BaseModel):
    """One training run, complete enough to reproduce and to judge it."""

    status: str = Field(description="'complete' once the adapter is written")
    fingerprint: str = Field(description="content id of options + data + base weights")
    base_model: BaseModelRecord
    dataset: DatasetRecord = Field(description="fingerprint, split sizes and lineage.json (or None)")
    hyperparameters: Hyperparameters
    memory_policy: MemoryPolicy
    versions: dict[str, str] = Field(description="python and each package's version")
    hardware: HardwareRecord
    started_at: str
    finished_at: str
    train_seconds: float
    train_tokens: int
    tokens_per_second: float
    peak_memory: PeakMemory
    steps: int
    stopped_early: bool
    best_checkpoint: str | None
    best_eval_loss: float | None
    final_train_loss: float | None
    warnings: list[str] = Field(default_factory=list)
    # objective dpo: start, beta, held-out accuracy and margin; absent from SFT cards (old cards round-trip)
    preference: dict[str, Any] | None = Field(None, exclude_if=lambda value: value is None)
    artifacts: Artifacts = Field(default_factory=Artifacts)
    log_history: list[dict[str, Any]] = Field(default_factory=list)


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hardware_info(device: str) -> dict[str, Any]:
    import os

    import torch

    info: dict[str, Any] = {
        "device": device,
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if device == "cuda":
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    return info


def peak_memory(device: str) -> dict[str, float | None]:
    """Peak RSS of this process (whole life, model load included) and, on CUDA, peak VRAM."""
    import torch

    # ru_maxrss is in KiB on Linux.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result: dict[str, float | None] = {"peak_rss_gib": round(rss, 3), "peak_vram_allocated_gib": None}
    if device == "cuda":
        result["peak_vram_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        result["peak_vram_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 3)
    return result


def read_run_card(path: Path) -> RunCard | None:
    if not path.is_file():
        return None
    return RunCard.model_validate_json(path.read_text("utf-8"))


def write_run_card(card: RunCard, json_path: Path, md_path: Path) -> None:
    atomic.write_text(json_path, card.model_dump_json(indent=2) + "\n")
    atomic.write_text(md_path, render_markdown(card))


def render_markdown(card: RunCard) -> str:
    hp = card.hyperparameters
    lineage = card.dataset.lineage
    lines = [
        "# Run card",
        "",
        f"- status: **{card.status}**, {card.steps} optimiser steps"
        + (", stopped early on validation loss" if card.stopped_early else ""),
        f"- base model: `{card.base_model.ref}` ({card.base_model.path})",
        f"- dataset: `{card.dataset.fingerprint}`, sizes {card.dataset.sizes}",
        f"- lineage: {'recorded below' if lineage else 'absent (no export/lineage.json)'}",
        f"- method: {_method(hp)}",
        f"- replay: {_replay(card.dataset.replay)}",
        *([f"- KL to base: {hp.kl_to_base:g} × KL(base ‖ tuned) on one general sequence a step"]
          if hp.kl_to_base else []),  # fmt: skip
        f"- optimiser: {hp.optimizer}, lr {hp.learning_rate} ({hp.lr_scheduler}), "
        f"batch {hp.batch_size} × accumulation {hp.gradient_accumulation_steps}",
        f"- best validation loss: {_num(card.best_eval_loss)} ({card.best_checkpoint or 'n/a'}); "
        f"last training loss {_num(card.final_train_loss)}",
        f"- time: {card.train_seconds:.1f} s training, {card.train_tokens} tokens, "
        f"{card.tokens_per_second:.1f} tokens/s",
        f"- peak memory: {card.peak_memory.model_dump()}",
        f"- hardware: {card.hardware.model_dump()}",
        f"- started {card.started_at}, finished {card.finished_at}",
        *([_preference_line(card.preference)] if card.preference else []),
        *([f"- tracked in: {', '.join(f'{k} `{v}`' for k, v in card.artifacts.tracking.items())}"]
          if card.artifacts.tracking else []),  # fmt: skip
        "",
        "![loss curves](loss.png)",
        "",
        "## Memory policy",
        "",
        *[f"- {k}: {v}" for k, v in card.memory_policy.items()],
        "",
        "## Hyper-parameters",
        "",
        *[f"- {k}: {v}" for k, v in hp.items()],
        "",
        "## Versions",
        "",
        *[f"- {k}: {v}" for k, v in card.versions.items()],
    ]
    if card.warnings:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in card.warnings]]
    if lineage:
        import json

        lines += ["", "## Dataset lineage", "", "```json", json.dumps(lineage, indent=2)[:20000], "```"]
    lines += ["", "## Base model provenance", "", "```json", _json(card.base_model.model_dump(mode="json")), "```", ""]
    return "\n".join(lines)


def plot_losses(log_history: list[dict[str, Any]], path: Path) -> bool:
    """Training and validation loss against optimiser steps; False when nothing was logged."""
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e]
    if not train and not evals:
        return False
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", marker=".")
    if evals:
        ax.plot(*zip(*evals, strict=True), label="validation loss", marker="o")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (completion tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic.write_bytes(path, buffer.getvalue())
    return True


def _method(hp: Hyperparameters) -> str:
    """The method and its own settings, as its table row words them (cards before `method` have `mode`)."""
    name = hp.method or hp.mode
    method = find_method(name)
    line = method.card_line if method else VIRTUAL_TOKENS_LINE if name else LORA_LINE
    return line.format(method=name, hp=hp)


def _replay(replay: Replay | None) -> str:
    if not replay or not replay.records:
        return "off"
    return (
        f"{replay.records} general records ({replay.share or 0:.1%} of the training mixture, "
        f"ratio {replay.ratio}) from {replay.file} sha256 {str(replay.sha256 or '')[:12]}"
        + (", the set repeated" if replay.repeated else "")
    )


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, default=str)


def _preference_line(preference: dict[str, Any]) -> str:
    held = preference.get("held_out")
    measured = (
        f"held-out pairs: {held['pairs']}, the reviewer's answer preferred in {_num(held['accuracy'])} "
        f"of them, reward margin {_num(held['margin'])}"
        if held
        else "no held-out pairs"
    )
    return (
        f"- objective: {preference['objective']} (β {preference['beta']}, from {preference['started_from']}); "
        + measured
    )
