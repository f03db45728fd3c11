"""The item-level review dataset: one Argilla record per extracted item, the schema as its form.

Records are pushed in reading order (document, then span start) and the queue follows
insertion order, so a reviewer meets a document's items as they appear in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from annotate import dataset_settings as ds
from annotate.evidence import span_plain, spans_markdown
from annotate.item_form import attribute_questions
from builder.records import document_title
from core.options.review import ReviewOptions
from schemas.base import ExtractionSchema, closed_values
from schemas.types import Document, GroundedItem

if TYPE_CHECKING:
    import argilla as rg

METADATA_TERMS = ("document", "doc_id", "model", "source", "match")
JUDGE_SCORE, JUDGE_DOUBT = "judge_score", "judge_doubt"  # sort the queue by doubt to meet the worst first


def dataset_name(schema: type[ExtractionSchema], options: ReviewOptions) -> str:
    return options.dataset or f"{schema.schema_name().lower()}-items"


def metadata_name(attribute: str) -> str:
    return f"value_{attribute.lower()}"


def guidelines(schema: type[ExtractionSchema]) -> str:
    task = (schema.__doc__ or "").strip()
    return (
        f"## What was extracted\n\n{task}\n\n"
        "## How to review\n\n"
        "Each record is one item the model found, with its evidence highlighted in the document.\n\n"
        "1. **Accept** when the evidence states the item. The model's answers are filled in below: "
        "change any that is wrong, then submit — a changed answer is a correction.\n"
        "2. **Reject** when the evidence does not state such an item, or the highlighted text is not "
        "what the schema asks for (a heading, a title, a fragment).\n"
        "3. Items the model missed are added in the companion dataset ending in `-missed`."
    )


def build_settings(schema: type[ExtractionSchema], options: ReviewOptions) -> "rg.Settings":
    import argilla as rg

    fields = [rg.TextField(name="evidence", title="Evidence in its document", use_markdown=True)]
    questions: list[Any] = [
        rg.LabelQuestion(
            name=ds.DECISION,
            title="Does the evidence state this item?",
            labels={ds.ACCEPT: "Accept", ds.REJECT: "Reject"},
            required=True,
        )
    ]
    questions += [question.to_argilla() for question in attribute_questions(schema)]
    if options.span_question:
        fields.append(rg.TextField(name="evidence_text", title="Evidence context", use_markdown=False))
        questions.append(
            rg.SpanQuestion(
                name=ds.SPAN,
                field="evidence_text",
                labels=["evidence"],
                title="Fix the evidence span if it is too short or too long",
                required=False,
                allow_overlapping=False,
            )
        )
    metadata: list[Any] = [rg.TermsMetadataProperty(name=name, title=name) for name in METADATA_TERMS]
    metadata += [
        rg.TermsMetadataProperty(name=metadata_name(attribute), title=attribute.replace("_", " "))
        for attribute in closed_values(schema)
    ]
    metadata.append(rg.IntegerMetadataProperty(name="position", title="reading order"))
    metadata += [rg.IntegerMetadataProperty(name=JUDGE_SCORE, title="judge's score", min=1, max=5),
                 rg.FloatMetadataProperty(name=JUDGE_DOUBT, title="judge's doubt", min=0.0, max=1.0)]  # fmt: skip
    return ds.assemble(guidelines(schema), fields, questions, metadata, options)


def reading_order(items: list[GroundedItem], documents: dict[str, Document]) -> list[GroundedItem]:
    """Items by document (title, then id) and by position in it."""
    def key(item: GroundedItem) -> tuple:
        document = documents.get(item.span.doc_id)
        title = document_title(document) if document else ""
        return (title.lower(), item.span.doc_id, item.span.start, item.span.end, item.id)

    return sorted(items, key=key)


def item_payload(
    item: GroundedItem,
    position: int,
    source: str,
    schema: type[ExtractionSchema],
    documents: dict[str, Document],
    options: ReviewOptions,
    question_ids: dict[str, str],
    vector: list[float] | None,
    verdict: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bulk-upsert body of one item: evidence, the model's answers as suggestions, metadata.

    With the judge's `verdict`: its accept/reject suggestion (scored by its confidence), each value's
    suggestion scored 1 where the judge found it supported and 0 where not, its reasons under the
    evidence, and its score and doubt as metadata to sort and filter by.
    """
    fields = {"evidence": spans_markdown([item.span], documents, options.context_chars)}
    agent = ds.agent_name(item.model)
    suggestions = []
    for question in attribute_questions(schema):
        value = question.suggestion(item.attributes.get(question.attribute))
        if value is not None:
            suggestion = {"question_id": question_ids[question.name], "value": value, "agent": agent, "type": "model"}
            if verdict and question.attribute in verdict["values"]:
                suggestion["score"] = 1.0 if verdict["values"][question.attribute] else 0.0
            suggestions.append(suggestion)
    if verdict:
        fields["evidence"] += "\n\n" + judge_markdown(verdict)
        doubtful = verdict["doubt"] >= 0.5
        suggestions.append({"question_id": question_ids[ds.DECISION], "value": ds.REJECT if doubtful else ds.ACCEPT,
                            "score": verdict["doubt"] if doubtful else round(1 - verdict["doubt"], 4),
                            "agent": ds.agent_name(f"judge-{verdict['judge']}"), "type": "model"})  # fmt: skip
    if options.span_question:
        text, spans = span_plain(item.span, documents, options.context_chars)
        fields["evidence_text"] = text
        suggestions.append({"question_id": question_ids[ds.SPAN], "value": spans, "agent": agent, "type": "model"})
    document = documents.get(item.span.doc_id)
    metadata: dict[str, Any] = {
        "document": document_title(document) if document else item.span.doc_id,
        "doc_id": item.span.doc_id,
        "model": item.model,
        "source": source,
        "match": item.match,
        "position": position,
    }
    if verdict:
        metadata[JUDGE_SCORE], metadata[JUDGE_DOUBT] = verdict["score"], verdict["doubt"]
    for attribute in closed_values(schema):
        value = item.attributes.get(attribute)
        if value not in (None, "", []):
            metadata[metadata_name(attribute)] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return ds.bulk_item(item.id, fields, metadata, suggestions, vector)


def judge_markdown(verdict: dict[str, Any]) -> str:
    """The judge's verdict as a reviewer reads it under the evidence: the score, then what it doubts."""
    lines = [f"**Judge** ({verdict['judge']}): {verdict['score']}/5 — {_plain(verdict['reason'])}"]
    if not verdict["right_kind_of_text"]:
        lines.append("- the evidence is not the kind of text the task asks for")
    labels = verdict.get("labels") or {}
    lines += [f"- {name}: not supported by the evidence"
              + (f" (the judge reads it as {_plain(labels[name])})" if name in labels else "")
              for name, supported in verdict["values"].items() if not supported]  # fmt: skip
    return "\n".join(lines)


def _plain(text: str) -> str:
    """A model's reason as inert Markdown: no links, images, HTML or headings of its own."""
    return text.replace("\n", " ").translate({ord(c): f"\\{c}" for c in "[]()<>#*_`!"})
