"""`dsforge review push`: records → the Argilla dataset, idempotently and resumably.

Record ids are content ids and become Argilla `external_id`s, so the bulk
*upsert* endpoint updates a record pushed before instead of adding a copy: a
re-push, or a rerun after the server died mid-push, ends with each record
exactly once. The records go through the REST bulk endpoint directly (the SDK
is used for dataset settings) to control batch size, retries and progress.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from annotate import dataset_settings as ds
from annotate.connection import Endpoint, client, endpoint
from annotate.embeddings import embed_records
from annotate.evidence import evidence_markdown, evidence_plain
from annotate.inputs import ReviewInputs, load_inputs
from core import atomic
from core.config import DsforgeConfig
from core.errors import ReviewError
from core.options.review import ReviewOptions
from core.progress import progress_bar
from schemas.types import Record


@dataclass
class PushSummary:
    url: str
    workspace: str
    dataset: str
    dataset_id: str
    records: int
    batches: int
    retries: int
    seconds: float
    unit: str = "record"
    missed_dataset: str = ""
    windows: int = 0
    synthetic: int = 0  # records from no single item (synthetic Q&A, knowledge graph) pushed beside the items


def push(
    config: DsforgeConfig,
    show_progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> PushSummary:
    """Create (or reuse) the review dataset and upsert every record (or item) of the build into it."""
    options = config.review
    if options.unit == "item":
        from annotate.item_push import push_items

        return push_items(config, show_progress, on_batch)
    inputs = load_inputs(config)
    point = endpoint(options, config.project_root)
    started = time.perf_counter()
    dataset = ensure_dataset(point, inputs, options)
    question_ids = {question.name: str(question.id) for question in dataset.settings.questions}

    with progress_bar(show_progress) as progress:
        vectors: dict[str, list[float]] = {}
        if options.vectors:
            task = progress.add_task("embedding", total=len(inputs.records))
            vectors = embed_records(
                inputs.records, inputs.paths.vector_cache, on_progress=lambda n: progress.advance(task, n)
            )
        task = progress.add_task("pushing", total=len(inputs.records))
        payloads = [record_payload(record, inputs, options, question_ids, vectors.get(record.id)) for record in inputs.records]

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done)
            if on_batch:
                on_batch(done, total)

        summary = upsert_all(point, options, dataset, payloads, started, on_batch=advance)
    atomic.write_json(inputs.paths.push_state, asdict(summary))
    return summary


def upsert_all(
    point: Endpoint,
    options: ReviewOptions,
    dataset: Any,
    payloads: list[dict[str, Any]],
    started: float,
    command: str = "dsforge review push",
    on_batch: Callable[[int, int], None] | None = None,
) -> PushSummary:
    """Upsert every payload in batches of `review.batch_size`; `on_batch(done, total)` after each."""
    batches = retries = 0
    with httpx.Client(base_url=point.url, headers=point.headers(), timeout=120) as http:
        for start in range(0, len(payloads), options.batch_size):
            batch = payloads[start : start + options.batch_size]
            retries += upsert_records(http, str(dataset.id), batch, options, start, len(payloads), command)
            batches += 1
            if on_batch:
                on_batch(start + len(batch), len(payloads))
    return PushSummary(
        url=point.url,
        workspace=options.workspace,
        dataset=dataset.name,
        dataset_id=str(dataset.id),
        records=len(payloads),
        batches=batches,
        retries=retries,
        seconds=round(time.perf_counter() - started, 2),
    )


def ensure_dataset(point: Endpoint, inputs: ReviewInputs, options: ReviewOptions) -> Any:
    """The review dataset, created from the schema on first push; refused if its settings drifted."""
    return open_dataset(point, options, ds.dataset_name(inputs.schema, options),
                        lambda: ds.build_settings(inputs.schema, options), "review.dataset")  # fmt: skip


def open_dataset(
    point: Endpoint, options: ReviewOptions, name: str, settings: Callable[[], Any], name_option: str
) -> Any:
    """The named dataset in the review workspace, created on first push; refused if its fields drifted.

    `settings` is called after the client exists (the SDK's settings need one); `name_option`
    is the config key a user changes to start a new dataset instead.
    """
    import argilla as rg

    argilla = client(point, options.retries, options.retry_backoff_s)
    wanted = settings()
    workspace = argilla.workspaces(options.workspace)
    if workspace is None:
        workspace = rg.Workspace(name=options.workspace, client=argilla).create()
    with warnings.catch_warnings():  # "not found" is the expected answer on a first push
        warnings.simplefilter("ignore", UserWarning)
        existing = argilla.datasets(name=name, workspace=workspace)
    if existing is not None and existing.api_model().status == "draft":
        # A push killed while creating the dataset left it unpublished: it can hold no records, so
        # it is made again rather than refused as drifted.
        existing.delete()
        existing = None
    if existing is not None:
        have = {q.name for q in existing.settings.questions} | {f.name for f in existing.settings.fields}
        need = {q.name for q in wanted.questions} | {f.name for f in wanted.fields}
        if have != need:
            raise ReviewError(
                f"dataset {name!r} in workspace {options.workspace!r} has other fields/questions "
                f"({sorted(have ^ need)} differ); set {name_option} to a new name, or delete it in Argilla."
            )
        return existing
    return rg.Dataset(name=name, workspace=workspace, settings=wanted, client=argilla).create()


def record_payload(
    record: Record,
    inputs: ReviewInputs,
    options: ReviewOptions,
    question_ids: dict[str, str],
    vector: list[float] | None,
) -> dict[str, Any]:
    fields = {
        "instruction": record.instruction,
        "input": record.input,
        "output": record.output,
        "evidence": evidence_markdown(record, inputs.documents, options.context_chars),
    }
    agent = ds.agent_name(record.model)
    score = record.meta.get("score")
    suggestion: dict[str, Any] = {
        "question_id": question_ids[ds.CORRECTION],
        "value": record.output,
        "agent": agent,
        "type": "model",
    }
    if isinstance(score, (int, float)) and 0 <= score <= 1:
        suggestion["score"] = float(score)
    suggestions = [suggestion]
    if options.span_question:
        text, spans = evidence_plain(record, inputs.documents, options.context_chars)
        fields["evidence_text"] = text
        suggestions.append({"question_id": question_ids[ds.SPAN], "value": spans, "agent": agent, "type": "model"})
    metadata: dict[str, Any] = {
        "doc_id": record.doc_id,
        "schema": record.schema_name,
        "model": record.model,
        "template": record.template,
        "length": len(record.output),
    }
    stratum = str(record.meta.get("stratum") or "")
    if stratum:
        metadata["stratum"] = stratum
    return ds.bulk_item(record.id, fields, metadata, suggestions, vector)


def upsert_records(
    http: httpx.Client,
    dataset_id: str,
    batch: list[dict],
    options: ReviewOptions,
    done: int,
    total: int,
    command: str = "dsforge review push",
) -> int:
    """PUT one batch, retrying transient failures with exponential backoff; returns the retries used."""
    last_error = ""
    for attempt in range(options.retries + 1):
        if attempt:
            time.sleep(options.retry_backoff_s * 2 ** (attempt - 1))
        try:
            response = http.put(f"/api/v1/datasets/{dataset_id}/records/bulk", json={"items": batch})
        except httpx.TransportError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code in (429, 502, 503, 504) or response.status_code >= 500:
            last_error = f"HTTP {response.status_code}: {response.text[:300]}"
            continue
        if response.status_code >= 400:
            raise ReviewError(
                f"Argilla refused records {done}–{done + len(batch)} (HTTP {response.status_code}): "
                f"{response.text[:500]}"
            )
        return attempt
    raise ReviewError(
        f"pushed {done} of {total} records, then the server stopped answering after "
        f"{options.retries + 1} attempts ({last_error}). Rerun `{command}` once it is back "
        "(`dsforge review serve` for the embedded one): pushed records are updated, never duplicated."
    )
