"""JSON Lines: one record per line, so one bad line costs that line only."""

from __future__ import annotations

import json
import re
from typing import Any

from builder.ingest import reasons
from builder.ingest.formats import register_format
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult, PartFailure
from builder.ingest.sniff import UTF8_BOM, decode_utf8
from core.errors import InputFileError
from core.options.ingest import IngestOptions

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@register_format("jsonl", suffixes=("jsonl", "ndjson"), mime="application/jsonl")
def parse_jsonl(data: bytes, ctx: ParseContext) -> ParseResult:
    texts: list[ParsedText] = []
    failures: list[PartFailure] = []
    offset = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    for number, raw in enumerate(data[offset:].split(b"\n"), start=1):
        line_offset, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        anchor = f"#L{number}"
        try:
            record = _record(raw, number, line_offset, ctx)
            texts.append(_parsed(record, raw, number, anchor, ctx.options))
        except InputFileError as exc:
            failures.append(PartFailure(anchor=anchor, reason=exc.reason, message=exc.message))
    if not texts and not failures:
        raise InputFileError(reasons.EMPTY, "has no records, only blank lines; add records or remove it.")
    return ParseResult(texts=texts, failures=failures)


def _record(raw: bytes, number: int, line_offset: int, ctx: ParseContext) -> dict[str, Any]:
    line = decode_utf8(raw, ctx.rel, base_offset=line_offset)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            reasons.BAD_JSONL_LINE,
            f"line {number} is not valid JSON ({exc.msg} at column {exc.colno}); fix or delete that line.",
        ) from None
    except RecursionError:
        raise InputFileError(
            reasons.BAD_JSONL_LINE, f"line {number} nests too deeply to parse; flatten the record."
        ) from None
    if not isinstance(record, dict):
        raise InputFileError(
            reasons.BAD_JSONL_LINE,
            f"line {number} is a JSON {type(record).__name__}, not an object; each line must be "
            "one {...} record.",
        )
    if _LONE_SURROGATE.search(json.dumps(record, ensure_ascii=False)):
        raise InputFileError(
            reasons.BAD_JSONL_LINE,
            f"line {number} escapes half of a UTF-16 surrogate pair (like \\ud800), which is no "
            "character and cannot be stored; fix the producer's encoding or delete the line.",
        )
    return record


def _parsed(
    record: dict[str, Any], raw: bytes, number: int, anchor: str, options: IngestOptions
) -> ParsedText:
    field = options.jsonl_text_field
    if field not in record:
        keys = ", ".join(sorted(record)) or "none"
        raise InputFileError(
            reasons.MISSING_FIELD,
            f"line {number} has no {field!r} field (it has: {keys}); add it, or set "
            "jsonl_text_field to the field that holds the text.",
        )
    text = record[field]
    if not isinstance(text, str):
        raise InputFileError(
            reasons.MISSING_FIELD,
            f"line {number}: field {field!r} is a {type(text).__name__}, not a string; store the "
            "text as a JSON string.",
        )
    if not text.strip():
        raise InputFileError(reasons.EMPTY, f"line {number}: field {field!r} is blank; drop the line.")
    known = {field, options.jsonl_id_field, options.jsonl_title_field}
    metadata: dict[str, Any] = {"line": number, "size_bytes": len(raw)}
    record_id = record.get(options.jsonl_id_field) if options.jsonl_id_field else None
    if record_id is not None:
        metadata["record_id"] = str(record_id)
    metadata["fields"] = {key: value for key, value in record.items() if key not in known}
    title = record.get(options.jsonl_title_field) if options.jsonl_title_field else None
    return ParsedText(
        text=text,
        title=title.strip() if isinstance(title, str) else "",
        anchor=anchor,
        metadata=metadata,
    )
