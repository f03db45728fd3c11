"""The export stage: the split files → every format, the dataset card and lineage, and the Hub if asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.card import write_card
from builder.export import ExportResult, export_splits, push_to_hub
from builder.lineage import build_lineage
from builder.schema_loader import load_schema
from builder.split import read_splits
from core.config import DsforgeConfig
from core.layout import SplitPaths


@dataclass
class ExportSummary:
    result: ExportResult
    lineage: dict[str, Any]
    pushed_to: str | None


def run_export(config: DsforgeConfig) -> ExportSummary:
    """Formats first, then lineage and card (they hash the files), then the optional push."""
    splits, manifest = read_splits(SplitPaths(config.output_dir))
    schema = load_schema(config.schema_ref, config.project_root)
    result = export_splits(splits, manifest, config.output_dir, config.export)
    lineage = build_lineage(config.output_dir, splits, manifest, result, config.export, schema)
    write_card(lineage, result.paths, config.export)
    pushed = push_to_hub(result.paths, config.export)
    result.pushed_to = pushed
    return ExportSummary(result, lineage, pushed)
