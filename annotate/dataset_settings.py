"""The schema, turned into the Argilla dataset reviewers work in.

Fields show the record and its grounded evidence; questions ask for a
decision, an optional corrected output and a quality rating; metadata lets
reviewers filter by document, model and stratum; a MiniLM vector powers
"find similar".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from core.options.review import ReviewOptions
from schemas.base import ExtractionSchema

if TYPE_CHECKING:
    import argilla as rg

DECISION = "decision"
CORRECTION = "corrected_output"
QUALITY = "quality"
SPAN = "evidence_span"
VECTOR = "embedding"
VECTOR_DIMENSIONS = 384
ACCEPT, REJECT = "accept", "reject"
METADATA_TERMS = ("doc_id", "schema", "model", "template", "stratum")
METADATA_INTEGERS = ("length",)


_AGENT_UNSAFE = re.compile(r"[^a-zA-Z0-9\-_:./\s]")


def agent_name(model: str) -> str:
    """A model id as Argilla accepts a suggestion's agent."""
    return _AGENT_UNSAFE.sub("-", model).strip() or "model"


def bulk_item(
    external_id: str,
    fields: dict[str, Any],
    metadata: dict[str, Any],
    suggestions: list[dict[str, Any]],
    vector: list[float] | None,
) -> dict[str, Any]:
    """One record of the bulk-upsert endpoint; the content id is the external id, so a re-push updates."""
    item: dict[str, Any] = {"external_id": external_id, "fields": fields, "metadata": metadata, "suggestions": suggestions}
    if vector is not None:
        item["vectors"] = {VECTOR: vector}
    return item


def dataset_name(schema: type[ExtractionSchema], options: ReviewOptions) -> str:
    return options.dataset or f"{schema.schema_name().lower()}-review"


def guidelines(schema: type[ExtractionSchema]) -> str:
    task = (schema.__doc__ or "").strip()
    return (
        f"## What the records teach\n\n{task}\n\n"
        "## How to review\n\n"
        "1. Read the **evidence**: the highlighted span is what the output must be grounded in.\n"
        "2. **Accept** when the output is correct and supported by the evidence; edit the "
        "**corrected output** box first if only its wording or a detail is wrong.\n"
        "3. **Reject** when the evidence does not support the task or the output cannot be fixed.\n"
        "4. Rate the overall quality from 1 (useless) to 5 (exemplary)."
    )


def build_settings(schema: type[ExtractionSchema], options: ReviewOptions) -> "rg.Settings":
    import argilla as rg

    fields = [
        rg.TextField(name="instruction", title="Instruction", use_markdown=False),
        rg.TextField(name="input", title="Input", use_markdown=False),
        rg.TextField(name="output", title="Model output", use_markdown=False),
        rg.TextField(name="evidence", title="Source evidence (grounded span highlighted)", use_markdown=True),
    ]
    questions = [
        rg.LabelQuestion(
            name=DECISION,
            title="Is the output correct and grounded in the evidence?",
            labels={ACCEPT: "Accept", REJECT: "Reject"},
            required=True,
        ),
        rg.TextQuestion(
            name=CORRECTION,
            title="Corrected output (edit the suggestion; leave it unchanged if the output is right)",
            required=False,
            use_markdown=False,
        ),
        rg.RatingQuestion(name=QUALITY, title="Quality (1 = useless, 5 = exemplary)", values=[1, 2, 3, 4, 5], required=False),
    ]
    if options.span_question:
        fields.append(rg.TextField(name="evidence_text", title="Evidence context", use_markdown=False))
        questions.append(
            rg.SpanQuestion(
                name=SPAN,
                field="evidence_text",
                labels=["evidence"],
                title="Mark the text that supports the output (fix the suggested span if needed)",
                required=False,
                allow_overlapping=False,
            )
        )
    metadata = [rg.TermsMetadataProperty(name=name, title=name.replace("_", " ")) for name in METADATA_TERMS]
    metadata += [rg.IntegerMetadataProperty(name=name, title="output length") for name in METADATA_INTEGERS]
    return assemble(guidelines(schema), fields, questions, metadata, options)


def assemble(text: str, fields: list, questions: list, metadata: list, options: ReviewOptions) -> "rg.Settings":
    """A review dataset's settings: the gate's reviews per record, MiniLM vectors when asked for."""
    import argilla as rg

    vectors = [rg.VectorField(name=VECTOR, dimensions=VECTOR_DIMENSIONS, title="MiniLM")] if options.vectors else []
    return rg.Settings(
        guidelines=text,
        fields=fields,
        questions=questions,
        metadata=metadata,
        vectors=vectors,
        distribution=rg.TaskDistribution(min_submitted=options.required_reviews),
        allow_extra_metadata=False,
    )
