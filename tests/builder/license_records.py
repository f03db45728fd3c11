"""Reviewed records built from real license texts, for the split and export tests.

The texts are real (tests/fixtures/licenses); the clause kinds come from a
keyword rule rather than a model, and every item goes through the real record
builder, so records carry the same templates, ids, strata and cross-document
near duplicates a build produces.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from builder.records import build_records
from core.options.records import RecordOptions
from schemas.types import Document, GroundedItem, Review, ReviewedRecord, Span, content_id

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "licenses" / "spdx_sample.jsonl"

_RULES = (
    ("limitation", re.compile(r"warrant|liab|damages|\bas is\b", re.I)),
    (
        "condition",
        re.compile(r"provided that|\bif you\b|\bunless\b|subject to|conditions? (are|is) met", re.I),
    ),
    ("obligation", re.compile(r"\bmust\b|\bshall\b|\brequired?\b|\bretain\b|\breproduce\b", re.I)),
    ("permission", re.compile(r"permission|\bgrant|\bmay\b|free of charge|\bpermitted\b", re.I)),
)
_LEADS = {
    "permission": "Grants the licensee the right",
    "obligation": "Requires the licensee",
    "condition": "Makes the licence depend on",
    "limitation": "Limits what the licensor answers for",
}
# A sentence ends at '.' or ';' followed by whitespace: "png.h" and "e.g" stay whole.
_SENTENCE = re.compile(r"\S.*?[.;](?=\s|$)", re.S)


def license_documents(limit: int | None = None) -> list[Document]:
    rows = [json.loads(line) for line in FIXTURE.read_text("utf-8").splitlines() if line.strip()]
    docs = []
    for row in rows[:limit]:
        text = row["text"].strip()
        docs.append(
            Document(
                id=Document.make_id(text),
                source=f"{row['spdx_id']}.txt",
                mime="text/plain",
                title=row["name"],
                text=text,
                metadata={"spdx_id": row["spdx_id"], "url": row["url"]},
            )
        )
    return docs


def clause_items(document: Document, schema_name: str = "LicenseTerm") -> list[GroundedItem]:
    items = []
    for match in _SENTENCE.finditer(document.text):
        start, text = match.start(), match.group(0)
        if not 40 <= len(text) <= 700:
            continue
        kind = next((name for name, rule in _RULES if rule.search(text)), None)
        if kind is None:
            continue
        words = " ".join(text.split()[:14]).rstrip(".;,")
        summary = f"{_LEADS[kind]}: {words.lower()}."
        items.append(
            GroundedItem(
                id=content_id(document.id, start, match.end(), prefix="item-"),
                schema_name=schema_name,
                extraction_class="clause",
                span=Span(doc_id=document.id, start=start, end=match.end(), text=text),
                attributes={"kind": kind, "summary": summary},
                model="keyword-rule",
            )
        )
    return items


def reviewed_records(schema, limit: int | None = None) -> tuple[list[ReviewedRecord], list[Document]]:
    docs = license_documents(limit)
    items = [item for doc in docs for item in clause_items(doc, schema.schema_name())]
    # Exact duplicates are still dropped as a build drops them; the build's near-duplicate pass
    # is off only because it costs seconds per record, and leakage is what these tests check.
    built = build_records(items, {doc.id: doc for doc in docs}, schema, RecordOptions(dedup_near=False))
    review = Review(status="accepted", auto=True)
    records = [ReviewedRecord(**record.model_dump(), review=review) for record in built.records]
    return records, docs
