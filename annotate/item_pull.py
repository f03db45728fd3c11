"""`dsforge review pull` with `review.unit: item`: decided items → records, and what review measured.

Every item (the model's, and those reviewers added) gets a ReviewedItem in
`reviewed_items.jsonl`; records are rendered from the items that pass the gate, so
`approved.jsonl` holds each template of each approved item, corrections included.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Any

from annotate import item_dataset, missed_dataset
from annotate.agreement import agreement
from annotate.connection import check_reachable, endpoint
from annotate.decisions import apply_alpha_gate, gate_summary, why_held_back
from annotate.fetch import find_dataset, iter_records, open_http, require_dataset, usernames
from annotate.inputs import load_inputs
from annotate.item_decisions import ItemOutcome, decide_item
from annotate.item_form import attribute_questions
from annotate.item_records import records_from_items
from annotate.item_report import measured
from annotate.judge_agreement import Judged, judge_agreement
from annotate.report import write_review_report
from annotate.synthetic_review import pull_synthetic
from core import atomic
from core.clock import utc_now
from core.config import DsforgeConfig
from schemas.types import ItemReview, ReviewedItem


def pull_items(config: DsforgeConfig, write: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    options = config.review
    inputs = load_inputs(config)
    schema = inputs.schema
    point = endpoint(options, config.project_root)
    check_reachable(point, options.retries, options.retry_backoff_s)
    name = item_dataset.dataset_name(schema, options)
    missed_name = missed_dataset.dataset_name(name)
    with open_http(point) as http:
        dataset = require_dataset(http, options.workspace, name, point.url, "dsforge review push")
        users = usernames(http)
        server = {row.external_id: row for row in iter_records(http, dataset["id"], users)}
        missed_rows = {}
        if options.missed_pass and (missed := find_dataset(http, options.workspace, missed_name)) is not None:
            missed_rows = {row.external_id: row for row in iter_records(http, missed["id"], users)}
        synthetic, synthetic_report = pull_synthetic(http, inputs, options, name, users)

    windows = {window.id: (window, document) for window, document in missed_dataset.all_windows(inputs.documents, options)}
    model_items = list(inputs.items.values())
    added = missed_dataset.read_added(
        {wid: [(s.reviewer, s.values) for s in row.submissions] for wid, row in missed_rows.items()},
        windows,
        model_items,
        schema,
    )
    questions = attribute_questions(schema)
    outcomes: list[ItemOutcome] = [
        decide_item(item, "model", server[item.id].submissions if item.id in server else [], options, schema,
                    questions, inputs.documents)
        for item in item_dataset.reading_order(model_items, inputs.documents)
    ]  # fmt: skip
    added_rows, invalid_added = [], []
    for item, reviewers in added.items.values():
        state = missed_dataset.added_state(item, schema)
        if state == "complete":
            review = ItemReview(status="accepted", reviewers=sorted(set(reviewers)))
            outcomes.append(ItemOutcome(ReviewedItem(**item.model_dump(), source="reviewer", review=review), True))
            added_rows.append(item)
        elif state == "pending":
            added_rows.append(item)
            row = server.get(item.id)
            if row is None:
                review = ItemReview(status="unreviewed", reviewers=sorted(set(reviewers)))
                outcomes.append(ItemOutcome(ReviewedItem(**item.model_dump(), source="reviewer", review=review), False,
                                            ["added by a reviewer; its other attributes wait for review "
                                             "(run `dsforge review push` again)"]))  # fmt: skip
            else:
                outcomes.append(decide_item(item, "reviewer", row.submissions, options, schema, questions,
                                            inputs.documents))  # fmt: skip
        else:
            invalid_added.append({"record": item.id, "reviewer": ", ".join(reviewers), "problem": state})

    agreements = _agreement(server, questions)
    closed = apply_alpha_gate(outcomes, agreements["decision"]["alpha"], options.min_alpha)
    passed = [o.reviewed for o in outcomes if o.passed]
    records = records_from_items(passed, inputs.documents, schema, config.records)
    records += [o.reviewed for o in synthetic if o.passed]  # synthetic Q&A, reviewed as records
    held = [{"id": o.reviewed.id, "status": o.reviewed.review.status, "reasons": o.reasons}
            for o in outcomes if not o.passed]  # fmt: skip
    report: dict[str, Any] = {
        "mode": "review",
        "unit": "item",
        "unreviewed_training_data": False,
        "server": point.url,
        "workspace": options.workspace,
        "dataset": name,
        "missed_dataset": missed_name if options.missed_pass else None,
        "pulled_at": utc_now(),
        "items": len(outcomes),
        "records": len(records),
        "approved_items": len(passed),
        "approved": len(records),
        "by_status": dict(Counter(o.reviewed.review.status for o in outcomes)),
        "annotators": _progress(server, missed_rows, len(model_items), len(windows)),
        "agreement": agreements,
        "measured": measured(outcomes, added, schema, len(records), _actions(server, missed_rows)),
        "judge": judge_agreement(judged_pairs(outcomes, inputs.verdicts), config.judge.doubt_below, config.judge.gate_kappa),
        "synthetic": synthetic_report,
        "added_problems": added.problems + invalid_added,
        "gate": {
            **gate_summary(held, options),
            "why": why_held_back([h["reasons"] for h in held], options).replace("held back", "items held back", 1),
        },
    }
    if closed:
        report["gate"]["closed"] = closed
    report["seconds"] = round(time.perf_counter() - started, 2)
    if write:
        atomic.write_jsonl(inputs.paths.reviewed_items, [o.reviewed for o in outcomes])
        atomic.write_jsonl(inputs.paths.added_items, added_rows)
        atomic.write_jsonl(inputs.paths.reviewed, records)
        atomic.write_jsonl(inputs.paths.approved, records)
        write_review_report(report, inputs.paths.report_json, inputs.paths.report_md)
    return report


def judged_pairs(outcomes: list[ItemOutcome], verdicts: dict[str, dict[str, Any]]) -> list[Judged]:
    """The model's items both reviewers and the judge decided, with the values reviewers left as they were."""
    pairs = []
    for outcome in outcomes:
        item = outcome.reviewed
        verdict = verdicts.get(item.id)
        if item.source != "model" or verdict is None or item.review.status == "unreviewed":
            continue
        if item.review.status == "rejected":
            pairs.append(Judged(item.id, verdict, rejected=True))
            continue
        original = item.review.original_attributes or item.attributes
        kept = {name: original.get(name) == item.attributes.get(name) for name in verdict["values"]}
        pairs.append(Judged(item.id, verdict, rejected=False, values_kept=kept))
    return pairs


