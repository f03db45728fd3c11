"""Agreement numbers, checked against values worked out by hand."""

from __future__ import annotations

import pytest

from annotate.agreement import agreement, majority


def test_majority_and_ties():
    assert majority(["accept", "accept", "reject"]) == ("accept", pytest.approx(2 / 3))
    assert majority(["accept", "reject"]) == (None, 0.5)
    assert majority([]) == (None, 0.0)


def test_nominal_alpha_by_hand():
    # Units: (A,A) (A,A) (R,R) (A,R). n=8 values, A:5 R:3; disagreeing pairs o_AR+o_RA = 2 → D_o = 2/8.
    # D_e = 2·5·3 / (8·7) = 30/56 → alpha = 1 − 0.25 / (30/56) = 0.5333…
    units = {
        "r1": {"x": "A", "y": "A"},
        "r2": {"x": "A", "y": "A"},
        "r3": {"x": "R", "y": "R"},
        "r4": {"x": "A", "y": "R"},
        "r5": {"x": "A"},  # one review: not pairable, ignored
    }
    result = agreement(units)
    assert result.units == 4 and result.percent == 0.75
    assert result.alpha == pytest.approx(1 - 0.25 / (30 / 56))


def test_alpha_is_undefined_without_variation_or_pairs():
    assert agreement({"r1": {"x": "A", "y": "A"}}).alpha is None
    assert agreement({"r1": {"x": "A"}}).note == "no record has two reviews yet"


def test_ordinal_alpha_rewards_near_misses():
    near = agreement({"a": {"x": 4, "y": 5}, "b": {"x": 1, "y": 1}, "c": {"x": 3, "y": 3}}, "ordinal")
    far = agreement({"a": {"x": 1, "y": 5}, "b": {"x": 1, "y": 1}, "c": {"x": 3, "y": 3}}, "ordinal")
    assert near.percent == far.percent and near.alpha > far.alpha
