"""Records rendered from approved items: one reviewer decision reaches every template.

A corrected item's records are rendered from the corrected values; each carries the
model's original rendering beside it (`review.original_output`), so a correction becomes a
preference pair later.
"""

from __future__ import annotations

from pydantic import ValidationError

from builder.records import build_records
from core.options.records import RecordOptions
from schemas.base import ExtractionSchema
from schemas.types import Document, GroundedItem, Review, ReviewedItem, ReviewedRecord


def records_from_items(
    items: list[ReviewedItem],
    documents: dict[str, Document],
    schema: type[ExtractionSchema],
    options: RecordOptions,
) -> list[ReviewedRecord]:
    """Every template of every given item, rendered, deduplicated and marked with its item's review."""
    by_id = {item.id: item for item in items}
    rendered = build_records([_plain(item) for item in items], documents, schema, options).records
    originals = _original_outputs([item for item in items if item.review.status == "corrected"], documents, schema)
    rows = []
    for record in rendered:
        item = by_id[record.meta["item_id"]]
        review = Review(
            status=item.review.status,
            reviewers=item.review.reviewers,
            submitted_at=item.review.submitted_at,
            agreement=item.review.agreement,
            original_output=originals.get((item.id, record.template)),
            auto=item.review.auto,
        )
        meta = {**record.meta, "source": item.source}
        rows.append(ReviewedRecord(**{**record.model_dump(), "meta": meta}, review=review))
    return rows


def _plain(item: ReviewedItem) -> GroundedItem:
    return GroundedItem(**item.model_dump(exclude={"source", "review"}))


def _original_outputs(
    items: list[ReviewedItem], documents: dict[str, Document], schema: type[ExtractionSchema]
) -> dict[tuple[str, str], str]:
    """(item id, template) → the output the model's own version of the item rendered to."""
    originals = []
    for item in items:
        original = GroundedItem(
            **{
                **_plain(item).model_dump(),
                "attributes": item.review.original_attributes or item.attributes,
                "span": item.review.original_span or item.span,
            }
        )
        try:  # an item a reviewer added may have had only its label: nothing was rendered from it
            schema.validate_item(original.span.text, original.attributes)
        except ValidationError:
            continue
        originals.append(original)
    plain = RecordOptions(dedup_near=False, min_output_chars=0, max_input_chars=10**9, max_output_chars=10**9)
    result = build_records(originals, documents, schema, plain)
    return {(record.meta["item_id"], record.template): record.output for record in result.records}
