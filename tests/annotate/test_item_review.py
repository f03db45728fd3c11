"""Item-level review against the real argilla-server: the schema as the form, records from approved items,
and the missed-items pass where reviewers add what the model did not find."""

from __future__ import annotations

import argilla as rg
import pytest

from annotate import dataset_settings as ds
from annotate.missed_dataset import ADDED, CHECKED, FOUND, NOTHING_MISSED
from annotate.pull import pull
from annotate.push import push
from builder.preference_pairs import preference_pairs
from core import atomic
from core.errors import ReviewError
from schemas.types import ReviewedRecord
from tests.annotate.argilla_helpers import submit

MISSED_LIABILITY = "IN NO\nEVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM"


def _items(config) -> dict[str, dict]:
    return {row["id"]: row for row in atomic.read_jsonl(config.output_dir / "items.jsonl")}


def _starting(items: dict[str, dict], prefix: str) -> dict:
    return next(row for row in items.values() if row["span"]["text"].startswith(prefix))


def _documents(config) -> dict[str, dict]:
    return {row["id"]: row for row in atomic.read_jsonl(config.output_dir / "documents.jsonl")}


def _window_of(url: str, owner: str, name: str, workspace: str, title_start: str) -> tuple[str, str]:
    """(record id, text) of the missed-items record whose document title starts with `title_start`."""
    client = rg.Argilla(api_url=url, api_key=owner)
    for record in client.datasets(name=name, workspace=workspace).records(with_suggestions=True):
        if record.fields["title"].startswith(title_start):
            return record.id, record.fields["text"]
    raise AssertionError(f"no window for {title_start}")


def _marks(record_id: str, url: str, owner: str, name: str, workspace: str) -> list[dict]:
    client = rg.Argilla(api_url=url, api_key=owner)
    for record in client.datasets(name=name, workspace=workspace).records(with_suggestions=True):
        if record.id == record_id:
            return list(record.suggestions[FOUND].value)
    return []


