"""`dsforge review push` with `review.unit: item`: each item once, and the missed-items pass.

Items (the build's, and those reviewers added whose attributes are still to be filled)
go to `<schema>-items` in reading order; with `review.missed_pass`, every document's text
with the kept items pre-marked goes to `<schema>-items-missed`. Both are upserted by
content id, so a re-push after review updates nothing a reviewer did and duplicates nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

from annotate import item_dataset, missed_dataset
from annotate.connection import endpoint
from annotate.embeddings import embed_texts
from annotate.inputs import load_inputs
from annotate.push import PushSummary, open_dataset, upsert_all
from annotate.synthetic_review import push_synthetic
from core import atomic
from core.config import DsforgeConfig
from core.errors import ReviewError
from core.layout import BuildPaths
from core.progress import progress_bar
from schemas.base import ExtractionSchema
from schemas.types import GroundedItem


def push_items(
    config: DsforgeConfig,
    show_progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> PushSummary:
    options = config.review
    inputs = load_inputs(config)
    if not inputs.items:
        raise ReviewError(f"no items at {BuildPaths(config.output_dir).items}; run `dsforge build` first.")
    point = endpoint(options, config.project_root)
    started = time.perf_counter()
    added = pending_added_items(inputs.paths.added_items, inputs.schema)
    items = item_dataset.reading_order(list(inputs.items.values()), inputs.documents)
    items += item_dataset.reading_order(added, inputs.documents)
    sources = {item.id: "reviewer" for item in added}
    name = item_dataset.dataset_name(inputs.schema, options)
    dataset = open_dataset(point, options, name, lambda: item_dataset.build_settings(inputs.schema, options),
                           "review.dataset")  # fmt: skip
    question_ids = {question.name: str(question.id) for question in dataset.settings.questions}
    known_metadata = {prop.name for prop in dataset.settings.metadata}  # a dataset made before the judge has none of its

    with progress_bar(show_progress) as progress:
        vectors: dict[str, list[float]] = {}
        if options.vectors:
            task = progress.add_task("embedding", total=len(items))
            vectors = embed_texts(
                {item.id: item.span.text for item in items},
                inputs.paths.vector_cache,
                on_progress=lambda n: progress.advance(task, n),
            )
        payloads = [
            item_dataset.item_payload(item, position, sources.get(item.id, "model"), inputs.schema, inputs.documents,
                                      options, question_ids, vectors.get(item.id), inputs.verdicts.get(item.id))
            for position, item in enumerate(items)
        ]  # fmt: skip
        for payload in payloads:
            payload["metadata"] = {k: v for k, v in payload["metadata"].items() if k in known_metadata}
        windows = missed_dataset.all_windows(inputs.documents, options) if options.missed_pass else []
        task = progress.add_task("pushing", total=len(payloads) + len(windows))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done)
            if on_batch:
                on_batch(done, total)

        summary = upsert_all(point, options, dataset, payloads, started, on_batch=advance)
        summary.unit = "item"
        if windows:
            missed_name = missed_dataset.dataset_name(name)
            missed = open_dataset(point, options, missed_name,
                                  lambda: missed_dataset.build_settings(inputs.schema, options), "review.dataset")  # fmt: skip
            missed_ids = {question.name: str(question.id) for question in missed.settings.questions}
            known = list(inputs.items.values())
            window_payloads = [
                missed_dataset.window_payload(window, position, document, known, inputs.schema, missed_ids)
                for position, (window, document) in enumerate(windows)
            ]
            done = len(payloads)
            upsert_all(point, options, missed, window_payloads, started,
                       on_batch=lambda n, _total: advance(done + n, done + len(window_payloads)))  # fmt: skip
            summary.missed_dataset, summary.windows = missed_name, len(window_payloads)
    summary.synthetic = push_synthetic(point, inputs, options, name, started)
    summary.seconds = round(time.perf_counter() - started, 2)
    atomic.write_json(inputs.paths.push_state, asdict(summary))
    return summary


def pending_added_items(path, schema: type[ExtractionSchema]) -> list[GroundedItem]:
    """Items reviewers added whose other attributes are still to be filled in (last pull's)."""
    if not path.is_file():
        return []
    items = [GroundedItem.model_validate(row) for row in atomic.read_jsonl(path)]
    return [item for item in items if missed_dataset.added_state(item, schema) == "pending"]
