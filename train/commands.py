"""CLI commands of the train stage; registered by name in builder.cli."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from builder.cli_support import reported_errors

console = Console(stderr=True)


def train_command(
    config: Path = typer.Option(Path("dsforge.yaml"), "--config", "-c", help="project config file"),
    progress: bool = typer.Option(True, help="show progress bars"),
) -> None:
    """Fine-tune a QLoRA adapter on the train split; stop early on validation loss."""
    from builder.config import load_config
    from train.data import TrainPaths
    from train.qlora import train

    with reported_errors():
        cfg = load_config(config)
        card = train(cfg, show_progress=progress)
    if card.status != "complete":  # a non-main DDP rank
        return
    for warning in card.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    table = Table(title=f"train → {TrainPaths(cfg.output_dir).root}")
    for column in ("steps", "best val loss", "tokens/s", "seconds", "peak RSS GiB", "peak VRAM GiB"):
        table.add_column(column, justify="right")
    best = f"{card.best_eval_loss:.4f}" if card.best_eval_loss is not None else "–"
    vram = card.peak_memory.get("peak_vram_allocated_gib")
    table.add_row(
        str(card.steps),
        best,
        f"{card.tokens_per_second:.1f}",
        f"{card.train_seconds:.0f}",
        str(card.peak_memory.get("peak_rss_gib")),
        "–" if vram is None else str(vram),
    )
    console.print(table)


def eval_command(
    config: Path = typer.Option(Path("dsforge.yaml"), "--config", "-c", help="project config file"),
    progress: bool = typer.Option(True, help="show progress bars"),
) -> None:
    """Compare the base model and base + adapter on the test split; write the report."""
    from builder.config import load_config
    from train.data import TrainPaths
    from train.evaluate import evaluate

    with reported_errors():
        cfg = load_config(config)
        result = evaluate(cfg, show_progress=progress)
    table = Table(title=f"eval → {TrainPaths(cfg.output_dir).report}")
    for column in ("metric", "base", "tuned", "Δ"):
        table.add_column(column, justify="right")
    base, tuned = result["overall"]["base"], result["overall"]["tuned"]
    for key in (
        "exact_match",
        "token_f1",
        "rouge_l",
        "bleu",
        "schema_valid",
        "perplexity",
        "probe_perplexity",
    ):
        if base.get(key) is None:
            continue
        table.add_row(key, f"{base[key]:.3f}", f"{tuned[key]:.3f}", f"{tuned[key] - base[key]:+.3f}")
    console.print(table)
    warning = (result.get("forgetting") or {}).get("warning")
    if warning:
        console.print(f"[yellow]warning:[/] {warning}")
