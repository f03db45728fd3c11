"""Read labelled documents (gold) for scoring a build's extraction, with errors that name file and line.

Two formats, one per file, told apart by their first line:

- langextract's annotated-document JSONL (what `dsforge build` writes to
  extractions.jsonl): `{"document_id", "text"?, "extractions": [{"extraction_class",
  "extraction_text", "char_interval": {"start_pos", "end_pos"}, "attributes"}]}` —
  spans and labels; the labels of a document are its extractions' values.
- document labels: `{"document": "mit.txt", "labels": {"rule": ["warranty", ...]}}` —
  what a multi-label tagging schema is judged on, no spans.

A document is named by the build's document id or by its source path
(relative to the input folder). Gold spans index the gold line's `text` when it
has one; where the build's cleaned text differs they are found again in it
(builder.grounding), and a span that cannot be found is an error, not a miss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.grounding import locate
from core.errors import GoldError
from schemas.base import ExtractionSchema, closed_values
from schemas.types import Document


@dataclass(frozen=True)
class GoldSpan:
    start: int
    end: int
    text: str
    attributes: dict[str, Any]


@dataclass
class GoldDocument:
    doc_id: str
    source: str
    labels: dict[str, set[str]]
    spans: list[GoldSpan] | None = None  # None: a labels-only gold


@dataclass
class GoldSet:
    path: Path
    format: str  # "annotated" | "labels"
    documents: list[GoldDocument]
    skipped: list[str] = field(default_factory=list)  # named documents that cleaning dropped as duplicates


def read_gold(
    path: Path,
    schema: type[ExtractionSchema],
    documents: list[Document],
    dropped: frozenset[str] = frozenset(),
) -> GoldSet:
    """Every gold line checked against the schema and the build's documents; nothing is half read."""
    if not path.is_file():
        raise GoldError(f"no gold file at {path}")
    lines = [
        (n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()
    ]
    if not lines:
        raise GoldError(f"{path}: the gold file is empty; write one JSON object per labelled document")
    closed = closed_values(schema)
    if not closed:
        raise GoldError(
            f"{path}: schema {schema.schema_name()} has no attribute with a closed set of values "
            "(Literal, Enum or bool) to score labels on"
        )
    by_key = {doc.id: doc for doc in documents} | {doc.source: doc for doc in documents}
    gold_format = ""
    seen: set[str] = set()
    result = GoldSet(path=path, format="", documents=[])
    for number, line in lines:
        where = f"{path}:{number}"
        row = _json_object(line, where)
        line_format = "annotated" if "extractions" in row else "labels" if "labels" in row else ""
        if not line_format:
            raise GoldError(
                f"{where}: a gold line needs 'extractions' (annotated) or 'labels' (document labels)"
            )
        gold_format = gold_format or line_format
        if line_format != gold_format:
            raise GoldError(
                f"{where}: {line_format} line in a {gold_format} gold file; use one format per file"
            )
        name = row.get("document_id" if line_format == "annotated" else "document")
        if not isinstance(name, str) or not name:
            key = "document_id" if line_format == "annotated" else "document"
            raise GoldError(f"{where}: '{key}' must name a document (its id or its path in the input folder)")
        if name in dropped:
            result.skipped.append(name)
            continue
        document = by_key.get(name)
        if document is None:
            raise GoldError(
                f"{where}: the build has no document {name!r}; name it by its path in the input folder "
                "(as in documents.jsonl 'source') or by its id"
            )
        if document.id in seen:
            raise GoldError(f"{where}: document {name!r} is labelled twice")
        seen.add(document.id)
        if line_format == "labels":
            labels = _labels(row.get("labels"), closed, schema, where)
            result.documents.append(GoldDocument(document.id, document.source, labels))
        else:
            spans = _spans(row, document, schema, closed, where)
            labels = {
                name: {str(s.attributes[name]) for s in spans if name in s.attributes} for name in closed
            }
            result.documents.append(GoldDocument(document.id, document.source, labels, spans))
    result.format = gold_format
    return result


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise GoldError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise GoldError(f"{where}: each line must be a JSON object")
    return row


def _labels(
    raw: Any, closed: dict[str, list[str]], schema: type[ExtractionSchema], where: str
) -> dict[str, set[str]]:
    if not isinstance(raw, dict) or not raw:
        raise GoldError(
            f"{where}: 'labels' must map an attribute to its values, e.g. {{\"{next(iter(closed))}\": [...]}}"
        )
    labels: dict[str, set[str]] = {name: set() for name in closed}
    for name, values in raw.items():
        if name not in closed:
            raise GoldError(_unknown_attribute(name, closed, schema, where))
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list):
            raise GoldError(f"{where}: labels[{name!r}] must be a list of values")
        for value in values:
            _check_value(name, value, closed, schema, where)
            labels[name].add(str(value))
    return labels


