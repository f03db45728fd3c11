"""`dsforge review pull` and `status`: reviewers' responses → reviewed records, agreement and the gate.

Every record of the build gets a ReviewedRecord in `reviewed.jsonl`; only
those the gate lets through (accepted or corrected, enough reviews, agreement
as configured, dataset alpha above `min_alpha` when set) go to
`approved.jsonl`, the file later stages train on. The report says, per
record, why it was held back.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict
from typing import Any

from annotate import dataset_settings as ds
from annotate.agreement import agreement
from annotate.connection import check_reachable, endpoint
from annotate.decisions import Outcome, apply_alpha_gate, decide, gate_summary, why_held_back
from annotate.fetch import ServerRecord, iter_records, open_http, require_dataset, usernames
from annotate.inputs import ReviewInputs, load_inputs
from annotate.report import write_review_report
from core import atomic
from core.clock import utc_now
from core.config import DsforgeConfig


def pull(config: DsforgeConfig, write: bool = True) -> dict[str, Any]:
    """Fetch responses, decide every record, apply the gate; write the review artifacts unless `write` is False.

    With `review.auto: true` nobody reviews: every record is approved, marked unreviewed.
    """
    started = time.perf_counter()
    options = config.review
    if options.auto and write:
        from annotate.auto import auto_approve

        return auto_approve(config)
    if options.unit == "item":
        from annotate.item_pull import pull_items

        return pull_items(config, write)
    inputs = load_inputs(config)
    point = endpoint(options, config.project_root)
    check_reachable(point, options.retries, options.retry_backoff_s)
    name = ds.dataset_name(inputs.schema, options)
    with open_http(point) as http:
        dataset = require_dataset(http, options.workspace, name, point.url, "dsforge review push")
        users = usernames(http)
        server = {row.external_id: row for row in iter_records(http, dataset["id"], users)}

    outcomes = [
        decide(record, server[record.id].submissions if record.id in server else [], options, inputs.schema,
               inputs.items.get(str(record.meta.get("item_id"))))
        for record in inputs.records
    ]
    report = build_report(inputs, server, outcomes, options, point.url, name)
    report["seconds"] = round(time.perf_counter() - started, 2)
    closed = apply_alpha_gate(outcomes, report["agreement"]["decision"]["alpha"], options.min_alpha)
    if closed:
        report["gate"]["closed"] = closed
    report["approved"] = sum(o.passed for o in outcomes)
    report["gate"]["why"] = why_held_back([o.reasons for o in outcomes if not o.passed], options)
    if write:
        atomic.write_jsonl(inputs.paths.reviewed, [o.reviewed for o in outcomes])
        atomic.write_jsonl(inputs.paths.approved, [o.reviewed for o in outcomes if o.passed])
        write_review_report(report, inputs.paths.report_json, inputs.paths.report_md)
    return report


def build_report(
    inputs: ReviewInputs,
    server: dict[str, ServerRecord],
    outcomes: list[Outcome],
    options,
    url: str,
    dataset_name: str,
) -> dict[str, Any]:
    decisions: dict[str, dict[str, str]] = defaultdict(dict)
    ratings: dict[str, dict[str, int]] = defaultdict(dict)
    annotators: dict[str, Counter] = defaultdict(Counter)
    for record_id, row in server.items():
        for submission in row.submissions:
            annotators[submission.reviewer]["submitted"] += 1
            if submission.decision:
                decisions[record_id][submission.reviewer] = submission.decision
            if submission.rating is not None:
                ratings[record_id][submission.reviewer] = submission.rating
        for reviewer in row.drafts:
            annotators[reviewer]["draft"] += 1
        for reviewer in row.discarded:
            annotators[reviewer]["discarded"] += 1
    total = len(inputs.records)
    progress = {
        name: {**dict(counts), "pending": total - sum(counts.values()), "total": total}
        for name, counts in sorted(annotators.items())
    }
    held = [
        {"id": o.reviewed.id, "status": o.reviewed.review.status, "reasons": o.reasons}
        for o in outcomes
        if not o.passed
    ]
    return {
        "mode": "review",
        "unreviewed_training_data": False,
        "server": url,
        "workspace": options.workspace,
        "dataset": dataset_name,
        "pulled_at": utc_now(),
        "records": total,
        "on_server": sum(1 for r in inputs.records if r.id in server),
        "by_status": dict(Counter(o.reviewed.review.status for o in outcomes)),
        "annotators": progress,
        "agreement": {
            "decision": asdict(agreement(decisions, "nominal")),
            "quality": asdict(agreement(ratings, "ordinal")),
        },
        "gate": gate_summary(held, options),
    }