def test_reviewers_judge_items_in_the_schemas_terms_and_add_what_was_missed(make_project, review_server):
    config, _ = make_project("items-loop", unit="item", min_submitted=1)
    items = _items(config)
    summary = push(config, show_progress=False)
    assert summary.unit == "item" and summary.records == len(items) == 6
    assert summary.missed_dataset == "items-loop-missed" and summary.windows == 3  # three short documents

    ok = _starting(items, "to deal in the Software")  # MIT's or X11's: both say it
    fix = _starting(items, "The above copyright notice")
    relabel = _starting(items, "provided that the above")
    bad = _starting(items, "Permission to use, copy")
    summary_fix = "You must keep both notices in every copy you give away."
    url, workspace, owner = review_server.url, config.review.workspace, review_server.user("dsforge").api_key
    key = review_server.user("annotator1").api_key
    submit(url, owner, key, "items-loop", workspace, {
        ok["id"]: {ds.DECISION: ds.ACCEPT, "kind": "permission", "summary": ok["attributes"]["summary"]},
        fix["id"]: {ds.DECISION: ds.ACCEPT, "summary": summary_fix},
        relabel["id"]: {ds.DECISION: ds.ACCEPT, "kind": "obligation"},
        bad["id"]: {ds.DECISION: ds.REJECT},
    })  # fmt: skip

    # The missed-items pass: the MIT text with the model's three finds marked; the reviewer adds the liability
    # clause, and says nothing was missed in the ISC text.
    window_id, text = _window_of(url, owner, "items-loop-missed", workspace, "MIT")
    suggested = _marks(window_id, url, owner, "items-loop-missed", workspace)
    assert {m["label"] for m in suggested} == {"permission", "obligation", "limitation"}
    start = text.index(MISSED_LIABILITY)
    added_mark = {"label": "limitation", "start": start, "end": start + len(MISSED_LIABILITY)}
    isc_id, _ = _window_of(url, owner, "items-loop-missed", workspace, "ISC")
    submit(url, owner, key, "items-loop-missed", workspace, {
        window_id: {FOUND: [*suggested, added_mark], CHECKED: ADDED},
        isc_id: {CHECKED: NOTHING_MISSED},
    })  # fmt: skip

    report = pull(config)
    paths = config.output_dir / "review"
    reviewed = {row["id"]: row for row in atomic.read_jsonl(paths / "reviewed_items.jsonl")}
    approved = atomic.read_jsonl(paths / "approved.jsonl")
    assert reviewed[ok["id"]]["review"]["status"] == "accepted"
    assert reviewed[fix["id"]]["review"]["status"] == "corrected"
    assert reviewed[fix["id"]]["attributes"]["summary"] == summary_fix
    assert reviewed[fix["id"]]["review"]["original_attributes"] == fix["attributes"]
    assert reviewed[relabel["id"]]["attributes"]["kind"] == "obligation"
    assert reviewed[bad["id"]]["review"]["status"] == "rejected"

    # Records are rendered from approved items: a correction reaches every template of its item.
    by_item: dict[str, list[dict]] = {}
    for row in approved:
        by_item.setdefault(row["meta"]["item_id"], []).append(row)
    assert set(by_item) == {ok["id"], fix["id"], relabel["id"]}
    explain = next(r for r in by_item[fix["id"]] if r["template"] == "explain_clause")
    assert explain["output"] == summary_fix and explain["review"]["original_output"] == fix["attributes"]["summary"]
    classify = next(r for r in by_item[relabel["id"]] if r["template"] == "classify_clause")
    assert "obligation" in classify["output"] and classify["review"]["status"] == "corrected"
    assert all(r["spans"][0]["text"] == reviewed[r["meta"]["item_id"]]["span"]["text"] for r in approved)
    # ...and each corrected record is a preference pair: the reviewer's version over the model's.
    pairs = preference_pairs({"train": [ReviewedRecord.model_validate(r) for r in approved]}).rows["train"]
    by_id = {row["id"]: row for row in pairs}
    assert by_id[explain["id"]]["chosen"][0]["content"] == summary_fix
    assert by_id[explain["id"]]["rejected"][0]["content"] == fix["attributes"]["summary"]
    assert classify["id"] in by_id and ok["id"] not in {r["meta"]["item_id"] for r in approved if r["id"] in by_id}

    # The added clause: exactly the document's text, marked as the reviewer's, waiting for its summary.
    added = [row for row in reviewed.values() if row["source"] == "reviewer"]
    assert len(added) == 1 and added[0]["attributes"] == {"kind": "limitation"}
    document = _documents(config)[added[0]["span"]["doc_id"]]
    span = added[0]["span"]
    assert document["text"][span["start"] : span["end"]] == span["text"] == MISSED_LIABILITY
    assert added[0]["review"]["status"] == "unreviewed"
    held = {row["id"]: row["reasons"] for row in report["gate"]["decisions"]}
    assert "wait for review" in held[added[0]["id"]][0]

    measured = report["measured"]
    assert measured["checked_documents"] == 2
    assert measured["overall"]["accepted"] == 1 and measured["overall"]["corrected"] == 2
    assert measured["overall"]["rejected"] == 1 and measured["overall"]["added"] == 1
    assert measured["overall"]["precision"] == pytest.approx(0.75)
    # Checked: MIT (3 model items; ok may be x11's — count what the report saw) and ISC; one added.
    limitation = measured["by_value"]["limitation"]
    assert limitation["added"] == 1 and limitation["miss_rate"] is not None
    text_report = (paths / "review_report.md").read_text("utf-8")
    assert "What the review measured" in text_report and "miss rate" in text_report

    # Second round: the added item reaches the items dataset with its label filled in; reviews stay.
    again = push(config, show_progress=False)
    assert again.records == len(items) + 1
    submit(url, owner, key, "items-loop", workspace, {
        added[0]["id"]: {ds.DECISION: ds.ACCEPT, "kind": "limitation",
                         "summary": "The authors are not liable for any claim."},
    })  # fmt: skip
    second = pull(config)
    reviewed = {row["id"]: row for row in atomic.read_jsonl(paths / "reviewed_items.jsonl")}
    assert reviewed[fix["id"]]["review"]["status"] == "corrected"  # the re-push kept the first answers
    assert reviewed[added[0]["id"]]["attributes"]["summary"] == "The authors are not liable for any claim."
    approved = atomic.read_jsonl(paths / "approved.jsonl")
    from_added = [r for r in approved if r["meta"]["item_id"] == added[0]["id"]]
    assert from_added and all(r["meta"]["source"] == "reviewer" for r in from_added)
    assert second["approved_items"] == 4


