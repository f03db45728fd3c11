"""Win / tie / loss statistics checked against scipy's independent implementations."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from annotate.pairwise import blind_order
from core.stats import sign_test, wilson
from train.preference import (
    LOSS,
    PENDING,
    TIE,
    WIN,
    Verdict,
    markdown_section,
    summarize,
    verdict,
)


@pytest.mark.parametrize("k,n,level", [(0, 5, 0.95), (3, 7, 0.95), (7, 7, 0.9), (12, 22, 0.99)])
def test_wilson_and_sign_test_match_scipy(k, n, level):
    expected = binomtest(k, n, 0.5).proportion_ci(level, method="wilson")
    assert wilson(k, n, level) == pytest.approx((expected.low, expected.high))
    assert sign_test(k, n - k) == pytest.approx(binomtest(k, n, 0.5).pvalue)
    assert wilson(0, 0) is None and sign_test(0, 0) is None


def test_verdict_follows_the_review_agreement_rules():
    assert verdict(["tuned"], 2, "unanimous").outcome == PENDING
    assert verdict(["tuned", "tuned"], 2, "unanimous").outcome == WIN
    assert verdict(["base", "base"], 2, "unanimous").outcome == LOSS
    assert verdict(["tie", "tie"], 1, "majority").outcome == TIE
    assert verdict(["tuned", "tuned", "base"], 2, "unanimous") == Verdict(TIE, "disagreed")
    assert verdict(["tuned", "tuned", "base"], 2, "majority").outcome == WIN
    assert verdict(["tuned", "base"], 2, "majority") == Verdict(TIE, "split")


def test_summary_rates_and_section():
    verdicts = [verdict(c, 1, "majority") for c in (["tuned"], ["tuned"], ["base"], ["tie"], [])]
    stats = summarize(verdicts, 0.95)
    assert stats["decided"] == 4 and stats["pending"] == 1
    assert stats["rates"][WIN]["rate"] == 0.5 and stats["rates"][LOSS]["count"] == 1
    assert stats["preference"]["share"] == pytest.approx(2 / 3)
    human = {
        "summary": stats,
        "reviewers": ["annotator1"],
        "show_reference": True,
        "min_submitted": 1,
        "agreement_rule": "majority",
        "dataset": "d",
        "pulled_at": "now",
        "agreement": {"units": 0},
    }
    text = "\n".join(markdown_section(human))
    assert "| win (tuned better) | 2 | 50% |" in text and "2 of 3 prompts" in text
    assert markdown_section(None) == []


def test_blind_order_is_seeded_per_pair_and_balanced():
    orders = [blind_order(f"pair-{i}", ["tuned", "base"], 3) for i in range(400)]
    assert orders == [blind_order(f"pair-{i}", ["base", "tuned"], 3) for i in range(400)]
    first_tuned = sum(order[0] == "tuned" for order in orders)
    assert binomtest(first_tuned, 400, 0.5).pvalue > 0.001  # a fair coin, not a fixed side
    assert orders != [blind_order(f"pair-{i}", ["tuned", "base"], 4) for i in range(400)]
