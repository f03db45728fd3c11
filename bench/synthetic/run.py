"""Grounded synthetic Q&A on the bundled samples: pairs per chunk, the grounded share, why the rest failed, cost.

The sample documents (cleaned as a build cleans them) are read chunk by chunk by the embedded
default model with `records.synthetic`'s defaults; every pair's evidence is searched for in its
document. Besides the counts, the grounded evidence is set against `samples/gold/clauses.jsonl`:
the share of kept pairs whose evidence overlaps a labelled clause says whether the questions are
about what the documents state, not their headers. Calls are cached in `bench-runs/synthetic/`, so
a rerun asks nothing.

    .venv/bin/python bench/synthetic/run.py --max-chunks 12      # ~15 min on 2 cores, first time
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results  # noqa: E402
from builder.clean import clean_documents  # noqa: E402
from builder.gold import read_gold  # noqa: E402
from builder.ingest import ingest_folder  # noqa: E402
from builder.records import RecordResult, add_records  # noqa: E402
from builder.schema_loader import load_schema  # noqa: E402
from builder.synthetic_qa import generate  # noqa: E402
from core.config import load_config  # noqa: E402

SAMPLES = REPO / "samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-chunks", type=int, default=12)
    args = parser.parse_args()
    config = load_config(SAMPLES / "dsforge.yaml")
    config.records.synthetic.enabled = True
    config.records.synthetic.max_chunks = args.max_chunks
    schema = load_schema(config.schema_ref, config.project_root)
    documents = clean_documents(ingest_folder(config.input_dir, config.ingest).documents, config.clean).documents
    documents = sorted(documents, key=lambda d: d.source)
    started = time.perf_counter()
    result = generate(config, schema, documents, SAMPLES / "bench-runs" / "synthetic" / "completions.sqlite")
    seconds = time.perf_counter() - started
    kept = add_records(RecordResult(), result.records, config.records)
    gold = {doc.doc_id: doc for doc in read_gold(SAMPLES / "gold" / "clauses.jsonl", schema, documents).documents}
    on_clause = sum(
        1
        for record in kept.records
        if any(s.start < record.spans[0].end and record.spans[0].start < s.end
               for s in gold[record.doc_id].spans or [])  # fmt: skip
    )
    report = {
        **result.report,
        "seconds": round(seconds, 1),
        "seconds_per_call": round(seconds / result.report["calls"], 2) if result.report["calls"] else None,
        "records_after_checks": len(kept.records),
        "dropped_by_checks": [d.reason for d in kept.dropped],
        "evidence_on_a_gold_clause": on_clause,
    }
    print(json.dumps(report, indent=1))
    print(
        "\n| chunks | calls (cached) | pairs | pairs / chunk | grounded | grounded share | rejected | records | "
        "evidence on a gold clause | s / call |\n|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n"
        f"| {report['chunks']} | {report['calls']} ({report['cache_hits']}) | {report['pairs_returned']} | "
        f"{report['pairs_per_chunk']} | {report['grounded']} | {report['grounded_share']} | {report['rejected']} | "
        f"{len(kept.records)} | {on_clause} of {len(kept.records)} | {report['seconds_per_call']} |"
    )
    path = write_results("synthetic", {"report": report, "machine": machine_info(["xllamacpp", "langextract"])})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
