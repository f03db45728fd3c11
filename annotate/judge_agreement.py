"""The judge measured against people: does its doubt agree with what reviewers rejected?

A judge is worth gating on only where it agrees with reviewers beyond chance. Per item the
reviewers judged (accepted, corrected or rejected) and the judge judged, the judge's "doubtful"
is set against the reviewers' "rejected": Cohen's κ with a seeded bootstrap
interval over items, and precision / recall at catching what reviewers rejected with Wilson
intervals and their counts. Per value, on the items reviewers kept: the judge's "supported"
against the reviewers leaving that value as the model gave it. The same numbers serve any
reference of kept / rejected items — a labelled gold set included (bench/judge/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from builder.item_judge import is_doubtful
from core.stats import wilson

BOOTSTRAP_ROUNDS = 2000


@dataclass(frozen=True)
class Judged:
    """One item both the judge and a reference decided: the reference kept it or not, and which values
    the reference left as the model gave them (None for a rejected item)."""

    item_id: str
    verdict: dict[str, Any]
    rejected: bool
    values_kept: dict[str, bool] | None = None


def judge_agreement(pairs: Sequence[Judged], doubt_below: int, gate_kappa: float | None = None) -> dict[str, Any] | None:
    """κ, catch precision / recall and per-value agreement, with counts and 95 % intervals; None with no pair."""
    if not pairs:
        return None
    judge = [is_doubtful(p.verdict, doubt_below) for p in pairs]
    people = [p.rejected for p in pairs]
    both = sum(j and r for j, r in zip(judge, people))
    kappa = cohens_kappa(judge, people)
    low_high = kappa_interval(judge, people)
    result: dict[str, Any] = {
        "items": len(pairs),
        "rejected_by_reference": sum(people),
        "doubted_by_judge": sum(judge),
        "both": both,
        "percent_agreement": round(sum(j == r for j, r in zip(judge, people)) / len(pairs), 4),
        "kappa": None if kappa is None else round(kappa, 4),
        "kappa_interval": low_high,
        "catch_precision": _share(both, sum(judge)),
        "catch_recall": _share(both, sum(people)),
        "values": _value_agreement(pairs),
        "gate_kappa": gate_kappa,
    }
    result["good_enough_to_gate"] = (
        None if gate_kappa is None else bool(low_high is not None and low_high[0] >= gate_kappa)
    )
    result["verdict_line"] = verdict_line(result)
    return result


def cohens_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's κ of two raters' yes/no (what scikit-learn's cohen_kappa_score gives); None where chance
    agreement is total (both raters constant), and κ undefined."""
    return _kappa_of_cells(*_cells(a, b))


def kappa_interval(a: Sequence[bool], b: Sequence[bool], seed: int = 0) -> list[float] | None:
    """95 % percentile bootstrap interval of κ over items (rounds where κ is undefined left out).

    Resampling items is resampling the four cells of the 2 × 2 table, multinomially.
    """
    import numpy as np

    cells = np.array(_cells(a, b), dtype=float)
    n = int(cells.sum())
    draws = np.random.default_rng(seed).multinomial(n, cells / n, size=BOOTSTRAP_ROUNDS)
    values = sorted(v for v in (_kappa_of_cells(*row) for row in draws.tolist()) if v is not None)
    if len(values) < BOOTSTRAP_ROUNDS // 2:
        return None
    return [round(values[int(0.025 * len(values))], 4), round(values[int(0.975 * len(values)) - 1], 4)]


def _cells(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, int, int]:
    """(both yes, a only, b only, both no)."""
    pairs = list(zip(a, b, strict=True))
    return (sum(x and y for x, y in pairs), sum(x and not y for x, y in pairs),
            sum(y and not x for x, y in pairs), sum(not x and not y for x, y in pairs))  # fmt: skip


def _kappa_of_cells(yes_yes: int, yes_no: int, no_yes: int, no_no: int) -> float | None:
    n = yes_yes + yes_no + no_yes + no_no
    if n == 0:
        return None
    observed = (yes_yes + no_no) / n
    chance = ((yes_yes + yes_no) * (yes_yes + no_yes) + (no_yes + no_no) * (yes_no + no_no)) / (n * n)
    return None if chance >= 1 else (observed - chance) / (1 - chance)


def verdict_line(result: dict[str, Any]) -> str:
    """One line: κ with its interval and counts, and whether it clears `gate_kappa`."""
    kappa, interval = result["kappa"], result["kappa_interval"]
    shown = "undefined (one side never varies)" if kappa is None else f"{kappa:.2f}"
    if interval:
        shown += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    head = (f"Judge vs reviewers on {result['items']} items: κ {shown}; it doubted {result['doubted_by_judge']}, "
            f"reviewers rejected {result['rejected_by_reference']}, both {result['both']}.")  # fmt: skip
    if result["gate_kappa"] is None:
        return head + " Gating on it: not asked (judge.gate_kappa unset)."
    if result["good_enough_to_gate"]:
        return head + f" Good enough to gate: the interval's lower end reaches judge.gate_kappa {result['gate_kappa']}."
    return head + f" Not good enough to gate: the interval's lower end is under judge.gate_kappa {result['gate_kappa']}."


def _share(hits: int, n: int) -> dict[str, Any]:
    interval = wilson(hits, n)
    return {"value": round(hits / n, 4) if n else None, "hits": hits, "n": n,
            "interval": [round(x, 4) for x in interval] if interval else None}  # fmt: skip


def _value_agreement(pairs: Sequence[Judged]) -> dict[str, dict[str, Any]]:
    """Per value, on kept items: the judge's "supported" against the reference leaving the value as it was."""
    counts: dict[str, list[int]] = {}
    for pair in pairs:
        if pair.values_kept is None:
            continue
        for name, kept in pair.values_kept.items():
            judged = pair.verdict["values"].get(name)
            if judged is None:
                continue
            agree_n = counts.setdefault(name, [0, 0, 0])
            agree_n[0] += judged == kept
            agree_n[1] += 1
            agree_n[2] += not kept
    return {name: {**_share(agree, n), "changed_by_reference": changed}
            for name, (agree, n, changed) in counts.items()}  # fmt: skip
