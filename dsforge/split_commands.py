"""CLI commands `dsforge split` and `dsforge export`: the split and export stages, printed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from dsforge.cli_support import ConfigOption, reported_errors

if TYPE_CHECKING:  # the stages import datasets and scikit-learn: loaded when a command runs
    from builder.export_stage import ExportSummary
    from builder.split import SplitSummary
    from schemas.types import SplitManifest

console = Console(stderr=True)


def split_command(config: Path = ConfigOption) -> None:
    """Split reviewed records into train/validation/test by document, stratified, leakage-checked."""
    from builder.split import run_split
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        with console.status("splitting and checking for leakage"):
            summary = run_split(cfg)
    print_split(summary)


def export_command(config: Path = ConfigOption) -> None:
    """Write the splits as an HF DatasetDict, Alpaca, ChatML and ShareGPT, with a dataset card and lineage."""
    from builder.export_stage import run_export
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        with console.status("exporting"):
            summary = run_export(cfg)
    print_export(summary)


def print_split(summary: SplitSummary) -> None:
    manifest = summary.manifest
    Console().print(split_table(manifest))
    console.print(
        f"leakage pairs before repair {manifest.leakage['before']}, after {manifest.leakage['after']}"
    )
    for note in manifest.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"splits: {summary.paths.root}")


def print_export(summary: ExportSummary) -> None:
    result = summary.result
    console.print(f"exported {result.sizes} to {result.paths.root}; card: {result.paths.card}")
    for message in result.messages:
        console.print(message)
    if summary.pushed_to:
        console.print(f"pushed to https://huggingface.co/datasets/{summary.pushed_to}")


def split_table(manifest: SplitManifest) -> Table:
    strata = sorted({s for counts in manifest.strata.values() for s in counts})
    total = sum(len(ids) for ids in manifest.splits.values()) or 1
    table = Table(title=f"splits (seed {manifest.seed}, stratified on {manifest.stratify_by})")
    for column in ("split", "target", "records", "share", *strata):
        table.add_column(column, justify="right")
    for name, ids in manifest.splits.items():
        counts = manifest.strata.get(name, {})
        table.add_row(
            name,
            f"{manifest.ratios.get(name, 0):g}",
            str(len(ids)),
            f"{len(ids) / total:.3f}",
            *[str(counts.get(s, 0)) for s in strata],
        )
    return table
