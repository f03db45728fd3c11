"""CLI commands `dsforge split` and `dsforge export`: thin wrappers over builder.split and builder.export."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dsforge.cli_support import reported_errors
from schemas.types import SplitManifest

console = Console(stderr=True)


def split_command(
    config: Path = typer.Option(Path("dsforge.yaml"), "--config", "-c", help="project config file"),
) -> None:
    """Split reviewed records into train/validation/test by document, stratified, leakage-checked."""
    from builder.schema_loader import load_schema
    from builder.split import SplitPaths, read_approved, resolve_stratify_by, split_records, write_splits
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        paths = SplitPaths(cfg.output_dir)
        records = read_approved(paths.approved)
        schema = load_schema(cfg.schema_ref, cfg.project_root)
        field = resolve_stratify_by(cfg.split, schema.stratify_by, records[0] if records else None)
        with console.status("splitting and checking for leakage"):
            splits, manifest = split_records(records, cfg.split, field)
        write_splits(splits, manifest, paths)
    Console().print(split_table(manifest))
    console.print(
        f"leakage pairs before repair {manifest.leakage['before']}, after {manifest.leakage['after']}"
    )
    for note in manifest.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"splits: {paths.root}")


def export_command(
    config: Path = typer.Option(Path("dsforge.yaml"), "--config", "-c", help="project config file"),
) -> None:
    """Write the splits as an HF DatasetDict, Alpaca, ChatML and ShareGPT, with a dataset card and lineage."""
    from builder.card import write_card
    from builder.export import export_splits, push_to_hub
    from builder.lineage import build_lineage
    from builder.schema_loader import load_schema
    from builder.split import SplitPaths, read_splits
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        splits, manifest = read_splits(SplitPaths(cfg.output_dir))
        schema = load_schema(cfg.schema_ref, cfg.project_root)
        with console.status("exporting"):
            result = export_splits(splits, manifest, cfg.output_dir, cfg.export)
            lineage = build_lineage(cfg.output_dir, splits, manifest, result, cfg.export, schema)
            write_card(lineage, result.paths, cfg.export)
        pushed = push_to_hub(result.paths, cfg.export)
    console.print(f"exported {result.sizes} to {result.paths.root}; card: {result.paths.card}")
    if pushed:
        console.print(f"pushed to https://huggingface.co/datasets/{pushed}")


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


