"""Few-shot examples from the project's own review: what reviewers accepted shows the model what to find.

`extraction.examples_from_review: N` adds up to N examples after the schema's own. Each is a
window of a reviewed document (about `max_char_buffer` characters, cut at whitespace) around an
item reviewers accepted, corrected or added, with *every* such item inside the window as its
extractions — an example teaches what to extract and, by what it leaves out, what not to, so a
window may hold nothing the review did not approve. Windows are chosen so that each value of
the schema's closed attributes is shown once before any is shown twice, in document order; the
choice depends only on the review, so a rebuild after an unchanged review asks the same prompts
(and is answered from the cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core import atomic
from schemas.base import EVIDENCE_FIELD, ExtractionSchema, closed_values
from schemas.types import Document, ReviewedItem

APPROVED = ("accepted", "corrected")


def review_examples(
    reviewed_items: Path,
    documents: Sequence[Document],
    schema: type[ExtractionSchema],
    count: int,
    window: int,
) -> list[Any]:
    """Up to `count` langextract examples cut from reviewed documents (none without a review)."""
    if count <= 0 or not reviewed_items.is_file():
        return []
    texts = {document.id: document.text for document in documents}
    approved = sorted(
        (
            item
            for row in atomic.read_jsonl(reviewed_items)
            if (item := ReviewedItem.model_validate(row)).review.status in APPROVED
            and item.span.doc_id in texts
        ),
        key=lambda item: (item.span.doc_id, item.span.start, item.span.end, item.id),
    )
    examples: list[Any] = []
    taken: list[tuple[str, int, int]] = []  # (document, start, end) of the windows cut so far
    for anchor in _anchors(approved, schema):
        doc_id = anchor.span.doc_id
        if len(examples) == count or any(d == doc_id and a <= anchor.span.start < b for d, a, b in taken):
            continue
        left, right = _window(texts[doc_id], anchor.span.start, anchor.span.end, window)
        for item in approved:  # an approved item crossing the window's edge is taken in whole
            if item.span.doc_id == doc_id and item.span.start < right and item.span.end > left:
                left, right = min(left, item.span.start), max(right, item.span.end)
        if any(d == doc_id and a < right and left < b for d, a, b in taken):
            continue
        taken.append((doc_id, left, right))
        inside = [
            i for i in approved if i.span.doc_id == doc_id and left <= i.span.start and i.span.end <= right
        ]
        examples.append(_example(texts[doc_id][left:right], left, inside, schema))
    return examples


def _anchors(items: list[ReviewedItem], schema: type[ExtractionSchema]) -> list[ReviewedItem]:
    """Items to centre windows on: one per closed value first, then the rest in document order;
    one per document before a document's second."""
    ordered: list[ReviewedItem] = []
    for name, values in closed_values(schema).items():
        for value in values:
            match = next((i for i in items if _has(i, name, value) and i not in ordered), None)
            if match is not None:
                ordered.append(match)
    ordered += [item for item in items if item not in ordered]
    seen: set[str] = set()
    first = [item for item in ordered if item.span.doc_id not in seen and not seen.add(item.span.doc_id)]
    return first + [item for item in ordered if item not in first]


def _has(item: ReviewedItem, name: str, value: str) -> bool:
    found = item.attributes.get(name)
    values = found if isinstance(found, list) else [found]
    return value in [str(v) for v in values]


def _window(text: str, start: int, end: int, size: int) -> tuple[int, int]:
    """About `size` characters around [start, end), widened to whitespace so no word is cut."""
    pad = max(0, size - (end - start)) // 2
    left, right = max(0, start - pad), min(len(text), end + pad)
    while left > 0 and not text[left - 1].isspace():
        left -= 1
    while right < len(text) and not text[right].isspace():
        right += 1
    return left, right


def _example(text: str, offset: int, items: list[ReviewedItem], schema: type[ExtractionSchema]) -> Any:
    import langextract as lx

    extractions = [
        lx.data.Extraction(
            extraction_class=schema.extraction_class,
            extraction_text=text[item.span.start - offset : item.span.end - offset],
            attributes={k: v for k, v in item.attributes.items() if k != EVIDENCE_FIELD},
        )
        for item in items
    ]
    return lx.data.ExampleData(text=text, extractions=extractions)