def test_bad_answers_are_reported_by_record_and_nothing_else_is_lost(make_project, review_server):
    config, _ = make_project("items-bad", unit="item", span_question=True, min_submitted=1)
    items = _items(config)
    push(config, show_progress=False)
    short = _starting(items, "The above copyright notice")
    moved = _starting(items, "provided that the above")
    good = _starting(items, "Permission to use, copy")
    url, workspace, owner = review_server.url, config.review.workspace, review_server.user("dsforge").api_key
    key = review_server.user("annotator1").api_key
    client = rg.Argilla(api_url=url, api_key=owner)
    contexts = {r.id: r.fields["evidence_text"] for r in client.datasets(name="items-bad", workspace=workspace).records()}
    moved_context = contexts[moved["id"]]
    new_start = moved_context.index("the above copyright notice")
    new_mark = {"label": "evidence", "start": new_start, "end": new_start + len("the above copyright notice")}
    submit(url, owner, key, "items-bad", workspace, {
        short["id"]: {ds.DECISION: ds.ACCEPT, "summary": "ok"},  # under the schema's 3 characters
        moved["id"]: {ds.DECISION: ds.ACCEPT, ds.SPAN: [new_mark]},  # a shorter evidence span
        good["id"]: {ds.DECISION: ds.ACCEPT},
    })  # fmt: skip
    window_id, text = _window_of(url, owner, "items-bad-missed", workspace, "MIT")
    heading = text.index("MIT License")
    # The server checks a span against its field's length, so an out-of-range mark cannot be stored; a mark
    # of a heading can, and the schema refuses it (evidence must be at least 20 characters).
    submit(url, owner, key, "items-bad-missed", workspace, {
        window_id: {FOUND: [{"label": "condition", "start": heading, "end": heading + len("MIT License")}],
                    CHECKED: ADDED},
    })  # fmt: skip

    report = pull(config)
    reviewed = {row["id"]: row for row in atomic.read_jsonl(config.output_dir / "review" / "reviewed_items.jsonl")}
    held = {row["id"]: row["reasons"] for row in report["gate"]["decisions"]}
    assert any("corrected item is invalid: summary" in reason for reason in held[short["id"]])
    span = reviewed[moved["id"]]["span"]
    assert span["text"] == "the above copyright notice" and reviewed[moved["id"]]["review"]["status"] == "corrected"
    assert reviewed[moved["id"]]["review"]["original_span"]["text"] == moved["span"]["text"]
    document = _documents(config)[span["doc_id"]]
    assert document["text"][span["start"] : span["end"]] == span["text"]
    assert [p["problem"] for p in report["added_problems"]] == [
        "the marked text is not a valid item: evidence: String should have at least 20 characters"
    ]
    approved_items = {row["meta"]["item_id"] for row in atomic.read_jsonl(config.output_dir / "review" / "approved.jsonl")}
    assert approved_items == {moved["id"], good["id"]}

    # A dataset made for the other unit is refused by name, with the setting that fixes it.
    config.review.unit = "record"
    config.review.dataset = "items-bad"
    with pytest.raises(ReviewError, match="review.dataset"):
        push(config, show_progress=False)
