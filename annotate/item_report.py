"""What an item-level review measured about the extractor: precision and miss rate, per label.

Precision is what reviewers accepted (as is or corrected) of the model's items they judged.
The miss rate counts only documents someone checked in the missed-items pass: items
reviewers added ÷ (the model's correct items there + added). Both carry Wilson intervals
and their counts, so a small review reads as the small sample it is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from annotate.item_decisions import ItemOutcome
from annotate.missed_dataset import AddedSpans, item_label, span_labels
from core.stats import wilson
from schemas.base import ExtractionSchema

GOOD = ("accepted", "corrected")


def measured(
    outcomes: list[ItemOutcome],
    added: AddedSpans,
    schema: type[ExtractionSchema],
    records: int,
    reviewer_actions: int,
) -> dict[str, Any]:
    attribute, _ = span_labels(schema)
    counts: dict[str, Counter] = defaultdict(Counter)
    for outcome in outcomes:
        item = outcome.reviewed
        original = item.model_copy(update={"attributes": item.review.original_attributes or item.attributes})
        label = item_label(original, attribute, schema)
        if item.source == "reviewer":
            counts[label]["added"] += 1
            if item.span.doc_id in added.checked_documents:
                counts[label]["added_in_checked"] += 1
            continue
        counts[label][item.review.status] += 1
        if item.review.status in GOOD and item.span.doc_id in added.checked_documents:
            counts[label]["correct_in_checked"] += 1
    by_value = {label: _rates(c) for label, c in sorted(counts.items())}
    overall = _rates(sum(counts.values(), Counter()))
    return {
        "label": attribute or "class",
        "by_value": by_value,
        "overall": overall,
        "checked_documents": len(added.checked_documents),
        "reviewer_actions": reviewer_actions,
        "actions_per_record": round(reviewer_actions / records, 3) if records else None,
    }


def _rates(c: Counter) -> dict[str, Any]:
    judged = c["accepted"] + c["corrected"] + c["rejected"]
    good = c["accepted"] + c["corrected"]
    found = c["correct_in_checked"] + c["added_in_checked"]
    return {
        "accepted": c["accepted"],
        "corrected": c["corrected"],
        "rejected": c["rejected"],
        "unreviewed": c["unreviewed"],
        "added": c["added"],
        "precision": round(good / judged, 4) if judged else None,
        "precision_ci": _rounded(wilson(good, judged)),
        "miss_rate": round(c["added_in_checked"] / found, 4) if found else None,
        "miss_rate_ci": _rounded(wilson(c["added_in_checked"], found)),
        "miss_rate_over": found,
    }


def _rounded(interval: tuple[float, float] | None) -> list[float] | None:
    return [round(interval[0], 4), round(interval[1], 4)] if interval else None


def markdown(report: dict[str, Any]) -> list[str]:
    """The report's "what review measured" section."""
    data = report.get("measured")
    if not data:
        return []
    lines = [
        "",
        "## What the review measured",
        "",
        f"Precision: accepted or corrected ÷ judged, of the model's items. Miss rate: items reviewers added ÷ "
        f"(the model's correct items + added), over the {data['checked_documents']} document(s) checked in the "
        "missed-items pass. 95 % Wilson intervals.",
        "",
        f"| {data['label']} | accepted | corrected | rejected | unreviewed | added by reviewers | precision | "
        "miss rate |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    rows = [*data["by_value"].items(), ("**all**", data["overall"])]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['accepted']} | {r['corrected']} | {r['rejected']} | {r['unreviewed']} | {r['added']} | "
            f"{_with_ci(r['precision'], r['precision_ci'])} | {_with_ci(r['miss_rate'], r['miss_rate_ci'])} |"
        )
    if data.get("actions_per_record") is not None:
        lines += ["", f"Reviewer actions: {data['reviewer_actions']} ({data['actions_per_record']} per approved record)."]
    return lines


def _with_ci(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} ({interval[0]:.2f}–{interval[1]:.2f})" if interval else f"{value:.2f}"
