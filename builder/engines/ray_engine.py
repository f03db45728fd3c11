"""`dsforge build --engine ray`: the local engine's stages as a Ray Data pipeline.

    files ──map_batches(ingest)──▶ map_batches(clean, exact key, MinHash) ──▶ driver: one global
    exact + LSH pass ──▶ map_batches(extract, actor pool: one model per actor) ──▶ driver: records

Ingest, cleaning and signatures run as tasks spread over every CPU; near-dedup
stays one pass over the whole corpus in input order (the local engine's
function, given the workers' signatures), so the same documents survive.
Extraction runs in an actor pool, `extraction.max_workers` documents per task:
their chunks share the actor's window of that many requests in flight, as in the
local engine (one document per task when it is 1). A dead actor is restarted and
its documents redone, whose finished chunks the shared completion cache already
holds. Records, artifacts and the report come from the same code as the local
engine, so the two write the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langextract import data_lib

from builder.caching_model import CallStats
from builder.clean import CleanResult, DroppedDocument
from builder.clean.pipeline import clean_documents, drop_duplicates
from builder.extract import ExtractionResult
from builder.ingest.pipeline import _resolve_root
from builder.ingest.walk import Candidate, list_files
from builder.knowledge_graph import check_graph_settings
from builder.language_model import ResolvedModel, create_language_model
from builder.llm_cache import CompletionCache
from builder.pipeline import BuildPaths, BuildSummary, build_lock, write_build
from builder.schema_loader import load_schema
from core import atomic
from core.config import DsforgeConfig
from core.errors import ConfigError, DsforgeError
from core.options.build import RayOptions
from schemas.base import ExtractionSchema
from schemas.types import Document, FileOutcome, GroundedItem, Reject

# At most this many extraction tasks; more documents than this share a task.
_MAX_EXTRACT_TASKS = 4096


def build(config: DsforgeConfig, show_progress: bool = True) -> BuildSummary:
    """The whole build under the output folder's lock, on a local Ray or the configured cluster."""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(
            "build.engine is ray, but Ray is not installed; run `pip install 'dsforge[ray]'` "
            "or build with --engine local."
        ) from None
    paths = BuildPaths(config.output_dir)
    with build_lock(paths):
        try:
            with ray_session(config.build.ray, paths.ray) as where:
                return _build_locked(config, paths, show_progress, where)
        except Exception as exc:
            # A worker's DsforgeError arrives wrapped in Ray's errors; its own message says what to do.
            cause = _dsforge_cause(exc)
            if cause is None:
                raise
            raise cause from None


def _dsforge_cause(exc: BaseException) -> DsforgeError | None:
    """The project error a Ray error carries, if any (not Ray's copy of it, whose text is a traceback)."""
    from ray.exceptions import RayError

    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DsforgeError) and not isinstance(current, RayError):
            return current
        pending += [getattr(current, "cause", None), current.__cause__, current.__context__]
    return None


@contextmanager
def ray_session(options: RayOptions, log_dir: Path) -> Iterator[dict[str, Any]]:
    """Join Ray if this process already has it, else the cluster at `address`/RAY_ADDRESS, else start one.

    A Ray started here is sized for a laptop (no dashboard, small object
    store), is shut down when the build ends, and leaves its logs in `log_dir/logs`.
    """
    import ray

    if ray.is_initialized():
        yield {"ray": "joined", "cpus": ray.cluster_resources().get("CPU", 0)}
        return
    address = options.address or os.environ.get("RAY_ADDRESS")
    if address:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise ConfigError(
                f"no Ray cluster answers at {address} ({exc}); start it (`ray start --head`) or unset "
                "build.ray.address and RAY_ADDRESS to run on a local Ray."
            ) from None
        try:
            yield {"ray": address, "cpus": ray.cluster_resources().get("CPU", 0)}
        finally:
            ray.shutdown()
        return
    # Ray's folder holds its sockets, whose paths must stay short: it lives in /tmp, and
    # its logs are copied into the build folder when Ray stops.
    temp = Path(tempfile.mkdtemp(prefix="dsforge-ray-"))
    cpus = options.num_cpus or len(os.sched_getaffinity(0))
    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        object_store_memory=options.object_store_mb * 2**20,
        log_to_driver=False,
        logging_level=logging.WARNING,
        _temp_dir=str(temp.resolve()),
    )
    try:
        yield {"ray": "local", "cpus": cpus, "logs": str(log_dir / "logs")}
    finally:
        ray.shutdown()
        latest = temp / "session_latest" / "logs"
        if latest.is_dir():
            shutil.rmtree(log_dir / "logs", ignore_errors=True)
            shutil.copytree(latest, log_dir / "logs", ignore_dangling_symlinks=True)
        shutil.rmtree(temp, ignore_errors=True)


def _build_locked(
    config: DsforgeConfig, paths: BuildPaths, show_progress: bool, where: dict[str, Any]
) -> BuildSummary:
    import ray.data

    started = time.perf_counter()
    schema = load_schema(config.schema_ref, config.project_root)
    check_graph_settings(config, schema)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = show_progress
    context.raise_original_map_exception = True  # a worker's DsforgeError reaches the user as itself
    if not show_progress:
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    base = _resolve_root(config.input_dir)
    listing = list_files(base, config.ingest)
    shards = ingest_and_clean(listing.candidates, base, config)
    files = sorted([*listing.outcomes, *shards.outcomes], key=lambda o: o.path)
    atomic.write_jsonl(paths.files, files)
    cleaned = drop_duplicates(shards.cleaned, config.clean, shards.keys, shards.signatures)
    atomic.write_jsonl(paths.documents, cleaned.documents)

    extract_started = time.perf_counter()
    extraction, stats, resolved = extract(cleaned.documents, schema, config, paths)
    extract_seconds = time.perf_counter() - extract_started
    engine = {"engine": {"name": "ray", **where, "extract_workers": config.build.ray.extract_workers}}
    return write_build(
        config, paths, schema, files, shards.ingested, cleaned, extraction, stats, resolved, extract_seconds, started,
        extra=engine,
    )  # fmt: skip


