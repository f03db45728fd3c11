"""From reviewers' submitted responses to one record's outcome and gate decision.

The decision label is settled by the configured agreement rule; an accepted
record whose reviewers edited the output becomes `corrected`, and the
correction must still satisfy the schema, re-parsed through the record's own
template, before it may be trained on.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from pydantic import ValidationError

from annotate import dataset_settings as ds
from annotate.agreement import majority
from core.options.review import ReviewOptions
from schemas.base import ExtractionSchema, RecordTemplate, first_problem
from schemas.types import GroundedItem, Record, Review, ReviewedRecord


@dataclass(frozen=True)
class Submission:
    """One reviewer's submitted response to one record."""

    reviewer: str
    submitted_at: str
    decision: str | None
    correction: str | None
    rating: int | None
    values: dict[str, Any] = field(default_factory=dict)  # every answer, by question name


@dataclass
class Outcome:
    reviewed: ReviewedRecord
    passed: bool
    reasons: list[str] = field(default_factory=list)


def decide(
    record: Record,
    submissions: list[Submission],
    options: ReviewOptions,
    schema: type[ExtractionSchema],
    item: GroundedItem | None,
) -> Outcome:
    submissions = sorted(submissions, key=lambda s: (s.submitted_at, s.reviewer))
    reviewers = [s.reviewer for s in submissions]
    ratings = [s.rating for s in submissions if s.rating is not None]
    base = dict(
        reviewers=reviewers,
        submitted_at=[s.submitted_at for s in submissions],
        rating=round(mean(ratings), 3) if ratings else None,
    )
    if not submissions:
        reviewed = ReviewedRecord(**record.model_dump(), review=Review(status="unreviewed", **base))
        return Outcome(reviewed, False, ["not reviewed yet"])

    label, share, reasons = settle(submissions, options)

    status, output, original = "rejected", record.output, None
    if label == ds.ACCEPT:
        corrections = {
            s.correction.strip()
            for s in submissions
            if s.decision == ds.ACCEPT and s.correction and s.correction.strip() != record.output.strip()
        }
        status = "accepted"
        if len(corrections) > 1:
            reasons.append(f"{len(corrections)} different corrections were submitted; reconcile them in Argilla")
        elif corrections:
            status, output, original = "corrected", corrections.pop(), record.output
            problem = validate_output(record, output, schema, item)
            if problem:
                reasons.append(f"corrected output is invalid: {problem}")
    elif label is None:
        status = "unreviewed"

    review = Review(status=status, agreement=round(share, 4), original_output=original, **base)
    reviewed = ReviewedRecord(**{**record.model_dump(), "output": output}, review=review)
    passed = not reasons and status in ("accepted", "corrected")
    if status == "rejected" and not reasons:
        reasons.append("rejected by reviewers")
    return Outcome(reviewed, passed, reasons)


def settle(submissions: list[Submission], options: ReviewOptions) -> tuple[Any, float, list[str]]:
    """The majority decision, its share, and what keeps it from passing under the agreement rule."""
    label, share = majority([s.decision for s in submissions])
    reasons: list[str] = []
    if len(submissions) < options.required_reviews:
        reasons.append(f"{len(submissions)} of {options.required_reviews} required reviews submitted")
    if label is None:
        reasons.append("reviewers are split evenly between accept and reject")
    elif options.agreement == "unanimous" and share < 1.0:
        reasons.append(f"reviewers disagree ({share:.0%} chose {label}); the rule is unanimous")
    return label, share, reasons


def gate_summary(held: list[dict[str, Any]], options: ReviewOptions) -> dict[str, Any]:
    """The report's gate section: the rule, and what it holds back and why."""
    return {
        "min_submitted": options.required_reviews,
        "agreement": options.agreement,
        "min_alpha": options.min_alpha,
        "held_back": len(held),
        "held_back_reasons": dict(Counter(reason.split(" (")[0] for h in held for reason in h["reasons"])),
        "decisions": held,
    }


