"""Schema-driven extraction through langextract, with every item grounded in its source.

Each document is extracted by its own `lx.extract` call, so one bad document
cannot fail the others; the caching wrapper isolates failures further, per
chunk. An item is kept only when langextract aligned it exactly, the span we
re-read from the cleaned text equals the evidence, and the schema accepts it.

With `extraction.max_workers` above 1 (a server that takes concurrent requests),
documents are extracted side by side and every chunk of every document is one
request of a single window of `max_workers` requests in flight: a server is kept
as busy with a thousand one-chunk documents as with one long one. Each document's
result is assembled on its own and the results are joined in document order, so
the outputs are the same bytes whatever the concurrency and the order requests
finish in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import langextract as lx
from langextract import data_lib
from langextract.core import data as lx_data
from pydantic import ValidationError

from builder.caching_model import CachingModel
from builder.grounding import Located, locate
from builder.recall_pass import NONE_OF_THESE, abstains, focus_description, keeps, missing_values
from core.options.extraction import ExtractionOptions
from schemas.base import ExtractionSchema
from schemas.types import Document, GroundedItem, Reject, Span, content_id

log = logging.getLogger(__name__)


@dataclass
class ExtractionResult:
    items: list[GroundedItem] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    annotated: list[lx_data.AnnotatedDocument] = field(default_factory=list)
    chunks: int = 0

    def add(self, other: ExtractionResult) -> None:
        self.items.extend(other.items)
        self.rejects.extend(other.rejects)
        self.annotated.extend(other.annotated)
        self.chunks += other.chunks


def extract_documents(
    documents: Sequence[Document],
    schema: type[ExtractionSchema],
    model: CachingModel,
    options: ExtractionOptions,
    model_name: str,
    on_document: Callable[[Document], None] | None = None,
    examples: Sequence[Any] = (),
) -> ExtractionResult:
    """Extract, ground and validate items from every document; with `recall_pass`, ask again for what is missing.

    `examples`: more few-shot examples after the schema's own (builder/review_examples.py).
    """
    task = (schema.prompt_description(), [*schema.langextract_examples(), *examples])
    if options.requests_in_flight() > 1 and len(documents) > 1:
        return _extract_side_by_side(documents, task, schema, model, options, model_name, on_document)
    result = ExtractionResult()
    for document in documents:
        result.add(_extract_document(document, task, schema, model, options, model_name))
        if on_document:
            on_document(document)
    return result


def _extract_side_by_side(
    documents: Sequence[Document],
    task: tuple[str, list[Any]],
    schema: type[ExtractionSchema],
    model: CachingModel,
    options: ExtractionOptions,
    model_name: str,
    on_document: Callable[[Document], None] | None,
) -> ExtractionResult:
    """Up to `max_workers` documents at once, their chunks through one window of `max_workers` requests.

    Stopped (Ctrl-C, or a failure the build cannot go on from), it starts nothing new: queued
    documents and requests are cancelled, and only the requests already in flight finish — into
    the completion cache, so the rerun does not ask for them again.
    """
    views = [model.for_document(document.id) for document in documents]
    window = ThreadPoolExecutor(options.requests_in_flight(), thread_name_prefix="dsforge-request")
    workers = ThreadPoolExecutor(options.requests_in_flight(), thread_name_prefix="dsforge-document")
    try:
        for view in views:
            view.window = window
        futures = [
            workers.submit(_extract_document, document, task, schema, view, options, model_name)
            for document, view in zip(documents, views, strict=True)
        ]
        results = []
        for document, view, future in zip(documents, views, futures, strict=True):
            results.append(future.result())  # document order: the outputs do not depend on timing
            model.stats.add(view.stats)
            if on_document:
                on_document(document)
    except BaseException:
        for pool in (workers, window):
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    for pool in (workers, window):
        pool.shutdown()
    result = ExtractionResult()
    for one in results:
        result.add(one)
    return result


def _extract_document(
    document: Document,
    task: tuple[str, list[Any]],
    schema: type[ExtractionSchema],
    model: CachingModel,
    options: ExtractionOptions,
    model_name: str,
) -> ExtractionResult:
    """One document's items, rejects, annotated document and chunk count."""
    result = ExtractionResult()
    annotated = _extract_one(document, task, model, options, result)
    if annotated is None:
        return result
    items, rejects = ground_extractions(
        document, annotated.extractions or [], schema, model_name, reground=options.reground
    )
    for size in options.more_chunk_sizes():  # the whole document again, cut at another size
        if len(document.text) <= min(size, options.max_char_buffer):
            continue  # one chunk at either size: the same text, asked once
        resized = options.model_copy(update={"max_char_buffer": size})
        again = _extract_one(document, task, model.at_chunk_size(size), resized, result)
        if again is not None:
            added, more_rejects = _join_pass(document, annotated, again.extractions or [], schema, model_name,
                                             options, items)  # fmt: skip
            items += added
            rejects += more_rejects
    if options.recall_pass:
        added, more_rejects = _second_pass(
            document, annotated, task, schema, model, options, model_name, result, items
        )
        items += added
        rejects += more_rejects
    result.annotated.append(annotated)
    result.items.extend(items)
    result.rejects.extend(rejects)
    return result


