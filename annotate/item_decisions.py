"""From reviewers' answers about one item to its reviewed version and gate decision.

The accept/reject label follows the configured agreement rule, as for records. Accepting
reviewers' answers that differ from the model's make the item `corrected`; the corrected
item is validated by the schema and its span re-read from the document, so what is trained
on is always schema-valid and exactly grounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from annotate import dataset_settings as ds
from annotate.decisions import Submission, settle
from annotate.evidence import context_start
from annotate.item_form import AttributeQuestion
from core.options.review import ReviewOptions
from schemas.base import ExtractionSchema, first_problem
from schemas.types import Document, GroundedItem, ItemReview, ItemSource, ReviewedItem, Span


@dataclass
class ItemOutcome:
    reviewed: ReviewedItem
    passed: bool
    reasons: list[str] = field(default_factory=list)


def decide_item(
    item: GroundedItem,
    source: ItemSource,
    submissions: list[Submission],
    options: ReviewOptions,
    schema: type[ExtractionSchema],
    questions: list[AttributeQuestion],
    documents: dict[str, Document],
) -> ItemOutcome:
    submissions = sorted(submissions, key=lambda s: (s.submitted_at, s.reviewer))
    base: dict[str, Any] = dict(
        reviewers=[s.reviewer for s in submissions], submitted_at=[s.submitted_at for s in submissions]
    )
    if not submissions:
        return ItemOutcome(_reviewed(item, source, ItemReview(status="unreviewed")), False, ["not reviewed yet"])

    label, share, reasons = settle(submissions, options)

    if label != ds.ACCEPT:
        status = "rejected" if label == ds.REJECT else "unreviewed"
        review = ItemReview(status=status, agreement=round(share, 4), **base)
        if status == "rejected" and not reasons:
            reasons.append("rejected by reviewers")
        return ItemOutcome(_reviewed(item, source, review), False, reasons)

    versions: dict[str, tuple[dict[str, Any], Span]] = {}
    for submission in submissions:
        if submission.decision != ds.ACCEPT:
            continue
        try:
            attributes, span = _answered_version(item, submission.values, questions, options, documents)
        except ValueError as exc:
            reasons.append(f"the answer of {submission.reviewer} is invalid: {exc}")
            continue
        if attributes != item.attributes or span != item.span:
            versions[_key(attributes, span)] = (attributes, span)
    status, attributes, span = "accepted", dict(item.attributes), item.span
    if len(versions) > 1:
        reasons.append(f"{len(versions)} different corrections were submitted; reconcile them in Argilla")
    elif versions:
        status = "corrected"
        attributes, span = next(iter(versions.values()))
        try:
            schema.validate_item(span.text, attributes)
        except ValidationError as exc:
            reasons.append(f"corrected item is invalid: {first_problem(exc)}")
    original = {"original_attributes": dict(item.attributes), "original_span": item.span} if status == "corrected" else {}
    review = ItemReview(status=status, agreement=round(share, 4), **original, **base)
    reviewed = ReviewedItem(**{**item.model_dump(), "attributes": attributes, "span": span}, source=source, review=review)
    return ItemOutcome(reviewed, not reasons, reasons)


def _answered_version(
    item: GroundedItem,
    values: dict[str, Any],
    questions: list[AttributeQuestion],
    options: ReviewOptions,
    documents: dict[str, Document],
) -> tuple[dict[str, Any], Span]:
    """The item as one reviewer left it: unanswered questions keep the model's value."""
    attributes = dict(item.attributes)
    for question in questions:
        if question.name not in values:
            continue
        answer = values[question.name]
        if answer in (None, "", []) and question.kind in ("text", "json"):
            attributes.pop(question.attribute, None)  # cleared: optional attributes become None
            continue
        attributes[question.attribute] = question.read(answer)
    span = item.span
    marks = values.get(ds.SPAN)
    if marks:
        if len(marks) != 1:
            raise ValueError(f"mark exactly one evidence span, not {len(marks)}")
        span = _document_span(item.span, marks[0], options, documents)
    return attributes, span


def _document_span(span: Span, mark: dict[str, Any], options: ReviewOptions, documents: dict[str, Document]) -> Span:
    """A span marked in the evidence context, as offsets and text of the document itself."""
    document = documents.get(span.doc_id)
    if document is None:
        raise ValueError(f"document {span.doc_id} is not in this build")
    offset = context_start(span, documents, options.context_chars)
    start, end = offset + int(mark["start"]), offset + int(mark["end"])
    if not (0 <= start < end <= len(document.text)):
        raise ValueError(f"the marked span {start}–{end} lies outside the document")
    return Span(doc_id=span.doc_id, start=start, end=end, text=document.text[start:end])


def _key(attributes: dict[str, Any], span: Span) -> str:
    return json.dumps([attributes, span.start, span.end], sort_keys=True, default=str)


def _reviewed(item: GroundedItem, source: ItemSource, review: ItemReview) -> ReviewedItem:
    return ReviewedItem(**item.model_dump(), source=source, review=review)
