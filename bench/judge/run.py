"""The judge measured against labelled documents: the embedded default judging a sample build's items.

A build's items over the bundled samples are judged (`judge:` with the project's provider, nothing
tuned: the default `doubt_below`), then each item is set against `samples/gold/clauses.jsonl` as a
reviewer would decide it: an item whose evidence overlaps no gold clause is one a reviewer rejects
(a heading, a link, a fragment — not a clause); a kept item's kind is "left as it was" when it equals
the kind of the gold clause it overlaps most. `annotate.judge_agreement` then gives what the review
report gives — κ, catch precision / recall, kind agreement, with intervals and counts — on the gold's
tune and held-out parts apart. Calls are cached beside the build, so a rerun asks nothing.

    .venv/bin/python bench/judge/run.py                                  # ~30 min on 2 cores, first time
    .venv/bin/python bench/judge/run.py --build samples/bench-runs/baseline --max-items 20   # plumbing
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from annotate.judge_agreement import Judged, judge_agreement  # noqa: E402
from bench.machine import machine_info, write_results  # noqa: E402
from builder.gold import GoldSet, read_gold  # noqa: E402
from builder.item_judge import judge_items  # noqa: E402
from builder.schema_loader import load_schema  # noqa: E402
from core import atomic  # noqa: E402
from core.config import load_config  # noqa: E402
from schemas.types import Document, GroundedItem  # noqa: E402

SAMPLES = REPO / "samples"
GOLD = SAMPLES / "gold" / "clauses.jsonl"
SPLIT = json.loads((SAMPLES / "gold" / "split.json").read_text())
PACKAGES = ["xllamacpp", "langextract"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=SAMPLES / "bench-runs" / "chunk-600+1200",
                        help="a finished build of the samples (bench/recall/run.py samples makes them)")  # fmt: skip
    parser.add_argument("--max-items", type=int, default=None)
    args = parser.parse_args()

    config = load_config(SAMPLES / "dsforge.yaml")
    config.judge.enabled = True
    config.judge.max_items = args.max_items
    schema = load_schema(config.schema_ref, config.project_root)
    documents = {row["id"]: Document.model_validate(row) for row in atomic.read_jsonl(args.build / "documents.jsonl")}
    items = [GroundedItem.model_validate(row) for row in atomic.read_jsonl(args.build / "items.jsonl")]
    gold = read_gold(GOLD, schema, list(documents.values()))
    started = time.perf_counter()
    judged = judge_items(config, schema, items, documents, args.build / "judge" / "completions.sqlite")
    seconds = time.perf_counter() - started
    verdicts = {v["item_id"]: v for v in judged.verdicts if v["status"] == "judged"}
    parts = {}
    for part, sources in (("tune", SPLIT["tune"]), ("held_out", SPLIT["held_out"])):
        pairs = reference_pairs(gold, items, verdicts, set(sources))
        parts[part] = judge_agreement(pairs, config.judge.doubt_below)
    report = {**judged.report, "seconds": round(seconds, 1), "seconds_per_call": _per(seconds, judged.report["calls"])}
    print(table(parts, report))
    path = write_results("judge", {"build": str(args.build), "gold": str(GOLD), "judge": report, "parts": parts,
                                   "machine": machine_info(PACKAGES)})  # fmt: skip
    print(f"results: {path}")


def reference_pairs(
    gold: GoldSet, items: list[GroundedItem], verdicts: dict[str, dict[str, Any]], sources: set[str]
) -> list[Judged]:
    """Each judged item of the named gold documents, decided as a reviewer following the gold would."""
    by_doc = {doc.doc_id: doc for doc in gold.documents if doc.source in sources}
    pairs = []
    for item in items:
        doc, verdict = by_doc.get(item.span.doc_id), verdicts.get(item.id)
        if doc is None or verdict is None:
            continue
        overlaps = [(min(s.end, item.span.end) - max(s.start, item.span.start), s) for s in doc.spans or []]
        overlaps = [(shared, s) for shared, s in overlaps if shared > 0]
        if not overlaps:
            pairs.append(Judged(item.id, verdict, rejected=True))
            continue
        _, clause = max(overlaps, key=lambda pair: pair[0])
        kept = {"kind": clause.attributes.get("kind") == item.attributes.get("kind")}
        pairs.append(Judged(item.id, verdict, rejected=False, values_kept=kept))
    return pairs


def table(parts: dict[str, dict[str, Any] | None], report: dict[str, Any]) -> str:
    lines = [
        f"judge {report['model']}: {report['judged']} judged, {report['unjudged']} unjudged, {report['calls']} calls "
        f"({report['cache_hits']} cached), {report['seconds']} s, {report['seconds_per_call']} s a call",
        "",
        "| gold part | items | rejected by gold | doubted by judge | both | κ [95 %] | catch precision | catch recall "
        "| kind agreement (kept items) |",
        "|---|---:|---:|---:|---:|---|---|---|---|",
    ]
    for part, r in parts.items():
        if not r:
            lines.append(f"| {part} | 0 | | | | | | | |")
            continue
        interval = r["kappa_interval"]
        kappa = "–" if r["kappa"] is None else f"{r['kappa']:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")
        kind = r["values"].get("kind")
        lines.append(
            f"| {part} | {r['items']} | {r['rejected_by_reference']} | {r['doubted_by_judge']} | {r['both']} | {kappa} "
            f"| {_share(r['catch_precision'])} | {_share(r['catch_recall'])} | {_share(kind) if kind else '–'} |"
        )
    return "\n".join(lines)


def _share(share: dict[str, Any]) -> str:
    if share["value"] is None:
        return f"– (0 of {share['n']})"
    low, high = share["interval"]
    return f"{share['value']:.2f} [{low:.2f}, {high:.2f}] ({share['hits']}/{share['n']})"


def _per(seconds: float, calls: int) -> float | None:
    return round(seconds / calls, 2) if calls else None


if __name__ == "__main__":
    main()
