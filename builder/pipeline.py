"""`dsforge build`: documents → cleaned text → grounded items → records, with a report.

Every artifact is written atomically at the end of its stage; model
completions are cached per chunk as they arrive, so a killed build resumes
with no repeated calls and reaches the same final output.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from builder.caching_model import CachingModel, CallStats
from builder.clean import CleanResult, clean_documents
from builder.extract import ExtractionResult, annotated_rows, extract_documents, visualization_html
from builder.ingest import ingest_folder
from builder.item_judge import JudgeResult, judge_items
from builder.knowledge_graph import GraphResult, build_graph, check_graph_settings, injected_files, write_graph
from builder.language_model import ResolvedModel, create_language_model
from builder.llm_cache import CompletionCache
from builder.records import add_records, build_records
from builder.report import write_report
from builder.review_examples import review_examples
from builder.schema_loader import load_schema
from builder.synthetic_qa import SyntheticResult, generate
from core import atomic
from core.config import DsforgeConfig
from core.errors import BuildLockedError
from core.layout import BuildPaths, ReviewPaths
from core.progress import progress_bar
from schemas.base import ExtractionSchema
from schemas.types import Document, FileOutcome, GroundedItem


@dataclass
class BuildSummary:
    report: dict[str, Any]
    paths: BuildPaths


def build(config: DsforgeConfig, show_progress: bool = True) -> BuildSummary:
    """Run the whole build stage under an exclusive lock on the output folder."""
    paths = BuildPaths(config.output_dir)
    with build_lock(paths):
        return _build_locked(config, paths, show_progress)


@contextmanager
def build_lock(paths: BuildPaths) -> Iterator[None]:
    """One build at a time writes an output folder, whichever engine runs it."""
    paths.root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(paths.lock, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BuildLockedError(
            f"another dsforge build is writing {paths.root}; wait for it to finish "
            f"(or, if none is running, delete {paths.lock})."
        ) from None
    try:
        yield
    finally:
        lock.release()


def examples_of_review(config: DsforgeConfig, schema: type[ExtractionSchema], documents: Sequence[Document]) -> list[Any]:
    """`extraction.examples_from_review`'s examples from this project's review (none before one)."""
    options = config.extraction
    return review_examples(ReviewPaths(config.output_dir).reviewed_items, documents, schema,
                           options.examples_from_review, options.max_char_buffer)  # fmt: skip


def token_report(usage: dict[str, int] | None, calls: int) -> dict[str, Any] | None:
    """The model's token counts for the build's calls: what the server evaluated, reused and generated."""
    if not usage or not calls:
        return None
    evaluated = usage["prompt_tokens"] - usage["cached_prompt_tokens"]
    return {**usage, "evaluated_prompt_tokens_per_call": round(evaluated / calls, 1),
            "cached_prompt_tokens_per_call": round(usage["cached_prompt_tokens"] / calls, 1),
            "completion_tokens_per_call": round(usage["completion_tokens"] / calls, 1)}  # fmt: skip


def busy_report(model: Any) -> dict[str, int] | None:
    """Busy answers (HTTP 429 / 503) a server gave and the fewest requests at once they held the build to."""
    answers = getattr(model, "busy_answers", 0)
    if not answers:
        return None
    return {"answers_waited_out": answers, "lowest_concurrency": model.concurrency.lowest}


def _build_locked(config: DsforgeConfig, paths: BuildPaths, show_progress: bool) -> BuildSummary:
    started = time.perf_counter()
    schema = load_schema(config.schema_ref, config.project_root)
    check_graph_settings(config, schema)

    ingested = ingest_folder(config.input_dir, config.ingest)
    atomic.write_jsonl(paths.files, ingested.files)
    cleaned = clean_documents(ingested.documents, config.clean)
    atomic.write_jsonl(paths.documents, cleaned.documents)

    resolved = create_language_model(config.provider, schema)
    cache = CompletionCache(paths.cache)
    model = CachingModel(
        resolved.model,
        cache,
        fingerprint={**resolved.fingerprint, "schema": schema.fingerprint(), **config.extraction.fingerprint()},
        retries=config.extraction.retries,
        backoff_s=config.extraction.retry_backoff_s,
        timeout_s=config.extraction.timeout_s,
    )
    extract_started = time.perf_counter()
    with progress_bar(show_progress) as progress:
        task = progress.add_task("extracting", total=len(cleaned.documents))
        extraction = extract_documents(
            cleaned.documents,
            schema,
            model,
            config.extraction,
            model_name=config.provider.model_id,
            on_document=lambda _doc: progress.advance(task),
            examples=examples_of_review(config, schema, cleaned.documents),
        )
    extract_seconds = time.perf_counter() - extract_started
    cache.close()
    return write_build(
        config, paths, schema, ingested.files, len(ingested.documents), cleaned, extraction, model.stats,
        resolved, extract_seconds, started, show_progress=show_progress,
    )  # fmt: skip


def write_build(
    config: DsforgeConfig,
    paths: BuildPaths,
    schema: type[ExtractionSchema],
    files: list[FileOutcome],
    ingested_documents: int,
    cleaned: CleanResult,
    extraction: ExtractionResult,
    stats: CallStats,
    resolved: ResolvedModel,
    extract_seconds: float,
    started: float,
    extra: dict[str, Any] | None = None,
    show_progress: bool = False,
) -> BuildSummary:
    """The judge's verdicts (when enabled), records from the items kept, then every artifact and the
    report; shared by all engines."""
    by_id = {doc.id: doc for doc in cleaned.documents}
    judged = judge_stage(config, paths, schema, extraction.items, by_id, show_progress)
    items = judged.kept if judged else extraction.items
    records = build_records(items, by_id, schema, config.records)
    synthetic = synthetic_stage(config, paths, schema, cleaned.documents, show_progress)
    if synthetic:
        records = add_records(records, synthetic.records, config.records)
    graph = graph_stage(config, paths, schema, items, cleaned.documents)
    if graph:
        records = add_records(records, graph.records, config.records)

    atomic.write_jsonl(paths.extractions, annotated_rows(extraction.annotated))
    titles = {doc.id: doc.title or doc.source for doc in cleaned.documents}
    atomic.write_text(paths.visualization, visualization_html(extraction.annotated, extraction.items, titles))
    atomic.write_jsonl(paths.items, items)
    atomic.write_jsonl(paths.rejects, extraction.rejects)
    atomic.write_jsonl(paths.records, records.records)
    _save_dataset(records.records, paths.dataset)

    grounded_ok = sum(
        1 for item in extraction.items if by_id[item.span.doc_id].text[item.span.start : item.span.end] == item.span.text
    )
    report = {
        "schema": schema.schema_name(),
        "model": resolved.provenance,
        "constrained_decoding": resolved.constrained,
        "files": dict(Counter(outcome.status for outcome in files)),
        "file_errors": [o.model_dump() for o in files if o.status != "ok"],
        "documents": {"ingested": ingested_documents, "after_cleaning": len(cleaned.documents)},
        "cleaning": {
            "steps": [step.model_dump() for step in cleaned.steps],
            "dropped": [drop.model_dump() for drop in cleaned.dropped],
        },
        "extraction": {
            "chunks": extraction.chunks,
            "llm_calls": stats.calls,
            "cache_hits": stats.cache_hits,
            "failed_chunks": stats.failures,
            "seconds": round(extract_seconds, 2),
            "seconds_in_model": round(stats.seconds_in_model, 2),
            "tokens": token_report(getattr(resolved.model, "token_usage", None), stats.calls),
            "server_busy": busy_report(resolved.model),
            "items": len(extraction.items),
            "grounded_rechecked": grounded_ok,
            "rejects": dict(Counter(reject.reason for reject in extraction.rejects)),
        },
        "judge": judged.report if judged else None,
        "synthetic": synthetic.report if synthetic else None,
        "knowledge_graph": graph.report if graph else None,
        "records": {
            "kept": len(records.records),
            "dropped": dict(Counter(drop.reason for drop in records.dropped)),
            "by_template": dict(Counter(record.template for record in records.records)),
            "synthetic": sum(1 for record in records.records if record.meta.get("synthetic")),
            "by_stratum": dict(Counter(record.meta.get("stratum", "") for record in records.records)),
        },
        "wall_seconds": round(time.perf_counter() - started, 2),
        **(extra or {}),
    }
    write_report(report, paths.report_json, paths.report_md)
    return BuildSummary(report=report, paths=paths)


def judge_stage(
    config: DsforgeConfig,
    paths: BuildPaths,
    schema: type[ExtractionSchema],
    items: list[GroundedItem],
    documents: dict[str, Document],
    show_progress: bool,
) -> JudgeResult | None:
    """`judge:`'s verdicts and dropped items written beside the items; None (and no stale verdicts
    left for review to show) when the judge is off."""
    if not config.judge.enabled:
        paths.judge_verdicts.unlink(missing_ok=True)
        paths.judge_dropped.unlink(missing_ok=True)
        return None
    started = time.perf_counter()
    with progress_bar(show_progress) as progress:
        task = progress.add_task("judging", total=min(len(items), config.judge.max_items or len(items)))
        judged = judge_items(config, schema, items, documents, paths.cache, on_item=lambda: progress.advance(task))
    judged.report["seconds"] = round(time.perf_counter() - started, 2)
    asked = judged.report["asked"]
    judged.report["seconds_per_item"] = round(judged.report["seconds"] / asked, 3) if asked else None
    atomic.write_jsonl(paths.judge_verdicts, judged.verdicts)
    atomic.write_jsonl(paths.judge_dropped, judged.dropped)
    return judged


def synthetic_stage(
    config: DsforgeConfig,
    paths: BuildPaths,
    schema: type[ExtractionSchema],
    documents: list[Document],
    show_progress: bool,
) -> SyntheticResult | None:
    """`records.synthetic`'s grounded Q&A records, its rejects written beside; None when it is off."""
    if not config.records.synthetic.enabled:
        paths.synthetic_rejects.unlink(missing_ok=True)
        return None
    started = time.perf_counter()
    with progress_bar(show_progress) as progress:
        task = progress.add_task("synthetic Q&A", total=None)
        result = generate(config, schema, documents, paths.cache, on_chunk=lambda: progress.advance(task))
    result.report["seconds"] = round(time.perf_counter() - started, 2)
    atomic.write_jsonl(paths.synthetic_rejects, result.rejects)
    return result