def _second_pass(
    document: Document,
    annotated: lx_data.AnnotatedDocument,
    task: tuple[str, list[Any]],
    schema: type[ExtractionSchema],
    model: CachingModel,
    options: ExtractionOptions,
    model_name: str,
    result: ExtractionResult,
    items: list[GroundedItem],
) -> tuple[list[GroundedItem], list[Reject]]:
    """The focused pass over one document (builder.recall_pass): the items it adds and its rejects.

    Its answers join `annotated`'s extractions, so extractions.jsonl shows both passes.
    """
    missing = missing_values(schema, items)
    focus = focus_description(schema, missing)
    if focus is None:
        return [], []
    if model.takes_json_schema_per_call:
        model.json_schema = schema.output_schema(only=missing, extra_value=NONE_OF_THESE)
    try:
        second = _extract_one(document, (f"{task[0]}\n\n{focus}", task[1]), model, options, result)
    finally:
        model.json_schema = None
    if second is None:
        return [], []
    answers = [e for e in second.extractions or [] if not abstains(dict(e.attributes or {}), missing)]
    added, rejects = _join_pass(document, annotated, answers, schema, model_name, options, items)
    return [item for item in added if keeps(item, missing)], rejects


def _join_pass(
    document: Document,
    annotated: lx_data.AnnotatedDocument,
    answers: Sequence[lx_data.Extraction],
    schema: type[ExtractionSchema],
    model_name: str,
    options: ExtractionOptions,
    items: list[GroundedItem],
) -> tuple[list[GroundedItem], list[Reject]]:
    """A later pass's answers: shown with the first pass's in extractions.jsonl, grounded, and the
    items not found before (same span and values) returned with the pass's rejects."""
    annotated.extractions = [*(annotated.extractions or []), *answers]
    grounded, rejects = ground_extractions(document, answers, schema, model_name, reground=options.reground)
    known = {item.id for item in items}
    return [item for item in grounded if item.id not in known], rejects


def _extract_one(
    document: Document,
    task: tuple[str, list[Any]],
    model: CachingModel,
    options: ExtractionOptions,
    result: ExtractionResult,
) -> lx_data.AnnotatedDocument | None:
    """One `lx.extract` over one document with `task` (description, examples); faults become rejects."""
    model.current_doc_id = document.id
    events_before = len(model.stats.events)
    prompts_before = model.stats.prompts
    try:
        annotated = lx.extract(
            text_or_documents=document.text,
            prompt_description=task[0],
            examples=task[1],
            model=model,
            max_char_buffer=options.max_char_buffer,
            batch_length=options.batch_length,
            # In the shared window each request is the window's; langextract need not fan out itself.
            max_workers=1 if model.window is not None else options.requests_in_flight(),
            extraction_passes=options.extraction_passes,
            context_window_chars=options.context_window_chars,
            # dsforge never keeps a fuzzy span (it re-grounds by its own search), and langextract's
            # fuzzy aligner costs ~30 ms of Python per unaligned item: the client's largest cost.
            resolver_params={"suppress_parse_errors": True, "enable_fuzzy_alignment": False},
            prompt_validation_level=lx.prompt_validation.PromptValidationLevel.OFF,
            show_progress=False,
            use_schema_constraints=False,
        )
    except Exception as exc:  # noqa: BLE001 - one document's failure is reported, not fatal
        log.warning("extraction failed for %s: %s", document.source, exc)
        result.rejects.append(
            Reject(doc_id=document.id, reason="provider_error", detail=f"{type(exc).__name__}: {exc}")
        )
        return None
    finally:
        # Retries are calls, not chunks: count the prompts asked for.
        result.chunks += model.stats.prompts - prompts_before
    for event in model.stats.events[events_before:]:
        result.rejects.append(
            Reject(doc_id=event.doc_id, reason=event.reason, detail=event.detail)  # type: ignore[arg-type]
        )
    annotated.document_id = document.id
    return annotated


