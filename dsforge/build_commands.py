"""CLI commands `dsforge build` and `dsforge eval-extraction`: the build stage and its score, printed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from dsforge.cli_support import ConfigOption, ProgressOption, reported_errors

if TYPE_CHECKING:
    from builder.pipeline import BuildSummary

console = Console(stderr=True)


def build_command(
    config: Path = ConfigOption,
    progress: bool = ProgressOption,
    engine: str | None = typer.Option(
        None, help="local (one process) or ray (Ray Data); default build.engine"
    ),
) -> None:
    """Ingest, clean, extract and turn grounded items into records."""
    from builder.engines import run_build
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        if engine:
            cfg.build.engine = engine
        summary = run_build(cfg, show_progress=progress)
    print_build(summary)


def print_build(summary: BuildSummary) -> None:
    ext = summary.report["extraction"]
    table = Table(title=f"build → {summary.paths.root}")
    for column in (
        "documents",
        "chunks",
        "LLM calls",
        "cache hits",
        "items",
        "rejects",
        "records",
        "seconds",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(summary.report["documents"]["after_cleaning"]),
        str(ext["chunks"]),
        str(ext["llm_calls"]),
        str(ext["cache_hits"]),
        str(ext["items"]),
        str(sum(ext["rejects"].values())),
        str(summary.report["records"]["kept"]),
        str(summary.report["wall_seconds"]),
    )
    Console().print(table)
    console.print(f"report: {summary.paths.report_md}")


def eval_extraction_command(
    config: Path = ConfigOption,
    gold: Path = typer.Option(..., "--gold", help="labelled documents: annotated JSONL or document labels"),
    out: Path | None = typer.Option(None, help="report folder; default <output>/extraction_eval"),
) -> None:
    """Score the build's items against labelled documents: label and span precision, recall, F1."""
    from builder.extraction_eval import evaluate_extraction
    from core.config import load_config

    with reported_errors():
        summary = evaluate_extraction(load_config(config), gold, out)
    table = Table(title=f"extraction vs {gold.name} ({summary.scores['documents']} documents)")
    for column in ("level", "TP", "FP", "FN", "precision", "recall", "F1"):
        table.add_column(column, justify="right")
    for name, level in summary.scores["levels"].items():
        if name.count(":") > 1:
            continue  # per-value span levels are in report.md
        table.add_row(
            name, str(level["tp"]), str(level["fp"]), str(level["fn"]),
            f"{level['precision']:.3f}", f"{level['recall']:.3f}", f"{level['f1']:.3f}",
        )  # fmt: skip
    Console().print(table)
    console.print(f"report: {summary.paths.md}")