def _progress(server: dict, missed_rows: dict, items: int, windows: int) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for rows, key in ((server, "items"), (missed_rows, "windows")):
        for row in rows.values():
            for submission in row.submissions:
                counts[submission.reviewer][f"{key}_submitted"] += 1
            for reviewer in row.drafts:
                counts[reviewer]["draft"] += 1
            for reviewer in row.discarded:
                counts[reviewer]["discarded"] += 1
    return {
        name: {**dict(c), "submitted": c["items_submitted"], "pending": max(0, items - c["items_submitted"]),
               "total": items, "windows_total": windows}
        for name, c in sorted(counts.items())
    }  # fmt: skip


def _agreement(server: dict, questions) -> dict[str, dict]:
    """Inter-reviewer agreement on the decision and on each attribute question (items with ≥ 2 answers)."""
    per_question: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    names = ["decision", *(q.name for q in questions)]
    for item_id, row in server.items():
        for submission in row.submissions:
            for name in names:
                value = submission.values.get(name)
                if value not in (None, "", []):
                    per_question[name][item_id][submission.reviewer] = (
                        tuple(value) if isinstance(value, list) else value
                    )
    levels = {q.name: "ordinal" if q.kind == "rating" else "nominal" for q in questions}
    return {name: asdict(agreement(per_question[name], levels.get(name, "nominal"))) for name in names}


def _actions(server: dict, missed_rows: dict) -> int:
    return sum(len(row.submissions) for rows in (server, missed_rows) for row in rows.values())
