"""clean_documents: text steps, then length and duplicate filters, each reported.

Cleaning happens once, before extraction, and its output is what gets stored:
spans index the cleaned text, so it must never change afterwards. Steps run
until the text stops changing, which makes cleaning a projection: cleaning
cleaned text is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasketch import MinHash

from builder.clean.dedup import Duplicate, find_exact_duplicates, find_near_duplicates
from builder.clean.registry import TextStep, build_steps
from builder.clean.report import CleanResult, DroppedDocument, DropReason, StepReport
from core.options.clean import CleanOptions
from schemas.types import Document

# Rounds until a fixed point; real text settles in one, plus one to confirm.
MAX_ROUNDS = 5


@dataclass
class _Tally:
    changed: set[int] = field(default_factory=set)
    removed: int = 0
    added: int = 0


def clean_text(text: str, options: CleanOptions) -> str:
    """Clean one string exactly as clean_documents would, e.g. for text typed at inference time."""
    steps = build_steps(options)
    return _run(text, steps, {name: _Tally() for name, _ in steps}, 0)


def clean_documents(docs: list[Document], options: CleanOptions) -> CleanResult:
    steps = build_steps(options)
    tallies = {name: _Tally() for name, _ in steps}
    reports: list[StepReport] = []
    dropped: list[DroppedDocument] = []

    kept: list[Document] = []
    for index, doc in enumerate(docs):
        cleaned = _with_text(doc, _run(doc.text, steps, tallies, index))
        if len(cleaned.text) < options.min_chars:
            detail = (
                f"{len(cleaned.text)} characters after cleaning, fewer than min_chars={options.min_chars}"
            )
            dropped.append(_dropped(cleaned, "too_short", detail))
        else:
            kept.append(cleaned)
    reports.extend(
        StepReport(name=name, documents_changed=len(t.changed), chars_removed=t.removed, chars_added=t.added)
        for name, t in tallies.items()
    )
    if options.min_chars > 0:
        reports.append(StepReport(name="min_chars", documents_dropped=len(dropped)))

    return drop_duplicates(CleanResult(documents=kept, steps=reports, dropped=dropped), options)


def drop_duplicates(
    result: CleanResult,
    options: CleanOptions,
    exact_keys: list[str] | None = None,
    signatures: list[MinHash | None] | None = None,
) -> CleanResult:
    """Exact, then near duplicates across all of `result.documents`; the earliest survives.

    `exact_keys` and `signatures` (one per document, e.g. computed by parallel
    workers) are used as given, so a distributed build drops exactly what a
    local one does.
    """
    kept, reports, dropped = list(result.documents), list(result.steps), list(result.dropped)
    if options.dedup_exact:
        exact = find_exact_duplicates(kept, exact_keys)
        if signatures is not None:
            gone = {dup.index for dup in exact}
            signatures = [sig for index, sig in enumerate(signatures) if index not in gone]
        kept = _drop(kept, exact, "exact_duplicate", "dedup_exact", reports, dropped)
    if options.dedup_near.enabled:
        near = find_near_duplicates(kept, options.dedup_near, signatures)
        kept = _drop(kept, near, "near_duplicate", "dedup_near", reports, dropped)
    return CleanResult(documents=kept, steps=reports, dropped=dropped)


def _run(text: str, steps: list[tuple[str, TextStep]], tallies: dict[str, _Tally], index: int) -> str:
    for _ in range(MAX_ROUNDS):
        start = text
        for name, step in steps:
            result = step(text)
            if result != text:
                tally = tallies[name]
                tally.changed.add(index)
                tally.removed += max(0, len(text) - len(result))
                tally.added += max(0, len(result) - len(text))
                text = result
        if text == start:
            break
    return text


def _with_text(doc: Document, text: str) -> Document:
    # Re-cleaning keeps the first raw_id, so the link to the ingested text survives.
    raw_id = doc.metadata.get("raw_id", doc.id)
    return Document(
        id=Document.make_id(text),
        source=doc.source,
        mime=doc.mime,
        title=doc.title,
        text=text,
        metadata={**doc.metadata, "raw_id": raw_id},
    )


def _drop(
    docs: list[Document],
    duplicates: list[Duplicate],
    reason: DropReason,
    step: str,
    reports: list[StepReport],
    dropped: list[DroppedDocument],
) -> list[Document]:
    for dup in duplicates:
        original = docs[dup.original]
        if reason == "exact_duplicate":
            detail = f"same text as {original.source}, ignoring case and whitespace"
        else:
            detail = f"near-duplicate of {original.source} (estimated Jaccard {dup.similarity:.2f})"
        dropped.append(_dropped(docs[dup.index], reason, detail, original, dup.similarity))
    reports.append(StepReport(name=step, documents_dropped=len(duplicates)))
    gone = {dup.index for dup in duplicates}
    return [doc for index, doc in enumerate(docs) if index not in gone]


def _dropped(
    doc: Document,
    reason: DropReason,
    detail: str,
    original: Document | None = None,
    similarity: float | None = None,
) -> DroppedDocument:
    return DroppedDocument(
        doc_id=doc.id,
        raw_id=doc.metadata["raw_id"],
        source=doc.source,
        reason=reason,
        detail=detail,
        duplicate_of=original.id if original else None,
        duplicate_of_source=original.source if original else None,
        similarity=similarity,
    )
