"""`lineage.json`: where an exported dataset came from, as plain JSON for tools.

The training stage copies it into its run card, so a model can be traced back
to the exact documents, extraction weights, review and split that made it; the
dataset card (builder.card) renders the same facts for people.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from builder.export import ExportResult
from core import atomic
from core.hashing import file_sha256
from core.layout import DATASET_COLUMNS, SPLITS, BuildPaths, ReviewPaths, SplitPaths
from core.options.export import ExportOptions
from schemas.base import ExtractionSchema
from schemas.types import Document, ReviewedRecord, SplitManifest


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text("utf-8")) if path.is_file() else None


def build_lineage(
    build_dir: Path,
    splits: dict[str, list[ReviewedRecord]],
    manifest: SplitManifest,
    export: ExportResult,
    options: ExportOptions,
    schema: type[ExtractionSchema] | None = None,
) -> dict[str, Any]:
    """Everything a run card needs to name where the data came from, as plain JSON."""
    report_path = BuildPaths(build_dir).report_json
    review_path = ReviewPaths(build_dir).report_json
    documents_path = BuildPaths(build_dir).documents
    manifest_path = SplitPaths(build_dir).manifest
    report = _read_json(report_path)
    all_records = [r for name in SPLITS for r in splits.get(name, [])]
    per_doc = Counter(r.doc_id for r in all_records)

    sources = []
    if documents_path.is_file():
        for row in atomic.read_jsonl(documents_path):
            doc = Document.model_validate(row)
            sources.append(
                {
                    "doc_id": doc.id,
                    "source": doc.source,
                    "title": doc.title,
                    "sha256": hashlib.sha256(doc.text.encode("utf-8")).hexdigest(),
                    "chars": len(doc.text),
                    "records": per_doc.get(doc.id, 0),
                }
            )
    known = {s["doc_id"] for s in sources}
    for doc_id in sorted(set(per_doc) - known):
        # A record whose document is not in documents.jsonl still gets named.
        sources.append(
            {
                "doc_id": doc_id,
                "source": None,
                "title": None,
                "sha256": None,
                "chars": None,
                "records": per_doc[doc_id],
            }
        )

    return {
        "dsforge_version": _version(),
        "dataset": {
            "name": options.pretty_name
            or (schema.schema_name() if schema else manifest_schema_name(all_records)),
            "license": options.license,
            "language": options.language,
            "columns": [*DATASET_COLUMNS, "provenance"],
            "sizes": export.sizes,
        },
        "schema": _schema_block(schema),
        "record_models": sorted({r.model for r in all_records}),
        "sources": sources,
        "sources_file_sha256": file_sha256(documents_path) if documents_path.is_file() else None,
        "build": None
        if report is None
        else {
            "report_sha256": file_sha256(report_path),
            "model": report.get("model"),
            "constrained_decoding": report.get("constrained_decoding"),
            "documents": report.get("documents"),
            "cleaning": report.get("cleaning"),
            "extraction": report.get("extraction"),
            "records": report.get("records"),
        },
        "review": _review_block(all_records, _read_json(review_path), review_path),
        "preference": export.preference or None,
        "synthetic": synthetic_block(splits),
        "split": {
            "seed": manifest.seed,
            "ratios": manifest.ratios,
            "stratify_by": manifest.stratify_by,
            "group_by": manifest.group_by,
            "method": manifest.leakage.get("method"),
            "sizes": {name: len(ids) for name, ids in manifest.splits.items()},
            "strata": manifest.strata,
            "notes": manifest.notes,
            "manifest_sha256": file_sha256(manifest_path) if manifest_path.is_file() else None,
        },
        "leakage": {
            key: value for key, value in manifest.leakage.items() if key not in {"pairs_before", "method"}
        },
        "files": {
            str(path.relative_to(export.paths.root)): file_sha256(path)
            for path in [*export.files, *sorted(export.paths.dataset.rglob("*.arrow"))]
        },
    }


def synthetic_block(splits: dict[str, list[ReviewedRecord]]) -> dict[str, Any] | None:
    """Synthetic Q&A records counted apart, per split, with their generators; None when there are none."""
    per_split = {}
    for name in SPLITS:
        rows = splits.get(name, [])
        synthetic = sum(1 for r in rows if r.meta.get("synthetic"))
        per_split[name] = {"records": synthetic, "share": round(synthetic / len(rows), 4) if rows else 0.0}
    total = sum(part["records"] for part in per_split.values())
    if not total:
        return None
    generators = sorted({str(r.meta.get("generator")) for rows in splits.values() for r in rows if r.meta.get("synthetic")})
    return {"records": total, "generators": generators, "per_split": per_split}


def manifest_schema_name(records: list[ReviewedRecord]) -> str:
    names = sorted({r.schema_name for r in records})
    return names[0] if len(names) == 1 else "dsforge dataset"


def _version() -> str:
    try:
        return metadata.version("dsforge")
    except metadata.PackageNotFoundError:
        return "unknown"


def _schema_block(schema: type[ExtractionSchema] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    return {
        "name": schema.schema_name(),
        "extraction_class": schema.extraction_class,
        "description": " ".join((schema.__doc__ or "").split()),
        "stratify_by": schema.stratify_by,
        "attributes": schema.attribute_json_schema(),
        "templates": [template.name for template in schema.templates],
    }


def _review_block(records: list[ReviewedRecord], report: dict[str, Any] | None, path: Path) -> dict[str, Any]:
    statuses = Counter(r.review.status for r in records)
    reviewers = sorted({name for r in records for name in r.review.reviewers})
    agreements = [r.review.agreement for r in records if r.review.agreement is not None]
    auto = sum(1 for r in records if r.review.auto)
    return {
        "reviewed": report is not None and auto < len(records),
        "report": report,
        "report_sha256": file_sha256(path) if report is not None else None,
        "statuses": dict(sorted(statuses.items())),
        "reviewers": reviewers,
        "mean_agreement": round(sum(agreements) / len(agreements), 4) if agreements else None,
        "auto_accepted": auto,
    }
