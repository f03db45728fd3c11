"""CLI commands of the train stage; registered by name in dsforge.cli."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dsforge.cli_support import ConfigOption, ProgressOption, reported_errors

if TYPE_CHECKING:
    from core.config import DsforgeConfig
    from train.run_card import RunCard

console = Console(stderr=True)


def train_command(
    config: Path = ConfigOption,
    progress: bool = ProgressOption,
    gpus: Annotated[
        int, typer.Option(min=1, help="train on N GPUs (train.distributed: ddp or fsdp); without CUDA, N CPU processes")
    ] = 1,
) -> None:
    """Fine-tune a QLoRA adapter on the train split; stop early on validation loss."""
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        card = run_training(config, cfg, gpus, progress)
    if card is not None:
        print_train(card, cfg.output_dir)


def run_training(config_path: Path, cfg: DsforgeConfig, gpus: int, progress: bool) -> RunCard | None:
    """The train stage in this process, or under a launcher on N GPUs; the card when this process reports."""
    from train import distributed
    from train.recipe import train

    if gpus > 1:
        code = distributed.launch(config_path, gpus, progress)
        if code:
            raise typer.Exit(code=code)
        return None
    card = train(cfg, show_progress=progress)
    if card.status != "complete" or not distributed.is_main():  # the other ranks report nothing
        return None
    return card


def print_train(card: RunCard, output: Path) -> None:
    from core.layout import TrainPaths

    for warning in card.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    table = Table(title=f"train → {TrainPaths(output).root}")
    for column in ("steps", "best val loss", "tokens/s", "seconds", "peak RSS GiB", "peak VRAM GiB"):
        table.add_column(column, justify="right")
    best = f"{card.best_eval_loss:.4f}" if card.best_eval_loss is not None else "–"
    vram = card.peak_memory.peak_vram_allocated_gib
    table.add_row(
        str(card.steps),
        best,
        f"{card.tokens_per_second:.1f}",
        f"{card.train_seconds:.0f}",
        str(card.peak_memory.peak_rss_gib),
        "–" if vram is None else str(vram),
    )
    console.print(table)


def eval_command(
    config: Path = ConfigOption,
    progress: bool = ProgressOption,
    human: bool = typer.Option(
        False, "--human", help="blind pairwise comparison by reviewers in Argilla: push (default), pull, status"
    ),
    action: str | None = typer.Argument(None, metavar="[push|pull|status]", help="with --human"),
    model: Path | None = typer.Option(
        None, "--model", help="evaluate this adapter or merged model folder instead of the trained adapter"
    ),
    cv: int | None = typer.Option(
        None, "--cv", min=2, help="document-grouped K-fold cross-validation: train and evaluate K folds"
    ),
) -> None:
    """Compare the base model and base + adapter on the test split; write the report."""
    if human or action:
        from dsforge.human_commands import human_eval_command

        return human_eval_command(config, action or "push", human, progress)
    from core.config import load_config
    from core.errors import TrainError
    from train import distributed
    from train.evaluate import evaluate

    with reported_errors():
        if distributed.processes() > 1:
            raise TrainError("`dsforge eval` runs as one process; start it without accelerate launch or torchrun.")
        cfg = load_config(config)
        if model is not None:
            cfg.eval = cfg.eval.model_copy(update={"tuned_path": model.expanduser().resolve()})
        if cv is not None:
            from train.crossval import cross_validate

            summary = cross_validate(cfg, cv, show_progress=progress)
            _print_cv(summary)
            return
        result = evaluate(cfg, show_progress=progress)
    print_eval(result, cfg)


def print_eval(result: dict[str, Any], cfg: DsforgeConfig) -> None:
    from train.metrics import metrics
    from train.tuned import eval_paths

    table = Table(title=f"eval → {eval_paths(cfg).report}")
    for column in ("metric", "base", "tuned", "Δ"):
        table.add_column(column, justify="right")
    base, tuned = result["overall"]["base"], result["overall"]["tuned"]
    for key in (metric.name for metric in metrics()):
        if base.get(key) is None:
            continue
        table.add_row(key, f"{base[key]:.3f}", f"{tuned[key]:.3f}", f"{tuned[key] - base[key]:+.3f}")
    console.print(table)
    warning = (result.get("forgetting") or {}).get("warning")
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")


def _print_cv(summary: dict) -> None:
    table = Table(title=f"{summary['k']}-fold cross-validation → {summary['report']}")
    for column in ("metric", "base mean ± std", "tuned mean ± std", "Δ mean ± std"):
        table.add_column(column, justify="right")
    for key, stats in summary["summary"].items():
        table.add_row(key, *(_pm(stats.get(name)) for name in ("base", "tuned", "delta")))
    console.print(table)


def _pm(stats: dict | None) -> str:
    return "–" if not stats else f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def merge_command(
    adapters: list[Path] = typer.Argument(..., help="adapter folders (<output>/train/adapter, or merged ones)"),
    out: Path = typer.Option(..., "--out", "-o", help="folder to write the merged adapter or model to"),
    method: str = typer.Option(
        "linear", "--method", help="linear, svd, cat, ties, dare_linear, dare_ties or magnitude_prune"
    ),
    weights: str | None = typer.Option(None, "--weights", help="comma-separated, one per adapter"),
    density: float | None = typer.Option(None, "--density", help="share kept by ties / dare / magnitude_prune"),
    majority_sign: str = typer.Option("total", "--majority-sign", help="ties: total or frequency"),
    into_base: bool = typer.Option(False, "--into-base", help="fold into the base: write a full model folder"),
    seed: int = typer.Option(42, help="seed of DARE's random drops"),
) -> None:
    """Combine LoRA adapters (peft add_weighted_adapter) and/or merge into the base, with lineage."""
    from pydantic import ValidationError

    from core.errors import ConfigError
    from train.merge import MergeOptions, merge

    with reported_errors():
        try:
            options = MergeOptions(
                combination=method,
                weights=[float(w) for w in weights.split(",")] if weights else None,
                density=density,
                majority_sign_method=majority_sign,
                into_base=into_base,
                seed=seed,
            )
        except (ValidationError, ValueError) as exc:
            raise ConfigError(f"bad merge options: {exc}") from None
        card = merge(adapters, out, options, project_root=Path.cwd())
    table = Table(title=f"merge → {out}")
    for column in ("kind", "method", "inputs", "weights", "density", "fingerprint"):
        table.add_column(column)
    table.add_row(
        card.kind,
        card.options.combination,
        str(len(card.inputs)),
        ", ".join(f"{w:g}" for w in card.weights),
        "–" if card.density is None else f"{card.density:g}",
        card.fingerprint,
    )
    console.print(table)


def export_model_command(
    config: Path = ConfigOption,
    adapter: Path | None = typer.Option(None, "--adapter", help="adapter folder; default: <output>/train/adapter"),
    out: Path | None = typer.Option(None, "--out", "-o", help="folder to write to; default: <output>/model-export"),
    force: bool = typer.Option(False, "--force", help="overwrite an earlier export"),
    merged: str | None = typer.Option(
        None, "--merged", help="f16 or q8_0: fold the adapter into the base and write one GGUF model"
    ),
) -> None:
    """Write the adapter as a GGUF LoRA (llama.cpp, Ollama), with an Ollama Modelfile and a model card."""
    from core.config import load_config
    from train.model_export import export_model

    with reported_errors():
        result = export_model(load_config(config), adapter, out, force, merged)
    print_model_export(result)


def print_model_export(result: Any) -> None:
    console.print(
        f"GGUF: {result.lora} ({result.written['tensors']} tensors, {result.written['architecture']}); "
        f"card: {result.card}" + (f"; Ollama: {result.modelfile}" if result.modelfile else "")
    )
