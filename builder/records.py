"""Grounded items → Alpaca instruction records, via the schema's templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from datasketch import MinHashLSH
from pydantic import BaseModel

from core.options.records import RecordOptions
from core.shingles import minhash
from schemas.base import ExtractionSchema, item_values
from schemas.types import Document, GroundedItem, Record, content_id

SHINGLE_WORDS = 3


class DroppedRecord(BaseModel):
    record_id: str
    reason: str
    detail: str = ""


@dataclass
class RecordResult:
    records: list[Record] = field(default_factory=list)
    dropped: list[DroppedRecord] = field(default_factory=list)


def build_records(
    items: Sequence[GroundedItem],
    documents: dict[str, Document],
    schema: type[ExtractionSchema],
    options: RecordOptions,
) -> RecordResult:
    """Render every template that applies to each item, then drop bad and duplicate records."""
    result = RecordResult()
    seen_exact: dict[str, str] = {}
    # Near duplicates are judged per template: two templates over one item are
    # different tasks on purpose, two items rendering alike in one template are not.
    lsh_by_template: dict[str, MinHashLSH] = {}
    ordered = sorted(items, key=lambda item: (item.span.doc_id, item.span.start, item.span.end, item.id))
    for item in ordered:
        document = documents[item.span.doc_id]
        validated = schema.validate_item(item.span.text, item.attributes)
        values = item_values(validated, doc_title=document_title(document), doc_source=document.source)
        for template in schema.templates:
            if not template.applies_to(values):
                continue
            fields = template.render(values)
            record = Record(
                id=content_id(item.id, template.name, fields, prefix="rec-"),
                **fields,
                doc_id=item.span.doc_id,
                spans=[item.span],
                schema_name=item.schema_name,
                template=template.name,
                model=item.model,
                meta={
                    "item_id": item.id,
                    "source": document.source,
                    "stratum": str(values.get(schema.stratify_by, "")) if schema.stratify_by else "",
                },
            )
            problem = _bounds_problem(record, options)
            if problem:
                result.dropped.append(DroppedRecord(record_id=record.id, reason=problem))
                continue
            exact_key = content_id(record.instruction, record.input, record.output)
            if exact_key in seen_exact:
                result.dropped.append(
                    DroppedRecord(record_id=record.id, reason="exact_duplicate", detail=seen_exact[exact_key])
                )
                continue
            if options.dedup_near:
                if template.name not in lsh_by_template:
                    lsh_by_template[template.name] = MinHashLSH(
                        threshold=options.near_threshold, num_perm=options.num_perm
                    )
                lsh = lsh_by_template[template.name]
                text = f"{record.instruction}\n{record.input}\n{record.output}"
                signature = minhash(text, SHINGLE_WORDS, options.num_perm)
                near = lsh.query(signature)
                if near:
                    result.dropped.append(
                        DroppedRecord(record_id=record.id, reason="near_duplicate", detail=sorted(near)[0])
                    )
                    continue
                lsh.insert(record.id, signature)
            seen_exact[exact_key] = record.id
            result.records.append(record)
    return result


def add_records(result: RecordResult, extra: Sequence[Record], options: RecordOptions) -> RecordResult:
    """`result` with `extra` records (synthetic ones) after the same bounds and exact-duplicate checks."""
    seen = {content_id(r.instruction, r.input, r.output): r.id for r in result.records}
    for record in extra:
        problem = _bounds_problem(record, options)
        key = content_id(record.instruction, record.input, record.output)
        if problem or key in seen:
            reason = problem or "exact_duplicate"
            result.dropped.append(DroppedRecord(record_id=record.id, reason=reason, detail=seen.get(key)))
            continue
        seen[key] = record.id
        result.records.append(record)
    return result


def document_title(document: Document) -> str:
    """How prompts name a document: its title, else its file name without folder or extension."""
    if document.title.strip():
        return document.title.strip()
    name = PurePosixPath(document.source.split("#", 1)[0]).name
    return name.rsplit(".", 1)[0] if "." in name.strip(".") else name


def _bounds_problem(record: Record, options: RecordOptions) -> str | None:
    if len(record.output.strip()) < options.min_output_chars:
        return "empty_output"
    if len(record.input) > options.max_input_chars:
        return "input_too_long"
    if len(record.output) > options.max_output_chars:
        return "output_too_long"
    return None

