"""Inter-annotator agreement: percent agreement and Krippendorff's alpha over reviewed records.

Percent agreement is easy to read; alpha corrects it for chance. Alpha is
undefined (None) when every reviewer gave the same single value, or when no
record has two reviews: the report says so instead of printing a number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class Agreement:
    units: int  # records with at least two reviews
    percent: float | None  # share of agreeing reviewer pairs
    alpha: float | None
    level: str
    note: str = ""


def majority(labels: list[Hashable]) -> tuple[Hashable | None, float]:
    """The most common label and the share of reviewers who gave it; None on a tie."""
    if not labels:
        return None, 0.0
    counts = Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None, counts[0][1] / len(labels)
    return counts[0][0], counts[0][1] / len(labels)


def agreement(units: Mapping[str, Mapping[str, Hashable]], level: str = "nominal") -> Agreement:
    """`units`: record id → reviewer → value. Level: 'nominal' for labels, 'ordinal' for ratings."""
    paired = {unit: values for unit, values in units.items() if len(values) >= 2}
    if not paired:
        return Agreement(0, None, None, level, "no record has two reviews yet")
    pairs = agree = 0
    for values in paired.values():
        for a, b in combinations(values.values(), 2):
            pairs += 1
            agree += a == b
    percent = agree / pairs
    reviewers = sorted({reviewer for values in paired.values() for reviewer in values})
    domain = sorted({value for values in paired.values() for value in values.values()}, key=str)
    if len(domain) < 2:
        return Agreement(len(paired), percent, None, level, "alpha undefined: every review gave the same value")
    code = {value: index for index, value in enumerate(domain)}
    matrix = np.full((len(reviewers), len(paired)), np.nan)
    for column, values in enumerate(paired.values()):
        for reviewer, value in values.items():
            # Ordinal alpha needs the values' own order (ratings are numbers).
            matrix[reviewers.index(reviewer), column] = value if level != "nominal" else code[value]
    import krippendorff

    alpha = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    return Agreement(len(paired), percent, alpha, level)
