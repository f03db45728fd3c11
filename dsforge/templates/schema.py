"""What to extract from your documents, and how each item becomes a training record.

This file is the one contract of the project: the model is prompted with it, its
answers are validated against it, reviewers see it as their form, and records are
rendered from it. Edit it to fit your documents; README "Your own project" says more.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import Example, ExtractionSchema, RecordTemplate

# A short passage in the style of your documents. Every `evidence` below must be copied from it
# word for word: an item whose evidence is not the document's own text is rejected.
_EXAMPLE_TEXT = (
    "Visitors must sign in at the front desk before entering the laboratory. "
    "Safety glasses are provided at the entrance. "
    "Food and drink are not allowed in the laboratory."
)


class KeyStatement(ExtractionSchema):
    """You read documents and find the sentences that state a rule or a fact a reader must know:
    what is required, what is allowed, what is forbidden, and plain facts. The evidence is the
    sentence itself, copied exactly; skip headings, titles and links."""

    # The name of one extracted item (shown to the model and in the review form).
    extraction_class = "statement"
    # The field splits are balanced on: each value gets its share of train/validation/test.
    stratify_by = "kind"

    # Every extracted item has these fields; the Field descriptions are part of the prompt.
    evidence: str = Field(min_length=10, description="the sentence, copied verbatim from the document")
    kind: Literal["requirement", "permission", "prohibition", "fact"] = Field(
        description="what the sentence does: requires, allows, forbids, or states a fact"
    )
    summary: str = Field(min_length=3, description="one plain sentence saying what it means for the reader")

    # One worked example teaches the model the shape of an answer.
    examples = [
        Example(
            text=_EXAMPLE_TEXT,
            items=[
                {
                    "evidence": "Visitors must sign in at the front desk before entering the laboratory.",
                    "kind": "requirement",
                    "summary": "Sign in at the front desk before you go into the lab.",
                },
                {
                    "evidence": "Safety glasses are provided at the entrance.",
                    "kind": "fact",
                    "summary": "You can pick up safety glasses at the entrance.",
                },
                {
                    "evidence": "Food and drink are not allowed in the laboratory.",
                    "kind": "prohibition",
                    "summary": "Do not bring food or drink into the lab.",
                },
            ],
        )
    ]

    # Each template turns one item into one instruction record; {field} names a field above,
    # {doc_title} the document's title, {item_json} the whole item as JSON.
    templates = [
        RecordTemplate(
            name="explain",
            instruction="Explain what this statement from {doc_title} means for the reader.",
            input="{evidence}",
            output="{summary}",
        ),
        RecordTemplate(
            name="classify",
            instruction=(
                "Is this statement a requirement, a permission, a prohibition or a fact? "
                "Answer in JSON with keys kind and summary."
            ),
            input="{evidence}",
            output="{item_json}",
        ),
    ]
