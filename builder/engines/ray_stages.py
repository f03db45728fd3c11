"""The work Ray runs for a build: ingest + clean of a batch of files, extraction in an actor.

Each function calls the local engine's stage functions on its share of the
input; nothing here decides anything about text. Rows cross processes as JSON
of the project's own models (MinHash signatures in datasketch's byte format), so the driver
gets back exactly what a worker computed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import ray
from datasketch import LeanMinHash
from langextract import data_lib

from builder.caching_model import CachingModel, CallStats
from builder.clean import StepReport, clean_documents
from builder.clean.dedup import exact_key, minhash_signature
from builder.extract import extract_documents
from builder.ingest.pipeline import _ingest_file
from builder.ingest.walk import Candidate
from builder.language_model import create_language_model
from builder.llm_cache import CompletionCache
from builder.pipeline import examples_of_review
from builder.schema_loader import load_schema
from core import atomic
from core.config import DsforgeConfig
from core.errors import DsforgeError
from core.layout import BuildPaths
from core.options.clean import CleanOptions
from core.options.ingest import IngestOptions
from schemas.types import Document

# Row kinds of the ingest + clean dataset; one table schema carries them all.
DOC, OUTCOME, TOO_SHORT, STEPS = "doc", "outcome", "too_short", "steps"
ROW = pa.schema(
    [("kind", pa.string()), ("json", pa.large_string()), ("key", pa.string()), ("sig", pa.binary())]
)


def text_steps_only(options: CleanOptions) -> CleanOptions:
    """Per-document cleaning; duplicates are found afterwards over the whole corpus."""
    return options.model_copy(
        update={"dedup_exact": False, "dedup_near": options.dedup_near.model_copy(update={"enabled": False})}
    )


def ingest_files(batch: pa.Table, root: str, options: IngestOptions) -> pa.Table:
    """Candidate files → a row per Document and per FileOutcome, in file order."""
    rows: list[tuple[str, str, str, bytes]] = []
    for rel, path in zip(batch.column("rel").to_pylist(), batch.column("path").to_pylist()):
        docs, outcomes = _ingest_file(Candidate(rel=rel, path=Path(path)), Path(root), options)
        rows += [(OUTCOME, outcome.model_dump_json(), "", b"") for outcome in outcomes]
        rows += [(DOC, doc.model_dump_json(), "", b"") for doc in docs]
    return _table(rows)


def clean_batch(batch: pa.Table, options: CleanOptions) -> pa.Table:
    """Text steps and min_chars on this batch's documents, plus what dedup needs of each.

    Step counts are per batch; they add up to the corpus's because each document
    is in one batch. Exact keys and MinHash signatures are computed here, in
    parallel; the one global pass over them runs on the driver.
    """
    kinds = batch.column("kind").to_pylist()
    payloads = batch.column("json").to_pylist()
    docs = [Document.model_validate_json(p) for k, p in zip(kinds, payloads) if k == DOC]
    result = clean_documents(docs, text_steps_only(options))
    rows: list[tuple[str, str, str, bytes]] = [(k, p, "", b"") for k, p in zip(kinds, payloads) if k != DOC]
    for doc in result.documents:
        key = exact_key(doc.text) if options.dedup_exact else ""
        signature = minhash_signature(doc.text, options.dedup_near) if options.dedup_near.enabled else None
        rows.append(
            (DOC, doc.model_dump_json(), key, _signature_bytes(signature) if signature is not None else b"")
        )
    rows += [(TOO_SHORT, drop.model_dump_json(), "", b"") for drop in result.dropped]
    rows.append((STEPS, json.dumps([step.model_dump() for step in result.steps]), "", b""))
    return _table(rows)


def signature_of(row: dict[str, Any]) -> LeanMinHash | None:
    return LeanMinHash.deserialize(row["sig"]) if row["sig"] else None


def _signature_bytes(signature: Any) -> bytes:
    lean = LeanMinHash(signature)
    buffer = bytearray(lean.bytesize())
    lean.serialize(buffer)
    return bytes(buffer)


def add_steps(total: list[StepReport], more: list[dict[str, Any]]) -> list[StepReport]:
    """Sum per-batch step counts into the corpus's, keeping the steps' run order."""
    extra = {step["name"]: step for step in more}
    return [
        StepReport(
            name=step.name,
            **{
                field: getattr(step, field) + extra.get(step.name, {}).get(field, 0)
                for field in ("documents_changed", "chars_removed", "chars_added", "documents_dropped")
            },
        )
        for step in total
    ]


def _table(rows: list[tuple[str, str, str, bytes]]) -> pa.Table:
    columns = list(zip(*rows)) if rows else [(), (), (), ()]
    return pa.Table.from_arrays(
        [pa.array(list(col), type=f.type) for col, f in zip(columns, ROW)], schema=ROW
    )


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class CacheServer:
    """The build's one completion cache, owned by one process on the driver's node.

    Workers anywhere in the cluster read and write it through this actor, so the
    SQLite file has a single writer and needs no shared filesystem (SQLite's WAL
    mode needs shared memory, which network filesystems do not give); `put`
    returns only once the entry is committed, so a killed worker loses no
    finished chunk.
    """

    def __init__(self, path: str) -> None:
        self.cache = CompletionCache(Path(path))

    def get(self, key: str) -> str | None:
        return self.cache.get(key)

    def put(self, key: str, prompt: str, output: str) -> None:
        self.cache.put(key, prompt, output)

    def close(self) -> None:
        self.cache.close()


class RemoteCache:
    """`CompletionCache`'s get/put, answered by the build's CacheServer."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def get(self, key: str) -> str | None:
        return ray.get(self.server.get.remote(key))

    def put(self, key: str, prompt: str, output: str) -> None:
        ray.get(self.server.put.remote(key, prompt, output))


