"""The missed-items pass: document text with the kept items pre-marked, for reviewers to add the rest.

One Argilla record per window of a document (a whole short document, or paragraphs of a
long one up to `review.missed_window_chars`). The kept items are suggested spans labelled by
the schema's `stratify_by` value (or the class); a span a reviewer adds becomes an item of
`source: reviewer`. The window shows the document's text character for character (a few
look-alikes where the web UI would misread it, `evidence.span_field_text`), so a span's
offsets map back to the document exactly, and its text is read from the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from annotate.evidence import span_field_text
from builder.records import document_title
from core.options.review import ReviewOptions
from schemas.base import ExtractionSchema, closed_values, first_problem
from schemas.types import Document, GroundedItem, content_id

if TYPE_CHECKING:
    import argilla as rg

TEXT_FIELD = "text"
TITLE_FIELD = "title"
FOUND = "items"
CHECKED = "checked"
NOTHING_MISSED, ADDED = "nothing_missed", "added"


@dataclass(frozen=True)
class Window:
    """A stretch of one document shown as one record; `start`/`end` are document offsets."""

    doc_id: str
    start: int
    end: int

    @property
    def id(self) -> str:
        return content_id(self.doc_id, self.start, self.end, prefix="win-")


def dataset_name(items_dataset: str) -> str:
    return f"{items_dataset}-missed"


def span_labels(schema: type[ExtractionSchema]) -> tuple[str | None, list[str]]:
    """The attribute a span label sets (None: the label is the class) and the labels offered."""
    closed = closed_values(schema)
    if schema.stratify_by and schema.stratify_by in closed:
        return schema.stratify_by, closed[schema.stratify_by]
    return None, [schema.extraction_class]


def item_label(item: GroundedItem, attribute: str | None, schema: type[ExtractionSchema]) -> str:
    return str(item.attributes.get(attribute)) if attribute else schema.extraction_class


def windows(document: Document, max_chars: int) -> list[Window]:
    """The document cut at paragraph breaks into windows of at most `max_chars` (a longer paragraph
    is cut at its last line break or space before the limit)."""
    text, cuts, start = document.text, [], 0
    while len(text) - start > max_chars:
        limit = start + max_chars
        cut = max(text.rfind("\n\n", start + 1, limit), -1)
        if cut <= start:
            cut = max(text.rfind("\n", start + 1, limit), text.rfind(" ", start + 1, limit))
        if cut <= start:
            cut = limit
        cuts.append((start, cut))
        start = cut
    cuts.append((start, len(text)))
    return [Window(document.id, a, b) for a, b in cuts if text[a:b].strip()]


def guidelines(schema: type[ExtractionSchema]) -> str:
    task = (schema.__doc__ or "").strip()
    return (
        f"## What should have been found\n\n{task}\n\n"
        "## How to review\n\n"
        "The text shows what the model found, already marked. Mark every further passage that "
        "states such an item, with its label, then answer *Did you mark everything?* and submit. "
        "Leave wrong marks alone: they are judged in the items dataset."
    )


def build_settings(schema: type[ExtractionSchema], options: ReviewOptions) -> "rg.Settings":
    import argilla as rg

    _, labels = span_labels(schema)
    return rg.Settings(
        guidelines=guidelines(schema),
        fields=[
            rg.TextField(name=TITLE_FIELD, title="Document", use_markdown=False),
            rg.TextField(name=TEXT_FIELD, title="Text", use_markdown=False),
        ],
        questions=[
            rg.SpanQuestion(
                name=FOUND,
                field=TEXT_FIELD,
                labels=labels,
                title="Mark what the model missed (its finds are marked already)",
                required=False,
                allow_overlapping=True,
                visible_labels=min(len(labels), 20) if len(labels) > 3 else None,
            ),
            rg.LabelQuestion(
                name=CHECKED,
                title="Did you mark everything this text states?",
                labels={NOTHING_MISSED: "Nothing was missed", ADDED: "I marked what was missed"},
                required=True,
            ),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="document", title="document"),
            rg.IntegerMetadataProperty(name="position", title="reading order"),
        ],
        distribution=rg.TaskDistribution(min_submitted=1),
        allow_extra_metadata=False,
    )


def window_payload(
    window: Window,
    position: int,
    document: Document,
    items: list[GroundedItem],
    schema: type[ExtractionSchema],
    question_ids: dict[str, str],
) -> dict[str, Any]:
    attribute, _ = span_labels(schema)
    spans = [
        {"label": item_label(item, attribute, schema), "start": item.span.start - window.start,
         "end": item.span.end - window.start}
        for item in items
        if item.span.doc_id == window.doc_id and window.start <= item.span.start and item.span.end <= window.end
    ]  # fmt: skip
    payload: dict[str, Any] = {
        "external_id": window.id,
        "fields": {
            TITLE_FIELD: document_title(document),
            TEXT_FIELD: span_field_text(document.text[window.start : window.end]),
        },
        "metadata": {"document": document_title(document), "position": position},
        "suggestions": [],
    }
    if spans:
        payload["suggestions"].append(
            {"question_id": question_ids[FOUND], "value": spans, "agent": "extractor", "type": "model"}
        )
    return payload


def all_windows(documents: dict[str, Document], options: ReviewOptions) -> list[tuple[Window, Document]]:
    """Every window of every document, in reading order (by title, then position)."""
    ordered = sorted(documents.values(), key=lambda d: (document_title(d).lower(), d.id))
    return [(window, document) for document in ordered for window in windows(document, options.missed_window_chars)]


@dataclass
class AddedSpans:
    """What the missed-items pass brought back: new items, problems, and which windows were checked."""

    items: dict[str, tuple[GroundedItem, list[str]]] = field(default_factory=dict)  # id → (item, reviewers)
    problems: list[dict[str, str]] = field(default_factory=list)
    checked_windows: set[str] = field(default_factory=set)
    checked_documents: set[str] = field(default_factory=set)


def read_added(
    responses: dict[str, list[tuple[str, dict[str, Any]]]],
    window_index: dict[str, tuple[Window, Document]],
    known: list[GroundedItem],
    schema: type[ExtractionSchema],
) -> AddedSpans:
    """Spans reviewers marked that no known item has (same offsets and label), as items.

    `responses`: window id → [(reviewer, submitted values)]. A span is checked against the
    window's own text: offsets out of range are reported, never guessed.
    """
    attribute, labels = span_labels(schema)
    have = {(i.span.doc_id, i.span.start, i.span.end, item_label(i, attribute, schema)) for i in known}
    added = AddedSpans()
    for window_id, answers in sorted(responses.items()):
        if window_id not in window_index:
            added.problems.append({"record": window_id, "problem": "not a window of this build's documents"})
            continue
        window, document = window_index[window_id]
        text = document.text[window.start : window.end]
        for reviewer, values in answers:
            added.checked_windows.add(window_id)
            added.checked_documents.add(document.id)
            for mark in values.get(FOUND) or []:
                problem = _mark_problem(mark, len(text), labels)
                if problem:
                    added.problems.append({"record": window_id, "reviewer": reviewer, "problem": problem})
                    continue
                start, end = _trimmed(text, int(mark["start"]), int(mark["end"]))
                if start == end:
                    added.problems.append({"record": window_id, "reviewer": reviewer, "problem": "the span is blank"})
                    continue
                start, end = window.start + start, window.start + end
                key = (document.id, start, end, str(mark["label"]))
                if key in have:
                    continue
                attributes = {attribute: mark["label"]} if attribute else {}
                item_id = content_id(document.id, start, end, schema.schema_name(), attributes, "reviewer",
                                     prefix="item-")  # fmt: skip
                if item_id in added.items:
                    added.items[item_id][1].append(reviewer)
                    continue
                item = GroundedItem(
                    id=item_id,
                    schema_name=schema.schema_name(),
                    extraction_class=schema.extraction_class,
                    span={"doc_id": document.id, "start": start, "end": end, "text": document.text[start:end]},
                    attributes=_typed(attributes, schema),
                    model=f"reviewer:{reviewer}",
                    match="exact",
                )
                added.items[item_id] = (item, [reviewer])
    return added


def _mark_problem(mark: Any, length: int, labels: list[str]) -> str | None:
    if not isinstance(mark, dict) or not {"start", "end", "label"} <= set(mark):
        return f"not a span: {mark!r}"
    start, end = mark["start"], mark["end"]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= length):
        return f"span {start}–{end} lies outside the record's text (0–{length})"
    if str(mark["label"]) not in labels:
        return f"label {mark['label']!r} is not one of {labels}"
    return None


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """A marked span without the spaces a mouse selection picks up at its ends."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _typed(attributes: dict[str, Any], schema: type[ExtractionSchema]) -> dict[str, Any]:
    """Labels are strings; a bool- or number-valued attribute gets its own type back."""
    typed = {}
    for name, label in attributes.items():
        spec = schema.attribute_json_schema().get(name, {})
        values = spec.get("enum") or ([True, False] if spec.get("type") == "boolean" else [])
        typed[name] = next((v for v in values if str(v) == str(label)), label)
    return typed


def added_state(item: GroundedItem, schema: type[ExtractionSchema]) -> str:
    """'complete' (valid as marked), 'pending' (only attributes missing) or why it cannot be an item."""
    try:
        schema.validate_item(item.span.text, item.attributes)
    except ValidationError as exc:
        errors = exc.errors()
        if all(error["type"] == "missing" for error in errors):
            return "pending"
        return f"the marked text is not a valid item: {first_problem(exc)}"
    return "complete"
