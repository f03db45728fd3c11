"""Per-record outcomes: rules, corrections and their re-validation against the schema."""

from __future__ import annotations

import pytest

from annotate.decisions import Submission, decide, parse_output, validate_output
from core import atomic
from core.options.review import ReviewOptions
from schemas.types import GroundedItem
from tests.annotate.sample_build import write_sample_build


@pytest.fixture(scope="module")
def build(tmp_path_factory, license_schema):
    root = tmp_path_factory.mktemp("build")
    records = write_sample_build(root, license_schema)
    items = {row["id"]: GroundedItem.model_validate(row) for row in atomic.read_jsonl(root / "items.jsonl")}
    return records, items


def _by_template(records, name):
    return next(r for r in records if r.template == name)


def _sub(reviewer, decision, correction=None, rating=None):
    return Submission(reviewer, f"2026-01-01T00:00:0{len(reviewer)}", decision, correction, rating)


def test_parse_output_inverts_templates(license_schema):
    template = next(t for t in license_schema.templates if t.name == "classify_clause")
    assert parse_output(template, '{"kind": "permission", "summary": "Yes."}') == {
        "item_json": '{"kind": "permission", "summary": "Yes."}'
    }


def test_corrections_are_revalidated_through_the_template(build, license_schema):
    records, items = build
    classify = _by_template(records, "classify_clause")
    item = items[classify.meta["item_id"]]
    assert validate_output(classify, '{"kind": "condition", "summary": "Keep notices."}', license_schema, item) is None
    assert "kind" in validate_output(classify, '{"kind": "maybe", "summary": "Keep notices."}', license_schema, item)
    assert "JSON" in validate_output(classify, "kind: condition", license_schema, item)
    explain = _by_template(records, "explain_clause")
    assert "summary" in validate_output(explain, "no", license_schema, items[explain.meta["item_id"]])


def test_majority_rule_lets_two_of_three_through(build, license_schema):
    records, items = build
    record = records[0]
    subs = [_sub("a", "accept"), _sub("bb", "accept"), _sub("ccc", "reject")]
    unanimous = decide(record, subs, ReviewOptions(min_submitted=3), license_schema, None)
    majority = decide(record, subs, ReviewOptions(min_submitted=3, agreement="majority"), license_schema, None)
    assert not unanimous.passed and "unanimous" in unanimous.reasons[0]
    assert majority.passed and majority.reviewed.review.agreement == pytest.approx(2 / 3, abs=1e-3)


def test_too_few_reviews_and_conflicting_corrections_are_held_back(build, license_schema):
    records, items = build
    record = _by_template(records, "explain_clause")
    item = items[record.meta["item_id"]]
    one = decide(record, [_sub("a", "accept")], ReviewOptions(min_submitted=2), license_schema, item)
    assert not one.passed and one.reasons == ["1 of 2 required reviews submitted"]
    two = decide(
        record,
        [_sub("a", "accept", "First fix of it."), _sub("bb", "accept", "Another fix of it.")],
        ReviewOptions(),
        license_schema,
        item,
    )
    assert not two.passed and "different corrections" in two.reasons[0]


def test_a_lone_annotator_approves_with_one_review_and_two_need_two(build, license_schema):
    from core.options.review import AnnotatorUser

    records, items = build
    record = _by_template(records, "explain_clause")
    item = items[record.meta["item_id"]]
    solo = ReviewOptions(annotators=[AnnotatorUser(username="solo")])
    assert solo.required_reviews == 1 and ReviewOptions().required_reviews == 2
    assert decide(record, [_sub("solo", "accept")], solo, license_schema, item).passed
    assert not decide(record, [_sub("a", "accept")], ReviewOptions(), license_schema, item).passed
    assert ReviewOptions(annotators=[AnnotatorUser(username="solo")], min_submitted=2).required_reviews == 2


def test_why_held_back_counts_each_rule_once_per_record_with_its_setting(build, license_schema):
    from annotate.decisions import why_held_back

    records, items = build
    options = ReviewOptions()
    outcomes = [
        decide(records[0], [], options, license_schema, None),
        decide(records[1], [_sub("a", "accept")], options, license_schema, None),
        decide(records[2], [_sub("a", "accept")], options, license_schema, None),
        decide(records[3], [_sub("a", "accept"), _sub("bb", "reject")], options, license_schema, None),
        decide(records[4], [_sub("a", "reject"), _sub("bb", "reject")], options, license_schema, None),
        decide(records[5], [_sub("a", "accept"), _sub("bb", "accept")], options, license_schema, None),
    ]
    assert outcomes[5].passed
    line = why_held_back([o.reasons for o in outcomes if not o.passed], options)
    assert line.startswith("held back 5: 2 with fewer than 2 submitted reviews (review.min_submitted)")
    assert "1 not reviewed yet" in line and "1 rejected by reviewers" in line
    assert "1 where reviewers disagree (review.agreement: unanimous)" in line
    assert why_held_back([], options) == "nothing held back"
