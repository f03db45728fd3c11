"""Win / tie / loss of the tuned model against the base, from reviewers' blind choices.

The unit is a test prompt: reviewers of one prompt judged the same two answers,
so their votes are first settled into one verdict per prompt with the review
stage's agreement rule (`annotate.agreement.majority`, unanimous or majority).
Prompts then count as independent binomial trials, and each rate gets a Wilson
score interval: it keeps its coverage at the 10–50 prompts a test split has,
never leaves [0, 1], and is the same on every rerun (a bootstrap over so few
records under-covers and moves with its seed). The headline is the tuned
model's share of the prompts where someone was preferred, with an exact
two-sided sign test against "no difference".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from annotate.agreement import majority
from core.stats import sign_test, wilson

WIN, TIE, LOSS, PENDING = "win", "tie", "loss", "pending"


@dataclass(frozen=True)
class Verdict:
    outcome: str  # win / tie / loss from the tuned model's side, or pending
    reason: str  # preferred, tie, identical, disagreed, split, too few reviews


def verdict(
    choices: list[str], min_submitted: int, rule: str, tuned: str = "tuned", base: str = "base"
) -> Verdict:
    """One prompt's outcome from its reviewers' un-blinded choices (system names or 'tie').

    Reviewers who cannot agree (an even split, or any dissent under the
    unanimous rule) show no clear preference: the prompt is a tie, counted as
    such rather than dropped, which would inflate both the win and loss rates.
    """
    if len(choices) < min_submitted:
        return Verdict(PENDING, f"{len(choices)} of {min_submitted} reviews")
    label, share = majority(choices)
    if label is None:
        return Verdict(TIE, "split")
    if rule == "unanimous" and share < 1.0:
        return Verdict(TIE, "disagreed")
    outcome = {tuned: WIN, base: LOSS}.get(str(label), TIE)
    return Verdict(outcome, "tie" if outcome == TIE else "preferred")


def summarize(verdicts: list[Verdict], confidence: float) -> dict[str, Any]:
    """Counts, rates and intervals over the prompts that have a verdict."""
    counts = Counter(v.outcome for v in verdicts)
    reasons = Counter(v.reason for v in verdicts if v.outcome == TIE)
    decided = counts[WIN] + counts[TIE] + counts[LOSS]
    rates = {
        outcome: {
            "count": counts[outcome],
            "rate": counts[outcome] / decided if decided else None,
            "interval": wilson(counts[outcome], decided, confidence),
        }
        for outcome in (WIN, TIE, LOSS)
    }
    preferred = counts[WIN] + counts[LOSS]
    return {
        "prompts": len(verdicts),
        "decided": decided,
        "pending": counts[PENDING],
        "rates": rates,
        "ties_by_reason": dict(reasons),
        "preference": {
            "wins": counts[WIN],
            "of": preferred,
            "share": counts[WIN] / preferred if preferred else None,
            "interval": wilson(counts[WIN], preferred, confidence),
            "sign_test_p": sign_test(counts[WIN], counts[LOSS]),
        },
        "confidence": confidence,
        "interval_method": "Wilson score, per prompt",
    }


def markdown_section(human: dict[str, Any] | None) -> list[str]:
    """The report's 'Human evaluation' section; nothing when no comparison was pulled."""
    if not human:
        return []
    stats, level = human["summary"], f"{human['summary']['confidence']:.0%}"
    reviewers = ", ".join(human["reviewers"]) or "none yet"
    lines = [
        "## Human evaluation (blind pairwise)",
        "",
        f"{stats['prompts']} test prompts; reviewers saw the prompt"
        + (", the reference" if human.get("show_reference") else "")
        + " and the two answers as A and B, in an order drawn per prompt, without model names. "
        f"Reviewers: {reviewers}. A prompt counts once it has {human['min_submitted']} review(s); "
        f"agreement rule: {human['agreement_rule']}. Dataset `{human['dataset']}`, pulled {human['pulled_at']}.",
        "",
        f"| tuned vs base | prompts | rate | {level} CI (Wilson) |",
        "| --- | ---: | ---: | --- |",
    ]
    labels = {WIN: "win (tuned better)", TIE: "tie", LOSS: "loss (base better)"}
    for outcome, label in labels.items():
        entry = stats["rates"][outcome]
        lines.append(
            f"| {label} | {entry['count']} | {_pct(entry['rate'])} | {_interval(entry['interval'])} |"
        )
    lines.append(f"| pending (too few reviews) | {stats['pending']} | – | – |")
    pref = stats["preference"]
    lines.append("")
    if pref["of"]:
        lines.append(
            f"Where one answer was preferred, it was the tuned model's in {pref['wins']} of {pref['of']} prompts "
            f"({_pct(pref['share'])}, {level} CI {_interval(pref['interval'])}); exact two-sided sign test "
            f"p = {pref['sign_test_p']:.3g}."
        )
    else:
        lines.append("No prompt has a preferred answer.")
    ties = stats["ties_by_reason"]
    if ties:
        parts = [f"{count} {_TIE_REASONS.get(reason, reason)}" for reason, count in sorted(ties.items())]
        lines.append(f"Ties: {', '.join(parts)}.")
    agreement = human.get("agreement") or {}
    if agreement.get("units"):
        alpha = "undefined" if agreement["alpha"] is None else f"{agreement['alpha']:.3f}"
        lines.append(
            f"Reviewer agreement on {agreement['units']} prompts with two or more reviews: "
            f"{_pct(agreement['percent'])} of pairs agree, Krippendorff's alpha {alpha}."
        )
    lines.append("")
    return lines


_TIE_REASONS = {
    "tie": "judged a tie",
    "identical": "identical answers (counted without review)",
    "disagreed": "where reviewers disagreed",
    "split": "where reviewers split evenly",
}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _interval(interval: tuple[float, float] | list[float] | None) -> str:
    return "–" if interval is None else f"[{interval[0]:.0%}, {interval[1]:.0%}]"
