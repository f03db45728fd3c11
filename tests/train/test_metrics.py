"""Metrics from the real libraries on strings whose scores are derived by hand."""

from __future__ import annotations

import json
import math

import pytest

from train import metrics as M


def test_exact_match_ignores_case_punctuation_and_articles():
    assert M.exact_match("The cat sat.", "cat  SAT") == 1.0
    assert M.exact_match("cat sat", "cat sits") == 0.0


def test_token_f1_counts_shared_tokens():
    # pred {quick, brown, fox}, ref {quick, brown, dog}: 2 shared, P = R = 2/3.
    assert M.token_f1("the quick brown fox", "quick brown dog") == pytest.approx(2 / 3)
    assert M.token_f1("", "") == 1.0
    assert M.token_f1("anything", "") == 0.0


def test_rouge_l_is_the_lcs_f_measure():
    # LCS(alpha gamma delta) = 3; P = 3/5, R = 3/4, F = 2PR / (P + R) = 2/3.
    assert M.rouge_l("alpha gamma delta epsilon zeta", "alpha beta gamma delta") == pytest.approx(2 / 3)
    assert M.rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(1.0)  # stemmed


def test_corpus_bleu_applies_the_brevity_penalty():
    assert M.corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    # All n-gram precisions are 1; 6 hypothesis vs 7 reference tokens: BP = exp(1 - 7/6).
    bleu = M.corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat today"])
    assert bleu == pytest.approx(100 * math.exp(1 - 7 / 6), abs=1e-6)


def test_schema_validity_parses_and_validates(license_schema):
    evidence = "The above copyright notice shall be included in all copies."
    good = json.dumps({"kind": "obligation", "summary": "Keep the copyright notice in every copy."})
    assert M.schema_valid(good, evidence, license_schema)
    assert not M.schema_valid(json.dumps({"kind": "duty", "summary": "Keep it."}), evidence, license_schema)
    assert not M.schema_valid('{"kind": "obligation"}', evidence, license_schema)  # summary missing
    assert not M.schema_valid("obligation: keep the notice", evidence, license_schema)
    assert not M.schema_valid("[1, 2]", evidence, license_schema)
    assert M.structured_templates(license_schema) == {"classify_clause"}


def test_aggregate_means_and_schema_share():
    result = M.aggregate(["cat sat", "a dog"], ["the cat sat", "bird"], [True, None])
    assert result["n"] == 2
    assert result["exact_match"] == pytest.approx(0.5)
    assert result["token_f1"] == pytest.approx(0.5)
    assert result["schema_valid"] == 1.0 and result["schema_checked"] == 1
    assert 0.0 <= result["bleu"] <= 100.0
