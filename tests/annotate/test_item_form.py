"""The schema as the review form, and reviewers' marks read back: no server needed for these rules."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

from annotate.item_form import attribute_questions
from annotate.missed_dataset import Window, read_added, windows
from schemas.base import Example, ExtractionSchema, RecordTemplate
from schemas.types import Document, GroundedItem, Span


class Obligation(ExtractionSchema):
    """Find what a contract obliges a party to do."""

    extraction_class = "duty"
    stratify_by = "party"
    party: Literal["buyer", "seller"] = Field(description="who must do it")
    urgent: bool = Field(False, description="due within a week")
    priority: int = Field(3, ge=1, le=5)
    amount: float | None = None
    tags: list[Literal["payment", "delivery"]] = Field(default_factory=list)
    note: str = ""
    source: str = "contract"  # a name the dataset uses itself

    examples = [Example(text="The buyer shall pay.", items=[{"evidence": "The buyer shall pay.", "party": "buyer"}])]
    templates = [RecordTemplate(name="who", instruction="Who must act?", output="{party}")]


def test_each_attribute_is_asked_the_way_its_type_needs():
    questions = {q.attribute: q for q in attribute_questions(Obligation)}
    assert {a: q.kind for a, q in questions.items()} == {
        "party": "label", "urgent": "yes_no", "priority": "rating", "amount": "json", "tags": "multi_label",
        "note": "text", "source": "text",
    }  # fmt: skip
    assert questions["priority"].values == (1, 2, 3, 4, 5)
    assert questions["source"].name == "attr_source"  # the dataset's own metadata is called "source"
    assert questions["party"].description == "who must do it"


def test_answers_come_back_in_the_schemas_types_or_say_what_is_wrong():
    questions = {q.attribute: q for q in attribute_questions(Obligation)}
    assert questions["urgent"].read("true") is True and questions["urgent"].suggestion(False) == "false"
    assert questions["tags"].read(["delivery"]) == ["delivery"]
    assert questions["amount"].read("12.5") == 12.5 and questions["amount"].suggestion(None) is None
    with pytest.raises(ValueError, match="'courier' is not one of"):
        questions["party"].read("courier")
    with pytest.raises(ValueError, match="amount: not valid JSON"):
        questions["amount"].read("twelve")


TEXT = "The buyer shall pay within 30 days.\n\nThe seller shall deliver the goods to the buyer's address."


def _document() -> Document:
    return Document(id="doc-1", source="c.txt", mime="text/plain", title="Contract", text=TEXT)


def test_windows_cut_at_paragraphs_and_cover_the_document():
    document = _document()
    parts = windows(document, max_chars=60)
    assert [TEXT[w.start : w.end].strip() for w in parts] == [p for p in TEXT.split("\n\n")]
    assert windows(document, max_chars=5000) == [Window("doc-1", 0, len(TEXT))]


def test_marked_spans_become_items_of_the_documents_own_text_or_are_reported():
    document = _document()
    window = Window("doc-1", 0, len(TEXT))
    pay = TEXT.index("The buyer shall pay")
    known = GroundedItem(id="item-1", schema_name="Obligation", extraction_class="duty",
                         span=Span(doc_id="doc-1", start=pay, end=pay + 35, text=TEXT[pay : pay + 35]),
                         attributes={"party": "buyer"}, model="m")  # fmt: skip
    deliver = TEXT.index("The seller")
    marks = [
        {"label": "buyer", "start": pay, "end": pay + 35},  # the model's own find: not an addition
        {"label": "seller", "start": deliver - 2, "end": len(TEXT)},  # spaces picked up by the mouse are trimmed
        {"label": "seller", "start": 10, "end": len(TEXT) + 40},  # past the record's text
        {"label": "courier", "start": 0, "end": 9},  # not a label of the question
        {"label": "buyer", "start": 35, "end": 37},  # only a paragraph break
    ]
    added = read_added({window.id: [("ana", {"items": marks})], "win-unknown": [("ana", {})]},
                       {window.id: (window, document)}, [known], Obligation)  # fmt: skip
    (item, reviewers), = added.items.values()
    assert item.span.text == TEXT[deliver:] == document.text[item.span.start : item.span.end]
    assert item.attributes == {"party": "seller"} and reviewers == ["ana"] and item.model == "reviewer:ana"
    problems = sorted(p["problem"] for p in added.problems)
    assert problems == sorted([
        "not a window of this build's documents",
        f"span 10–{len(TEXT) + 40} lies outside the record's text (0–{len(TEXT)})",
        "label 'courier' is not one of ['buyer', 'seller']",
        "the span is blank",
    ])
    assert added.checked_documents == {"doc-1"}
