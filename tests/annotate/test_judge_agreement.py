"""The judge against people: κ, catch precision / recall and per-value agreement, with intervals and counts."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from annotate.judge_agreement import Judged, cohens_kappa, judge_agreement


def _verdict(score: int, kind_supported: bool = True) -> dict:
    return {"score": score, "right_kind_of_text": True, "reason": "r",
            "values": {"kind": kind_supported}}  # fmt: skip


def _pairs(judge_doubts: list[bool], rejected: list[bool]) -> list[Judged]:
    return [
        Judged(f"i{n}", _verdict(2 if doubt else 5), rejected=r, values_kept=None if r else {"kind": True})
        for n, (doubt, r) in enumerate(zip(judge_doubts, rejected))
    ]


def test_kappa_and_catch_rates_count_what_they_say():
    judge = [True, True, False, False, False, True, False, False, True, False]
    people = [True, False, False, False, True, True, False, False, True, False]
    result = judge_agreement(_pairs(judge, people), doubt_below=4)
    assert result["kappa"] == pytest.approx(cohen_kappa_score(judge, people), abs=1e-4)
    assert result["items"] == 10 and result["both"] == 3 and result["percent_agreement"] == 0.8
    assert result["catch_precision"]["value"] == 0.75 and result["catch_precision"]["n"] == 4
    assert result["catch_recall"]["value"] == 0.75 and result["catch_recall"]["n"] == 4
    low, high = result["kappa_interval"]
    assert low <= result["kappa"] <= high and -1 <= low and high <= 1
    lo, hi = result["catch_precision"]["interval"]
    assert lo < 0.75 < hi  # four items: a wide Wilson interval
    # per value, on the six kept items: supported everywhere, kept everywhere
    assert result["values"]["kind"]["value"] == 1.0 and result["values"]["kind"]["n"] == 6
    assert result["good_enough_to_gate"] is None and "not asked" in result["verdict_line"]


def test_the_gate_line_uses_the_intervals_lower_end():
    same = [True, False] * 15
    perfect = judge_agreement(_pairs(same, same), doubt_below=4, gate_kappa=0.6)
    assert perfect["kappa"] == 1.0 and perfect["good_enough_to_gate"] is True
    assert "Good enough to gate" in perfect["verdict_line"]
    noisy = judge_agreement(_pairs([True, False, False, True], [True, False, True, False]), doubt_below=4, gate_kappa=0.6)
    assert noisy["good_enough_to_gate"] is False and "Not good enough" in noisy["verdict_line"]


def test_value_agreement_sets_support_against_a_reviewers_change():
    pairs = [
        Judged("a", _verdict(5, kind_supported=False), rejected=False, values_kept={"kind": False}),  # agree
        Judged("b", _verdict(5, kind_supported=True), rejected=False, values_kept={"kind": False}),  # disagree
        Judged("c", _verdict(5, kind_supported=True), rejected=False, values_kept={"kind": True}),  # agree
    ]
    kind = judge_agreement(pairs, doubt_below=4)["values"]["kind"]
    assert (kind["hits"], kind["n"], kind["changed_by_reference"]) == (2, 3, 2)


def test_kappa_is_undefined_when_neither_side_varies_and_no_pairs_give_nothing():
    assert cohens_kappa([True, True], [True, True]) is None
    assert judge_agreement([], doubt_below=4) is None
    constant = judge_agreement(_pairs([False] * 4, [False] * 4), doubt_below=4)
    assert constant["kappa"] is None and "undefined" in constant["verdict_line"]