def _spans(
    row: dict[str, Any],
    document: Document,
    schema: type[ExtractionSchema],
    closed: dict[str, list[str]],
    where: str,
) -> list[GoldSpan]:
    gold_text = row.get("text")
    if gold_text is not None and not isinstance(gold_text, str):
        raise GoldError(f"{where}: 'text' must be the document's text")
    text = gold_text if gold_text is not None else document.text
    extractions = row.get("extractions")
    if not isinstance(extractions, list):
        raise GoldError(f"{where}: 'extractions' must be a list")
    spans = []
    for index, extraction in enumerate(extractions):
        at = f"{where}: extraction {index}"
        if not isinstance(extraction, dict):
            raise GoldError(f"{at} must be an object")
        if extraction.get("extraction_class") != schema.extraction_class:
            raise GoldError(
                f"{at}: class {extraction.get('extraction_class')!r} is not the schema's "
                f"{schema.extraction_class!r}; is this gold written for another schema?"
            )
        quote = extraction.get("extraction_text")
        if not isinstance(quote, str) or not quote:
            raise GoldError(f"{at}: 'extraction_text' is missing")
        attributes = extraction.get("attributes") or {}
        for name, value in attributes.items():
            if name in closed:
                _check_value(name, value, closed, schema, at)
            elif name not in schema.attribute_fields():
                raise GoldError(_unknown_attribute(name, closed, schema, at))
        start, end = _interval(extraction, text, quote, at)
        if text != document.text:
            found = locate(document.text, quote, hint=start)
            if found is None or found.method != "exact":
                raise GoldError(
                    f"{at}: {quote[:60]!r} is not in the build's cleaned text of {document.source}"
                )
            start, end = found.start, found.end
        spans.append(GoldSpan(start, end, quote, dict(attributes)))
    return spans


def _interval(extraction: dict[str, Any], text: str, quote: str, at: str) -> tuple[int, int]:
    interval = extraction.get("char_interval")
    if interval is None:
        found = locate(text, quote)
        if found is None or found.method != "exact":
            raise GoldError(f"{at}: {quote[:60]!r} is not in the document's text; give its char_interval")
        return found.start, found.end
    start, end = (interval or {}).get("start_pos"), (interval or {}).get("end_pos")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(text):
        raise GoldError(
            f"{at}: char_interval {start}..{end} is out of range for a text of {len(text)} characters"
        )
    if text[start:end] != quote:
        raise GoldError(
            f"{at}: the text at {start}..{end} is {text[start:end][:60]!r}, not the extraction_text"
        )
    return start, end


def _check_value(
    name: str, value: Any, closed: dict[str, list[str]], schema: type[ExtractionSchema], where: str
) -> None:
    if str(value) not in closed[name]:
        raise GoldError(
            f"{where}: {value!r} is not a value of {schema.schema_name()}.{name} "
            f"(known: {', '.join(closed[name])})"
        )


def _unknown_attribute(
    name: str, closed: dict[str, list[str]], schema: type[ExtractionSchema], where: str
) -> str:
    return (
        f"{where}: {schema.schema_name()} has no labelled attribute {name!r} "
        f"(known: {', '.join(closed)}); is this gold written for another schema?"
    )
