"""`dsforge eval-extraction`: score a finished build's items against labelled documents."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.extraction_report import write_extraction_report
from builder.extraction_score import score
from builder.gold import read_gold
from builder.schema_loader import load_schema
from core import atomic
from core.config import DsforgeConfig
from core.errors import GoldError
from core.layout import BuildPaths, ExtractionEvalPaths
from schemas.base import closed_values
from schemas.types import Document, GroundedItem


@dataclass
class ExtractionEvalSummary:
    scores: dict[str, Any]
    paths: ExtractionEvalPaths


def evaluate_extraction(
    config: DsforgeConfig, gold_path: Path, out_dir: Path | None = None
) -> ExtractionEvalSummary:
    """Read the build's documents and items, the gold, and write the scores beside the build."""
    build = BuildPaths(config.output_dir)
    if not build.items.is_file() or not build.documents.is_file():
        raise GoldError(f"no finished build in {build.root}; run `dsforge build` first")
    schema = load_schema(config.schema_ref, config.project_root)
    documents = [Document.model_validate(row) for row in atomic.read_jsonl(build.documents)]
    items = [GroundedItem.model_validate(row) for row in atomic.read_jsonl(build.items)]
    dropped = _dropped_sources(build.report_json)
    gold = read_gold(gold_path, schema, documents, dropped)
    scores = score(gold, items, closed_values(schema))
    scores["schema"] = schema.schema_name()
    scores["match_methods"] = _match_methods(items, {doc.doc_id for doc in gold.documents})
    paths = write_extraction_report(scores, ExtractionEvalPaths(out_dir or build.extraction_eval))
    return ExtractionEvalSummary(scores, paths)


def _dropped_sources(report_json: Path) -> frozenset[str]:
    """Sources (and ids) cleaning dropped as duplicates: not counted against recall."""
    if not report_json.is_file():
        return frozenset()
    report = json.loads(report_json.read_text(encoding="utf-8"))
    dropped = report.get("cleaning", {}).get("dropped", [])
    return frozenset(row["source"] for row in dropped) | frozenset(row["doc_id"] for row in dropped)


def _match_methods(items: list[GroundedItem], doc_ids: set[str]) -> dict[str, int]:
    return dict(Counter(item.match for item in items if item.span.doc_id in doc_ids))
