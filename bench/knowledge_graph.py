"""Knowledge-graph records from a samples build: triples, entities, records per triple, two-hop share (no model calls).

The sample schema's triple shape (license, kind, what it means) over a finished build's items, plus the
bundled triple file `samples/kg/license_relations.csv` (some of whose triples no document grounds).

    .venv/bin/python bench/knowledge_graph.py --build samples/bench-runs/chunk-600+1200
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results  # noqa: E402
from builder.knowledge_graph import build_graph  # noqa: E402
from builder.schema_loader import load_schema  # noqa: E402
from core import atomic  # noqa: E402
from schemas.types import Document, GroundedItem  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=REPO / "samples" / "bench-runs" / "chunk-600+1200")
    parser.add_argument("--inject", type=Path, default=REPO / "samples" / "kg" / "license_relations.csv")
    args = parser.parse_args()
    schema = load_schema("samples/license_schema.py:LicenseTerm", REPO)
    documents = [Document.model_validate(r) for r in atomic.read_jsonl(args.build / "documents.jsonl")]
    items = [GroundedItem.model_validate(r) for r in atomic.read_jsonl(args.build / "items.jsonl")]
    started = time.perf_counter()
    graph = build_graph(items, schema, documents, [args.inject], max_two_hop=2000)
    report = {**graph.report, "items": len(items), "seconds": round(time.perf_counter() - started, 3)}
    print(json.dumps(report, indent=1))
    print(
        "\n| items | triples (documents + injected) | rejected injected | entities | records | fact / two-hop "
        "| records per triple | two-hop share |\n|---:|---|---:|---:|---:|---|---:|---:|\n"
        f"| {len(items)} | {report['triples']} ({report['from_documents']} + {report['injected']}) | "
        f"{report['rejected']} | {report['entities']} | {report['records']} | {report['fact_records']} / "
        f"{report['two_hop_records']} | {report['records_per_triple']} | {report['two_hop_share']} |"
    )
    path = write_results("knowledge_graph", {"build": str(args.build), "inject": str(args.inject), "report": report,
                                             "machine": machine_info(["networkx", "rdflib"])})  # fmt: skip
    print(f"results: {path}")


if __name__ == "__main__":
    main()
