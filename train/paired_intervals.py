"""Is tuned really better than base? Paired bootstrap intervals, an exact sign test, and a verdict.

Both models answer the same test prompts, so every comparison is paired: the interval is of the
difference tuned − base, resampling prompts (with their two answers) with replacement; the sign
test counts the prompts where tuned scored higher against those where it scored lower (ties set
aside) under the null that either is equally likely. Seeded, so a rerun prints the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from core.stats import sign_test

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
# Below this many prompts an exact two-sided sign test cannot reach p < 0.05 even when tuned wins
# every one (2 / 2**5 = 0.0625): the split cannot tell a gain from noise.
TOO_FEW = 5
ALPHA = 0.05

Statistic = Callable[[Sequence[int]], float]  # a score of the rows at these indices


def paired_interval(
    base: Sequence[float], tuned: Sequence[float], resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """Mean of tuned − base over the prompts, its percentile bootstrap interval, and the sign test."""
    diffs = np.asarray(tuned, dtype=float) - np.asarray(base, dtype=float)
    n = len(diffs)
    wins, losses = int((diffs > 0).sum()), int((diffs < 0).sum())
    result: dict[str, Any] = {
        "n": n,
        "delta": float(diffs.mean()) if n else None,
        "wins": wins,
        "losses": losses,
        "ties": n - wins - losses,
        "p_sign": _p(sign_test(wins, losses)),
        **_interval(n, lambda picks: diffs[picks].mean(axis=1), resamples, seed),
    }
    return result


def corpus_interval(
    n: int, base: Statistic, tuned: Statistic, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """The same for a score of a whole set (BLEU, macro F1): each model's score over row indices.

    No sign test: such a score has no per-prompt value to compare.
    """
    everyone = list(range(n))
    delta = tuned(everyone) - base(everyone) if n else None

    def differences(picks: np.ndarray) -> np.ndarray:
        return np.array([tuned(list(row)) - base(list(row)) for row in picks])

    return {"n": n, "delta": delta, **_interval(n, differences, resamples, seed)}


def _p(value: float | None) -> float:
    return 1.0 if value is None else value  # no untied prompt: nothing against "no difference"


def _interval(
    n: int, differences: Callable[[np.ndarray], np.ndarray], resamples: int, seed: int
) -> dict[str, Any]:
    base = {"resamples": resamples, "seed": seed, "level": LEVEL}
    if n < 2:
        return {**base, "low": None, "high": None}
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(differences(picks), [tail, 100 - tail])
    return {**base, "low": float(low), "high": float(high)}


def verdict(label: str, interval: dict[str, Any], unit: str = "prompts") -> str:
    """One plain line: better, worse or no clear difference, with the interval and how many `unit`
    (test prompts, or folds) each model won; a higher score is better."""
    n, delta = interval["n"], interval.get("delta")
    if delta is None:
        return f"{label}: not measured"
    if interval.get("low") is None:
        return f"{label}: {delta:+.3f} on {n} test record — no interval from one record"
    low, high = interval["low"], interval["high"]
    span = f"{delta:+.3f} [{low:+.3f}, {high:+.3f}]"
    counts = ""
    if "wins" in interval:
        counts = (f", {interval['wins']} of {n} {unit} better, {interval['losses']} worse "
                  f"(sign test p = {interval['p_sign']:.3g})")  # fmt: skip
    # A percentile interval is optimistic on a few prompts; the exact sign test is not: both must agree.
    clear = (low > 0 or high < 0) and interval.get("p_sign", 0.0) < ALPHA
    if clear:
        word = "better" if low > 0 else "worse"
        return f"tuned is {word} on {label}: {span}{counts}"
    why = "covers 0" if low <= 0 <= high else "excludes 0, but the sign test does not confirm it"
    return f"no clear difference on {label}: {span} {why}{counts}"


def small_split_warning(n: int) -> str | None:
    """A sentence for the report's top when the test split is too small to tell a gain from noise."""
    if n <= TOO_FEW:
        return (
            f"Only {n} test record{'s' if n != 1 else ''}: too few to tell a gain from noise (a sign test "
            f"cannot reach p < 0.05 below {TOO_FEW + 1} prompts, and the intervals span most of the scale). "
            "Build more documents or raise split.ratios.test before trusting a difference."
        )
    if n < 30:
        return (
            f"{n} test records: the intervals are wide; only a large difference shows. "
            "More test records narrow them."
        )
    return None
