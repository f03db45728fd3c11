"""What review reads from a build: records, the documents they cite, the items they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.schema_loader import load_schema
from core import atomic
from core.config import DsforgeConfig
from core.errors import ReviewError
from core.layout import BuildPaths, ReviewPaths
from schemas.base import ExtractionSchema
from schemas.types import Document, GroundedItem, Record


@dataclass
class ReviewInputs:
    schema: type[ExtractionSchema]
    records: list[Record]
    documents: dict[str, Document]
    items: dict[str, GroundedItem]
    paths: ReviewPaths
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id → the judge's verdict


def load_inputs(config: DsforgeConfig) -> ReviewInputs:
    build = BuildPaths(config.output_dir)
    records_path = build.records
    if not records_path.is_file():
        raise ReviewError(f"no records at {records_path}; run `dsforge build` first.")
    records = [Record.model_validate(row) for row in atomic.read_jsonl(records_path)]
    documents_path, items_path = build.documents, build.items
    documents = (
        {row["id"]: Document.model_validate(row) for row in atomic.read_jsonl(documents_path)}
        if documents_path.is_file()
        else {}
    )
    items = (
        {row["id"]: GroundedItem.model_validate(row) for row in atomic.read_jsonl(items_path)}
        if items_path.is_file()
        else {}
    )
    verdicts = (
        {row["item_id"]: row for row in atomic.read_jsonl(build.judge_verdicts) if row["status"] == "judged"}
        if build.judge_verdicts.is_file()
        else {}
    )
    schema = load_schema(config.schema_ref, config.project_root)
    return ReviewInputs(schema, records, documents, items, ReviewPaths(config.output_dir), verdicts)