def ground_extractions(
    document: Document,
    extractions: Sequence[lx_data.Extraction],
    schema: type[ExtractionSchema],
    model_name: str,
    reground: bool = True,
) -> tuple[list[GroundedItem], list[Reject]]:
    """Keep schema-valid extractions whose evidence is the cleaned text's own, at a re-checked span.

    langextract's exact alignment is taken when the text at its span is the
    evidence; otherwise (`reground`) the document is searched for it
    (builder.grounding), nearest the aligner's position or, unaligned, the
    previous item's. Several items on one span are all kept.
    """
    items: dict[str, GroundedItem] = {}
    rejects: list[Reject] = []
    position = 0
    for extraction in extractions:
        text = extraction.extraction_text or ""
        attributes = dict(extraction.attributes or {})
        interval = extraction.char_interval
        span = (interval.start_pos, interval.end_pos) if interval else None
        aligned = span is not None and None not in span

        def reject(reason: str, detail: str) -> None:
            rejects.append(
                Reject(
                    doc_id=document.id,
                    reason=reason,  # type: ignore[arg-type]
                    detail=detail,
                    extraction_text=text,
                    attributes=attributes,
                    char_interval=span if aligned else None,
                )
            )

        if extraction.extraction_class != schema.extraction_class:
            reject("invalid", f"class {extraction.extraction_class!r} is not {schema.extraction_class!r}")
            continue
        located = _aligned_span(document, extraction, text)
        if located is None and reground:
            located = locate(document.text, text, hint=span[0] if aligned else position)  # type: ignore[index]
        if located is None:
            reject("ungrounded", _ungrounded_detail(document, extraction, text))
            continue
        position = located.start
        try:
            validated = schema.validate_item(located.text, attributes)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or 'item'}: {err['msg']}" for err in exc.errors()
            )
            reject("invalid", problems)
            continue
        values = validated.model_dump(mode="json")
        values.pop("evidence")
        start, end = located.start, located.end
        item_id = content_id(
            document.id, start, end, schema.schema_name(), values, model_name, prefix="item-"
        )
        items.setdefault(
            item_id,
            GroundedItem(
                id=item_id,
                schema_name=schema.schema_name(),
                extraction_class=schema.extraction_class,
                span=Span(doc_id=document.id, start=start, end=end, text=located.text),
                attributes=values,
                model=model_name,
                match=located.method,
            ),
        )
    return list(items.values()), rejects


def _aligned_span(document: Document, extraction: lx_data.Extraction, text: str) -> Located | None:
    """langextract's own span, when it claims an exact match and the document agrees."""
    interval = extraction.char_interval
    if interval is None or interval.start_pos is None or interval.end_pos is None:
        return None
    if extraction.alignment_status != lx_data.AlignmentStatus.MATCH_EXACT:
        return None
    start, end = interval.start_pos, interval.end_pos
    if document.text[start:end] != text:
        return None
    return Located(start, end, text, "aligner")


def _ungrounded_detail(document: Document, extraction: lx_data.Extraction, text: str) -> str:
    interval = extraction.char_interval
    if interval is None or interval.start_pos is None or interval.end_pos is None:
        return "the evidence was not found in the document"
    if extraction.alignment_status != lx_data.AlignmentStatus.MATCH_EXACT:
        status = extraction.alignment_status.value if extraction.alignment_status else "none"
        return f"alignment is {status}, not an exact match, and the document does not contain the evidence"
    start, end = interval.start_pos, interval.end_pos
    return f"text at [{start}:{end}] differs from the evidence, which the document does not contain"


def annotated_rows(annotated: Sequence[lx_data.AnnotatedDocument]) -> list[dict[str, Any]]:
    """langextract's own JSONL rows, so its tools can read the build."""
    return [data_lib.annotated_document_to_dict(doc) for doc in annotated]


def visualization_html(
    annotated: Sequence[lx_data.AnnotatedDocument], items: Sequence[GroundedItem], titles: dict[str, str]
) -> str:
    """One page with langextract's highlighted view of each document's grounded items, at their kept spans."""
    by_doc: dict[str, list[GroundedItem]] = {}
    for item in items:
        by_doc.setdefault(item.span.doc_id, []).append(item)
    sections = []
    for doc in annotated:
        grounded = [
            lx_data.Extraction(
                extraction_class=item.extraction_class,
                extraction_text=item.span.text,
                char_interval=lx_data.CharInterval(start_pos=item.span.start, end_pos=item.span.end),
                alignment_status=lx_data.AlignmentStatus.MATCH_EXACT,
                attributes={k: v for k, v in item.attributes.items() if isinstance(v, str)},
            )
            for item in sorted(
                by_doc.get(doc.document_id or "", []), key=lambda i: (i.span.start, i.span.end)
            )
        ]
        view = lx_data.AnnotatedDocument(document_id=doc.document_id, text=doc.text, extractions=grounded)
        html = lx.visualize(view, animation_speed=1.0, show_legend=True, gif_optimized=False)
        body = getattr(html, "data", html)
        title = _escape(titles.get(doc.document_id or "", doc.document_id or ""))
        sections.append(f"<section><h2>{title} — {len(grounded)} grounded</h2>{body}</section>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>dsforge grounded spans</title></head>"
        "<body>" + "\n".join(sections) + "</body></html>"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