@dataclass
class CleanedShards:
    """What the ingest + clean tasks hand the driver, in file order; duplicates are still in."""

    outcomes: list[FileOutcome]
    ingested: int  # documents ingested, before cleaning dropped any
    cleaned: CleanResult
    keys: list[str] | None  # exact-dedup key per cleaned document (None: exact dedup is off)
    signatures: list[Any] | None  # MinHash per cleaned document (None: near dedup is off)


def ingest_and_clean(candidates: list[Candidate], base: Path, config: DsforgeConfig) -> CleanedShards:
    """Read and clean every file in Ray tasks; signatures for the global dedup pass come along."""
    import ray.data

    from builder.engines import ray_stages as st

    # Rows come back in file order: the documents' order decides which duplicate survives.
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    per_task = config.build.ray.files_per_task
    result = clean_documents([], st.text_steps_only(config.clean))  # zero counts, in step order
    outcomes: list[FileOutcome] = []
    documents: list[Document] = []
    dropped: list[DroppedDocument] = list(result.dropped)
    keys: list[str] = []
    signatures: list[Any] = []
    steps = list(result.steps)
    ingested = 0
    if candidates:
        rows = [{"rel": c.rel, "path": str(c.path)} for c in candidates]
        dataset = (
            ray.data.from_items(rows, override_num_blocks=-(-len(rows) // per_task))
            .map_batches(
                st.ingest_files,
                fn_kwargs={"root": str(base), "options": config.ingest},
                batch_size=per_task,
                batch_format="pyarrow",
            )
            .map_batches(
                st.clean_batch, fn_kwargs={"options": config.clean}, batch_size=None, batch_format="pyarrow"
            )
        )
        for row in dataset.iter_rows():
            kind = row["kind"]
            if kind == st.OUTCOME:
                outcomes.append(FileOutcome.model_validate_json(row["json"]))
            elif kind == st.DOC:
                documents.append(Document.model_validate_json(row["json"]))
                keys.append(row["key"])
                signatures.append(st.signature_of(row))
            elif kind == st.TOO_SHORT:
                dropped.append(DroppedDocument.model_validate_json(row["json"]))
            else:
                steps = st.add_steps(steps, json.loads(row["json"]))
        ingested = len(documents) + sum(1 for drop in dropped if drop.reason == "too_short")
    return CleanedShards(
        outcomes=outcomes,
        ingested=ingested,
        cleaned=CleanResult(documents=documents, steps=steps, dropped=dropped),
        keys=keys if config.clean.dedup_exact else None,
        signatures=signatures if config.clean.dedup_near.enabled else None,
    )


def extract(
    documents: list[Document], schema: type[ExtractionSchema], config: DsforgeConfig, paths: BuildPaths
) -> tuple[ExtractionResult, CallStats, ResolvedModel]:
    """Every document through an actor pool, one model per actor, one shared completion cache.

    A task holds `max_workers` consecutive documents, so a server sees up to that many requests per actor
    (the local engine's window); results come back a row per document and are joined in document order.
    """
    import ray
    import ray.data
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from builder.engines import ray_stages as st

    options = config.build.ray
    result, stats = ExtractionResult(), CallStats()
    if not documents:
        return result, stats, create_language_model(config.provider, schema)
    CompletionCache(paths.cache).close()  # created (WAL mode) before any reader opens it
    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    server = st.CacheServer.options(scheduling_strategy=here).remote(str(paths.cache))
    rows = [{"i": i, "doc": doc.model_dump_json()} for i, doc in enumerate(documents)]
    workers = min(options.extract_workers, len(rows))
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), _MAX_EXTRACT_TASKS)).map_batches(
        st.Extractor,
        fn_constructor_kwargs={"config": config, "cache": server},
        batch_size=config.extraction.requests_in_flight(),
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=options.cpus_per_worker,
        num_gpus=options.gpus_per_worker,
        # Ray Data's actor pools restart a dead actor and retry its task (one document) by default.
    )
    extracted = sorted(dataset.iter_rows(), key=lambda row: row["i"])
    ray.get(server.close.remote())
    ray.kill(server)
    for row in extracted:
        result.items += [GroundedItem.model_validate(item) for item in json.loads(row["items"])]
        result.rejects += [Reject.model_validate(reject) for reject in json.loads(row["rejects"])]
        result.annotated += [data_lib.dict_to_annotated_document(a) for a in json.loads(row["annotated"])]
        result.chunks += row["chunks"]
        stats.calls += row["calls"]
        stats.cache_hits += row["cache_hits"]
        stats.failures += row["failures"]
        stats.seconds_in_model += row["seconds_in_model"]
    first = extracted[0]
    resolved = ResolvedModel(
        model=None,  # type: ignore[arg-type]  # the models live in the actors
        fingerprint=json.loads(first["fingerprint"]),
        provenance=json.loads(first["provenance"]),
        constrained=first["constrained"],
    )
    return result, stats, resolved
