"""Field-level scores, similarity, paired intervals and the verdict, on hand-made cases with known answers,
then on the recorded real evaluation (tests/fixtures/eval_sample)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from core.options.train import EvalOptions
from core.stats import sign_test
from schemas.base import Example, ExtractionSchema, RecordTemplate
from train.comparison import verdict_lines
from train.evaluate import ModelOutputs, score
from train.field_metrics import OTHER, UNPARSEABLE, FieldScoring, label_table
from train.paired_intervals import corpus_interval, paired_interval, small_split_warning, verdict

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "eval_sample"


class Ticket(ExtractionSchema):
    """Support tickets: how urgent each request is and which team takes it."""

    extraction_class = "ticket"
    priority: Literal["low", "high"] = Field(description="how urgent")
    team: Literal["billing"] = Field(description="the only team")
    note: str = Field(description="what the ticket asks for")
    examples = [
        Example(
            text="Refund me now, billing is wrong.",
            items=[
                {"evidence": "Refund me now", "priority": "high", "team": "billing", "note": "wants a refund"}
            ],
        )
    ]
    templates = [
        RecordTemplate(name="whole", instruction="Tag it.", output="{item_json}"),
        RecordTemplate(name="priority_only", instruction="How urgent?", output="{priority}"),
        RecordTemplate(name="titled", instruction="Which document?", output="{doc_title}"),
        RecordTemplate(name="wrapped", instruction="Say it.", output="Priority: {priority}"),
    ]


def _item(priority: str, note: str = "wants a refund", team: str = "billing") -> str:
    return json.dumps({"note": note, "priority": priority, "team": team}, sort_keys=True)


def _row(i: int, template: str, output: str) -> dict:
    return {"id": f"r{i}", "template": template, "output": output, "input": "Refund me now", "stratum": "s",
            "instruction": "Tag it.", "doc_id": "d"}  # fmt: skip


def test_templates_that_carry_no_field_or_wrap_one_are_skipped_with_a_note():
    fields = FieldScoring.of(Ticket)
    assert set(fields.rendered) == {"whole", "priority_only"}
    assert fields.rendered["whole"].whole_item and fields.rendered["priority_only"].fields == ("priority",)
    notes = " ".join(fields.notes)
    assert (
        "'titled' renders no schema field" in notes and "'wrapped' renders fields inside other text" in notes
    )
    assert "field 'team' allows one value ('billing')" in notes
    assert fields.specs["priority"].allowed == ("low", "high") and not fields.specs["note"].categorical


def test_the_confusion_matrix_and_per_value_scores_have_the_counts_worked_by_hand():
    fields = FieldScoring.of(Ticket)
    rows = [_row(i, "whole", _item(p)) for i, p in enumerate(["low", "low", "high", "high", "high", "low"])]
    answers = [
        _item("low"),  # right
        _item("high"),  # wrong value
        "JSON:\n" + _item("high"),  # right, after a preamble
        _item("urgent"),  # not an allowed value
        "[1, 2]",  # valid JSON of another shape
        '{"priority": "low", "note": ',  # cut off
    ]
    scored = fields.score(rows, answers)
    table = label_table([s.expected["priority"] for s in scored], [s.predicted["priority"] for s in scored],
                        fields.specs["priority"])  # fmt: skip
    assert table["confusion"]["columns"] == ["low", "high", OTHER, UNPARSEABLE]
    assert table["confusion"]["counts"] == [[1, 1, 0, 1], [0, 1, 1, 1]]
    assert table["accuracy"] == pytest.approx(2 / 6) and table["unparseable"] == 2
    low, high = table["per_value"]["low"], table["per_value"]["high"]
    assert (low["precision"], low["recall"], low["support"]) == (1.0, pytest.approx(1 / 3), 3)
    assert (high["precision"], high["recall"]) == (0.5, pytest.approx(1 / 3))
    f1_low, f1_high = 2 * 1 * (1 / 3) / (1 + 1 / 3), 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3)
    assert table["macro_f1"] == pytest.approx((f1_low + f1_high) / 2)
    assert [s.item_exact for s in scored] == [True, False, True, False, False, False]
    assert [s.parsed for s in scored] == [True, True, True, True, False, False]


def test_a_single_field_answer_is_read_past_case_quotes_and_a_full_stop():
    fields = FieldScoring.of(Ticket)
    rows = [_row(0, "priority_only", "high"), _row(1, "priority_only", "low"), _row(2, "titled", "MIT")]
    scored = fields.score(rows, ['"High".', "medium", "MIT"])
    assert scored[0].correct == {"priority": True} and scored[1].predicted == {"priority": OTHER}
    assert scored[2] is None  # its template carries no field
    assert fields.measured(scored)["field_accuracy"] == [1.0, 0.0, None]


def test_the_sign_test_is_the_exact_binomial():
    assert sign_test(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert sign_test(5, 0) == pytest.approx(0.0625) and sign_test(0, 0) is None and sign_test(3, 3) == 1.0
    assert paired_interval([0.5, 0.5], [0.5, 0.5])["p_sign"] == 1.0  # no untied prompt: no evidence


def test_identical_models_get_an_interval_that_covers_zero():
    scores = [0.1, 0.9, 0.4, 0.4, 0.7, 0.0, 1.0, 0.3]
    same = paired_interval(scores, scores)
    assert (same["delta"], same["low"], same["high"], same["wins"], same["losses"]) == (0.0, 0.0, 0.0, 0, 0)
    assert verdict("ROUGE-L", same).startswith(
        "no clear difference on ROUGE-L: +0.000 [+0.000, +0.000] covers 0"
    )
    noisy = paired_interval(scores, scores[1:] + scores[:1])  # the same scores, shuffled against each other
    assert noisy["low"] < 0 < noisy["high"] and verdict("ROUGE-L", noisy).startswith("no clear difference")


def test_a_clear_gain_is_called_better_and_a_gain_on_few_prompts_is_not():
    clear = paired_interval([0.0] * 12, [1.0] * 10 + [0.0] * 2)
    assert clear["low"] > 0 and clear["p_sign"] < 0.05
    assert verdict("kind accuracy", clear).startswith("tuned is better on kind accuracy: +0.833 [")
    assert "10 of 12 prompts better, 0 worse" in verdict("kind accuracy", clear)
    worse = paired_interval([1.0] * 12, [0.0] * 10 + [1.0] * 2)
    assert verdict("kind accuracy", worse).startswith("tuned is worse on kind accuracy")
    few = paired_interval([0, 0, 1, 0, 1, 0, 0, 1], [1, 1, 1, 0, 1, 1, 0, 1])  # 3 wins, 0 losses
    assert few["low"] > 0 and few["p_sign"] == 0.25
    assert "the sign test does not confirm it" in verdict("kind accuracy", few)
    # Intervals are seeded: the same call gives the same numbers.
    assert paired_interval([0, 1, 0.5], [1, 1, 0.2]) == paired_interval([0, 1, 0.5], [1, 1, 0.2])


def test_a_corpus_score_gets_an_interval_and_no_sign_test():
    truth = ["a", "b", "a", "b", "a", "b"]
    said = {"base": ["a", "a", "a", "a", "a", "a"], "tuned": truth}

    def accuracy(model):
        return lambda picks: sum(truth[i] == said[model][i] for i in picks) / len(picks)

    result = corpus_interval(6, accuracy("base"), accuracy("tuned"))
    assert result["delta"] == pytest.approx(0.5) and "wins" not in result
    assert 0 < result["low"] <= 0.5 <= result["high"] <= 1.0


def test_one_test_record_gives_no_interval_and_says_so():
    fields = FieldScoring.of(Ticket)
    rows = [_row(0, "whole", _item("low"))]
    outputs = {name: ModelOutputs([_item("low")], 2.0, 10, 3.0, 10) for name in ("base", "tuned")}
    result = score(rows, outputs, Ticket, EvalOptions(examples_shown=1))
    assert result["intervals"]["rouge_l"]["low"] is None
    assert result["verdict"][0].startswith("Only 1 test record: too few to tell a gain from noise")
    assert "no interval from one record" in result["verdict"][1]
    assert result["fields"]["priority"]["tuned"]["accuracy"] == 1.0 and fields.notes
    assert small_split_warning(100) is None and "intervals are wide" in small_split_warning(12)


def test_similarity_scores_meaning_not_words():
    from train.similarity import similarity

    reference = "You must keep the copyright notice in every copy."
    paraphrase = "Every copy has to retain the copyright notice."
    unrelated = "The weather in Lisbon is mild in winter."
    assert similarity(reference, reference) == pytest.approx(1.0, abs=1e-5)
    assert similarity(paraphrase, reference) > similarity(unrelated, reference) + 0.4
    assert similarity("", reference) == 0.0 and similarity("", "") == 1.0


@pytest.fixture(scope="module")
def recorded(license_schema, tmp_path_factory):
    """The recorded base and tuned answers of SmolLM2-135M, scored again against the re-exported test split."""
    from core import atomic
    from tests.train.record_eval_sample import recorded_outputs

    rows, outputs = recorded_outputs(license_schema, tmp_path_factory.mktemp("recorded"))
    answers = {r["id"]: r for r in atomic.read_jsonl(RECORDING / "predictions.jsonl")}
    return rows, answers, score(rows, outputs, license_schema, EvalOptions(examples_shown=2))


def test_the_recorded_evaluation_gets_kind_accuracy_from_its_own_answers(recorded):
    rows, answers, result = recorded
    classify = [r for r in rows if r["template"] == "classify_clause"]
    kind = result["fields"]["kind"]
    assert kind["n"] == len(classify) and kind["kind"] == "categorical"
    right = 0
    for row in classify:  # by hand: the tuned answer's kind, where it parses, against the reference's
        try:
            said = json.loads(answers[row["id"]]["tuned"]).get("kind")
        except ValueError:
            said = None
        right += said == json.loads(row["output"])["kind"]
    assert kind["tuned"]["accuracy"] == pytest.approx(right / len(classify))
    assert sum(map(sum, kind["tuned"]["confusion"]["counts"])) == len(classify)
    assert result["overall"]["tuned"]["field_accuracy_n"] == len(classify)
    assert set(result["intervals"]) >= {"rouge_l", "bleu", "similarity", "kind.accuracy", "kind.macro_f1"}
    assert result["verdict"] == verdict_lines(result) and "kind accuracy" in result["verdict"][1]
    assert all("similarity" in group["tuned"] for group in result["by_template"].values())


def test_the_report_opens_with_the_verdict_and_shows_the_fields(recorded, tmp_path):
    from core.layout import TrainPaths
    from train.report import render, write_report
    from train.run_card import RunCard

    _, _, result = recorded
    card = RunCard.model_validate(json.loads((RECORDING / "run.json").read_text("utf-8")))
    report = render({**result, "loading": {}}, card)
    assert report.index("## Verdict") < report.index("## Metrics") < report.index("## Field-level metrics")
    assert "| semantic similarity (MiniLM cosine) |" in report and "95 % interval of Δ" in report
    assert "### `kind` (categorical" in report and "![kind confusion](confusion-kind.png)" in report
    paths = TrainPaths(tmp_path)
    write_report({**result, "loading": {}}, card, paths)
    assert (paths.evaluation.root / "confusion-kind.png").read_bytes()[:4] == b"\x89PNG"