class Extractor:
    """One model per actor, loaded once; extracts a task's documents together like the local engine.

    The documents of one call share the caching model's window (`extraction.max_workers` requests in
    flight); each comes back as its own row, under its own index.
    """

    def __init__(self, config: DsforgeConfig, cache: Any) -> None:
        self.config = config
        self.error: DsforgeError | None = None
        try:
            self._load(cache)
        except DsforgeError as exc:
            # Raised from a task instead: Ray keeps a task's exception for the driver, while a
            # failed actor start only reaches it as text (and is retried first).
            self.error = exc

    def _load(self, cache: Any) -> None:
        config = self.config
        self.schema = load_schema(config.schema_ref, config.project_root)
        # the review indexes the documents of the build it reviewed: documents.jsonl, as that build left it
        documents_file = BuildPaths(config.output_dir).documents
        documents = [Document.model_validate(row) for row in atomic.read_jsonl(documents_file)] if (
            config.extraction.examples_from_review and documents_file.is_file()) else []  # fmt: skip
        self.examples = examples_of_review(config, self.schema, documents)
        self.resolved = create_language_model(config.provider, self.schema)
        self.model = CachingModel(
            self.resolved.model,
            RemoteCache(cache),  # type: ignore[arg-type]
            fingerprint={
                **self.resolved.fingerprint,
                "schema": self.schema.fingerprint(),
                **config.extraction.fingerprint(),
            },
            retries=config.extraction.retries,
            backoff_s=config.extraction.retry_backoff_s,
            timeout_s=config.extraction.timeout_s,
        )

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.error is not None:
            raise self.error
        out: dict[str, list[Any]] = {name: [] for name in EXTRACTED.names}
        indexes = batch.column("i").to_pylist()
        documents = [Document.model_validate_json(payload) for payload in batch.column("doc").to_pylist()]
        self.model.stats = CallStats()
        result = extract_documents(
            documents,
            self.schema,
            self.model,
            self.config.extraction,
            model_name=self.config.provider.model_id,
            examples=self.examples,
        )
        stats = self.model.stats
        for n, (index, document) in enumerate(zip(indexes, documents, strict=True)):
            # One row a document, under its own index, so the driver's order never hangs on how Ray batched
            # them; the task's counts ride on its first row.
            first = n == 0
            row = {
                "i": index,
                "items": _dump([item for item in result.items if item.span.doc_id == document.id]),
                "rejects": _dump([reject for reject in result.rejects if reject.doc_id == document.id]),
                "annotated": json.dumps([data_lib.annotated_document_to_dict(a) for a in result.annotated
                                         if a.document_id == document.id]),  # fmt: skip
                "chunks": result.chunks if first else 0,
                "calls": stats.calls if first else 0,
                "cache_hits": stats.cache_hits if first else 0,
                "failures": stats.failures if first else 0,
                "seconds_in_model": stats.seconds_in_model if first else 0.0,
                "provenance": json.dumps(self.resolved.provenance),
                "fingerprint": json.dumps(self.resolved.fingerprint),
                "constrained": self.resolved.constrained,
            }
            for name, value in row.items():
                out[name].append(value)
        return pa.Table.from_pydict(out, schema=EXTRACTED)


EXTRACTED = pa.schema(
    [
        ("i", pa.int64()),
        ("items", pa.large_string()),
        ("rejects", pa.large_string()),
        ("annotated", pa.large_string()),
        ("chunks", pa.int64()),
        ("calls", pa.int64()),
        ("cache_hits", pa.int64()),
        ("failures", pa.int64()),
        ("seconds_in_model", pa.float64()),
        ("provenance", pa.string()),
        ("fingerprint", pa.string()),
        ("constrained", pa.bool_()),
    ]
)


def _dump(models: list[Any]) -> str:
    return json.dumps([m.model_dump(mode="json") for m in models], ensure_ascii=False)
