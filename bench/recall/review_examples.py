"""Few-shot examples from review, measured: the tune part's right items stand for what reviewers accepted,
and the held-out documents are extracted with examples cut around them (builder/review_examples.py).

"Accepted" = an item of the 600-character lever's build on a tune document that the gold confirms
(its value among the document's gold labels and, for a span gold, its span overlapping a gold span
with that value) — what a reviewer would accept. The held-out documents are then extracted in one
600-character pass with `count` such examples after the schema's own, and scored on the held-out
gold against the 600 lever's held-out scores (same chunking, no examples).

    .venv/bin/python bench/recall/review_examples.py samples choosealicense-short --count 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results  # noqa: E402
from bench.recall.run import CORPORA, RUNS, _subset  # noqa: E402
from builder.caching_model import CachingModel  # noqa: E402
from builder.extract import extract_documents  # noqa: E402
from builder.extraction_eval import evaluate_extraction  # noqa: E402
from builder.gold import read_gold  # noqa: E402
from builder.language_model import create_language_model  # noqa: E402
from builder.llm_cache import CompletionCache  # noqa: E402
from builder.review_examples import review_examples  # noqa: E402
from builder.schema_loader import load_schema  # noqa: E402
from core import atomic  # noqa: E402
from core.config import load_config  # noqa: E402
from schemas.base import closed_values  # noqa: E402
from schemas.types import Document, GroundedItem, ItemReview  # noqa: E402

SOURCE_LEVER = "chunk-600"


def run(corpus: str, count: int) -> dict[str, Any]:
    spec = CORPORA[corpus]
    config = load_config(spec["config"])
    schema = load_schema(config.schema_ref, config.project_root)
    source = config.resolve(Path(RUNS) / SOURCE_LEVER)
    documents = [Document(**row) for row in atomic.read_jsonl(source / "documents.jsonl")]
    items = [GroundedItem.model_validate(row) for row in atomic.read_jsonl(source / "items.jsonl")]
    tune_gold = read_gold(_subset(spec["gold"], set(spec["split"]["tune"])), schema, documents)
    accepted = [item for item in items if _confirmed(item, tune_gold, schema)]
    reviewed = Path(tempfile.mkdtemp()) / "reviewed_items.jsonl"
    rows = [{**item.model_dump(mode="json"), "source": "model", "review": ItemReview(status="accepted").model_dump()}
            for item in accepted]  # fmt: skip
    atomic.write_jsonl(reviewed, rows)
    examples = review_examples(reviewed, documents, schema, count, 600)

    held_names = set(spec["split"]["held_out"])
    held = [d for d in documents if d.source.split("/")[-1] in held_names or d.source in held_names]
    config.output = Path(RUNS) / f"review-examples-{count}"  # type: ignore[misc]
    config.extraction = config.extraction.model_copy(update={"max_char_buffer": 600, "also_chunk_at": []})
    resolved = create_language_model(config.provider, schema)
    cache = CompletionCache(config.output_dir / "cache" / "completions.sqlite")
    fingerprint = {**resolved.fingerprint, "schema": schema.fingerprint(), **config.extraction.fingerprint()}
    model = CachingModel(resolved.model, cache, fingerprint=fingerprint, retries=0)
    started = time.perf_counter()
    result = extract_documents(
        held, schema, model, config.extraction, config.provider.model_id, examples=examples
    )
    seconds = time.perf_counter() - started
    cache.close()
    atomic.write_jsonl(config.output_dir / "documents.jsonl", documents)
    atomic.write_jsonl(config.output_dir / "items.jsonl", result.items)
    gold = _subset(spec["gold"], held_names)
    scores = evaluate_extraction(config, gold, config.output_dir / "extraction_eval_held_out").scores[
        "levels"
    ]
    reference = evaluate_extraction(
        config.model_copy(update={"output": Path(RUNS) / SOURCE_LEVER}),
        gold,
        source / "extraction_eval_held_out",
    ).scores["levels"]
    levels = [spec["level"]] + (["label:kind"] if corpus == "samples" else [])
    return {
        "corpus": corpus,
        "examples": len(examples),
        "example_extractions": sum(len(e.extractions) for e in examples),
        "accepted_tune_items": len(accepted),
        "held_out_documents": len(held),
        "prompts": result.chunks,
        "new_llm_calls": model.stats.calls,
        "seconds": round(seconds, 1),
        "with_examples": {name: _brief(scores[name]) for name in levels},
        "without (600 lever)": {name: _brief(reference[name]) for name in levels},
    }


def _confirmed(item: GroundedItem, gold: Any, schema: Any) -> bool:
    """The gold agrees with the item: its closed values are the document's, its span meets a gold span."""
    document = next((d for d in gold.documents if d.doc_id == item.span.doc_id), None)
    if document is None:
        return False
    for name in closed_values(schema):
        value = item.attributes.get(name)
        values = {str(v) for v in value} if isinstance(value, list) else {str(value)}
        if not values & document.labels.get(name, set()):
            return False
        if document.spans is not None and not any(
            s.start < item.span.end and item.span.start < s.end and str(s.attributes.get(name)) in values
            for s in document.spans
        ):
            return False
    return True


def _brief(level: dict[str, Any]) -> dict[str, Any]:
    return {k: level[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpora", nargs="+", choices=sorted(CORPORA))
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args()
    rows = [run(corpus, args.count) for corpus in args.corpora]
    for row in rows:
        print(row)
    print(
        f"saved {write_results('review-examples', {'machine': machine_info(['langextract', 'xllamacpp']), 'rows': rows})}"
    )


if __name__ == "__main__":
    main()
