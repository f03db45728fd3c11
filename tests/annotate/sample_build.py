"""A small real build output: sample license texts, grounded items found in them, real records.

The items are what a perfect extractor would return for these texts (the
evidence strings are located in the real files), rendered into records by
the project's own record builder, as `dsforge build` writes them.
"""

from __future__ import annotations

from pathlib import Path

from builder.records import build_records
from core import atomic
from core.options.records import RecordOptions
from schemas.types import Document, GroundedItem, Span

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

CLAUSES = {
    "mit.txt": [
        ("to deal in the Software without restriction", "permission",
         "You may use, copy, modify and distribute the software freely."),
        ("The above copyright notice and this permission notice shall be included in all copies or substantial\n"
         "portions of the Software.", "obligation", "You must keep the copyright and permission notice in every copy."),
        ('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND', "limitation",
         "The software comes with no warranty."),
    ],
    "isc.txt": [
        ("Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee "
         "is hereby granted", "permission", "You may use and share the software for any purpose, paid or not."),
        ("provided that the above copyright notice and this permission notice appear in all copies", "condition",
         "Copies must carry the copyright and permission notice."),
    ],
    "x11.txt": [
        ("to deal in the Software without restriction", "permission", "You may deal in the software without restriction."),
    ],
}


def write_sample_build(output: Path, schema) -> list:
    """Write records.jsonl, documents.jsonl and items.jsonl under `output`; return the records."""
    documents, items = [], []
    for name, clauses in CLAUSES.items():
        text = (SAMPLES / "docs" / name).read_text("utf-8")
        document = Document(id=Document.make_id(text), source=name, mime="text/plain", title=text.splitlines()[0].strip(": "), text=text)
        documents.append(document)
        for evidence, kind, summary in clauses:
            start = text.index(evidence)
            items.append(
                GroundedItem(
                    id=f"item-{document.id}-{start}",
                    schema_name=schema.schema_name(),
                    extraction_class=schema.extraction_class,
                    span=Span(doc_id=document.id, start=start, end=start + len(evidence), text=evidence),
                    attributes={"kind": kind, "summary": summary},
                    model="dsforge-gguf:qwen2.5-coder-1.5b",
                )
            )
    result = build_records(items, {d.id: d for d in documents}, schema, RecordOptions(dedup_near=False))
    atomic.write_jsonl(output / "documents.jsonl", documents)
    atomic.write_jsonl(output / "items.jsonl", items)
    atomic.write_jsonl(output / "records.jsonl", result.records)
    return result.records