def graph_stage(
    config: DsforgeConfig, paths: BuildPaths, schema: type[ExtractionSchema], items: list[GroundedItem],
    documents: list[Document],
) -> GraphResult | None:
    """`records.knowledge_graph`: the graph's triples, files and records; None (stale files removed) when off."""
    options = config.records.knowledge_graph
    if not options.enabled:
        for path in (paths.kg_triples, paths.kg_rejects, paths.kg_turtle, paths.kg_jsonld):
            path.unlink(missing_ok=True)
        return None
    graph = build_graph(items, schema, documents, injected_files(config, schema), options.max_two_hop)
    atomic.write_jsonl(paths.kg_triples, [vars(t) | {"spans": [s.model_dump() for s in t.spans]} for t in graph.triples])
    atomic.write_jsonl(paths.kg_rejects, graph.rejects)
    write_graph(graph.triples, paths.kg_turtle, paths.kg_jsonld)
    return graph


def _save_dataset(records: list, target: Path) -> None:
    """An HF Dataset on disk; saved beside and swapped in so a crash leaves the old one."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()

    rows = [record.model_dump(mode="json") for record in records]
    columns = list(rows[0]) if rows else ["id", "instruction", "input", "output", "doc_id"]
    dataset = Dataset.from_list(rows) if rows else Dataset.from_dict({name: [] for name in columns})
    atomic.replace_dir(target, lambda staging: dataset.save_to_disk(str(staging)))