def apply_alpha_gate(outcomes: list[Any], alpha: float | None, min_alpha: float | None) -> str | None:
    """Hold back every passing outcome (record or item) when the dataset's alpha is under the floor.

    Returns the reason, or None when the gate stays open.
    """
    if min_alpha is None or (alpha is not None and alpha >= min_alpha):
        return None
    reason = (
        f"dataset agreement alpha {alpha:.3f} is below min_alpha {min_alpha}"
        if alpha is not None
        else "dataset agreement alpha is undefined, so min_alpha cannot be checked"
    )
    for outcome in outcomes:
        if outcome.passed:
            outcome.passed = False
            outcome.reasons.append(reason)
    return reason


def validate_output(
    record: Record, output: str, schema: type[ExtractionSchema], item: GroundedItem | None
) -> str | None:
    """None when the corrected output still describes a valid item of the schema, else why not.

    A synthetic Q&A answer or a knowledge-graph fact belongs to no template of the schema: any
    non-empty answer stands.
    """
    if record.meta.get("synthetic") or record.meta.get("knowledge_graph"):
        return None if output.strip() else "the corrected answer is empty"
    template = next((t for t in schema.templates if t.name == record.template), None)
    if template is None:
        return f"template {record.template!r} is no longer in the schema"
    values = parse_output(template, output)
    if values is None:
        return f"it no longer has the shape of template {template.name!r} ({template.output!r})"
    attributes = dict(item.attributes) if item else {}
    if "item_json" in values:
        try:
            parsed = json.loads(values.pop("item_json"))
        except json.JSONDecodeError as exc:
            return f"not valid JSON ({exc.msg})"
        if not isinstance(parsed, dict):
            return "the JSON must be an object of the schema's fields"
        attributes.update(parsed)
    attributes.update({k: v for k, v in values.items() if k in schema.model_fields and k != "evidence"})
    evidence = item.span.text if item else (record.spans[0].text if record.spans else "")
    missing = [name for name in schema.attribute_fields() if name not in attributes]
    if missing and item is None:
        return None  # without the item, only the template shape can be checked
    try:
        schema.validate_item(evidence, attributes)
    except ValidationError as exc:
        return first_problem(exc)
    return None


def parse_output(template: RecordTemplate, output: str) -> dict[str, Any] | None:
    """Invert a template's output: the placeholder values that render to `output`, or None."""
    pattern, names = [], []
    for literal, name, _, _ in string.Formatter().parse(template.output):
        pattern.append(re.escape(literal))
        if name is not None:
            if name in names:
                pattern.append(f"(?P={name})")
            else:
                names.append(name)
                pattern.append(f"(?P<{name}>.+?)")
    match = re.fullmatch("".join(pattern), output.strip(), flags=re.DOTALL)
    return dict(match.groupdict()) if match else None


def why_held_back(reasons: list[list[str]], options: ReviewOptions) -> str:
    """One line: how many records each rule holds back, and the setting that changes it.

    `reasons` has one list per held-back record (a record may be held for several).
    """
    rules = (
        ("not reviewed yet", "not reviewed yet"),
        ("required reviews submitted",
         f"with fewer than {options.required_reviews} submitted reviews (review.min_submitted)"),
        ("split evenly", f"where reviewers disagree (review.agreement: {options.agreement})"),
        ("disagree", f"where reviewers disagree (review.agreement: {options.agreement})"),
        ("corrections were submitted", "with conflicting corrections (reconcile them in Argilla)"),
        ("corrected output is invalid", "whose correction is invalid (review_report.md says why)"),
        ("rejected by reviewers", "rejected by reviewers"),
        ("alpha", f"held by the agreement floor (review.min_alpha: {options.min_alpha})"),
    )  # fmt: skip
    counts: dict[str, int] = {}
    for record_reasons in reasons:
        for phrase in {_rule_of(reason, rules) for reason in record_reasons}:
            counts[phrase] = counts.get(phrase, 0) + 1
    if not counts:
        return "nothing held back"
    parts = [f"{n} {phrase}" for phrase, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return f"held back {len(reasons)}: " + "; ".join(parts)


def _rule_of(reason: str, rules: tuple[tuple[str, str], ...]) -> str:
    return next((phrase for marker, phrase in rules if marker in reason), reason)
