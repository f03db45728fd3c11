"""The whole loop against a real argilla-server: push, two reviewers answer, pull, gate."""

from __future__ import annotations

from datetime import datetime

import pytest

from annotate.connection import endpoint
from annotate.fetch import find_dataset, iter_records, open_http, usernames
from annotate.pull import pull
from annotate.push import push
from core import atomic
from tests.annotate.argilla_helpers import accept, reject, submit


def _server_ids(config) -> list[str]:
    point = endpoint(config.review, config.project_root)
    with open_http(point) as http:
        dataset = find_dataset(http, config.review.workspace, config.review.dataset)
        return [row.external_id for row in iter_records(http, dataset["id"], usernames(http))]


def test_push_review_pull_applies_corrections_rejections_and_gate(make_project, review_server):
    config, records = make_project("loop", vectors=True)
    summary = push(config, show_progress=False)
    assert summary.records == len(records) and summary.batches == -(-len(records) // 4)

    explain = [r for r in records if r.template == "explain_clause"]
    ok, fixed, bad, split, invalid = explain[0], explain[1], explain[2], explain[3], explain[4]
    correction = "You must keep both notices in every copy you distribute."
    url, workspace, name = review_server.url, config.review.workspace, config.review.dataset
    owner = review_server.user("dsforge").api_key
    submit(url, owner, review_server.user("annotator1").api_key, name, workspace, {
        ok.id: accept(rating=5),
        fixed.id: accept(rating=3, correction=correction),
        bad.id: reject(rating=1),
        split.id: accept(rating=4),
        invalid.id: accept(correction="ok"),  # too short for the schema's summary (min 3 chars)
    })
    submit(url, owner, review_server.user("annotator2").api_key, name, workspace, {
        ok.id: accept(rating=4),
        fixed.id: accept(rating=4, correction=correction),
        bad.id: reject(rating=2),
        split.id: reject(rating=2),
        invalid.id: accept(correction="ok"),
    })

    report = pull(config)
    paths = config.output_dir / "review"
    reviewed = {row["id"]: row for row in atomic.read_jsonl(paths / "reviewed.jsonl")}
    approved = {row["id"]: row for row in atomic.read_jsonl(paths / "approved.jsonl")}
    assert set(reviewed) == {r.id for r in records}

    assert reviewed[ok.id]["review"]["status"] == "accepted" and ok.id in approved
    assert reviewed[ok.id]["review"]["rating"] == 4.5
    assert reviewed[ok.id]["review"]["reviewers"] == ["annotator1", "annotator2"]
    assert all(datetime.fromisoformat(t) for t in reviewed[ok.id]["review"]["submitted_at"])

    assert approved[fixed.id]["output"] == correction
    assert approved[fixed.id]["review"]["status"] == "corrected"
    assert approved[fixed.id]["review"]["original_output"] == fixed.output

    assert reviewed[bad.id]["review"]["status"] == "rejected" and bad.id not in approved
    assert split.id not in approved and reviewed[split.id]["review"]["agreement"] == 0.5
    assert invalid.id not in approved and reviewed[invalid.id]["review"]["status"] == "corrected"
    held = {row["id"]: row["reasons"] for row in report["gate"]["decisions"]}
    assert any("evenly" in reason for reason in held[split.id])
    assert any("invalid" in reason and "summary" in reason for reason in held[invalid.id])
    untouched = next(r for r in records if r.id not in {ok.id, fixed.id, bad.id, split.id, invalid.id})
    assert held[untouched.id] == ["not reviewed yet"]
    assert set(approved) == {ok.id, fixed.id}

    decision = report["agreement"]["decision"]
    assert decision["units"] == 5
    # Pairs: ok A/A, fixed A/A, bad R/R, split A/R, invalid A/A → 4 of 5 agree.
    assert decision["percent"] == pytest.approx(0.8)
    # Nominal alpha by hand: n=10 values (A:7, R:3); disagreeing pairs o_AR+o_RA = 2 → D_o = 2/10;
    # D_e = 2·7·3 / (10·9) = 42/90; alpha = 1 − (0.2 / 0.4667) = 0.5714.
    assert decision["alpha"] == pytest.approx(1 - 0.2 / (42 / 90))
    assert report["annotators"]["annotator1"]["submitted"] == 5
    # The evenly split record has no decision yet, like the records nobody opened.
    assert report["by_status"]["unreviewed"] == len(records) - 5 + 1
    markdown = (paths / "review_report.md").read_text("utf-8")
    assert "| annotator1 | 5 |" in markdown and f"`{split.id}`" in markdown

    # A re-push updates in place: no duplicates, and the reviews survive it.
    push(config, show_progress=False)
    ids = _server_ids(config)
    assert sorted(ids) == sorted(r.id for r in records)
    again = pull(config, write=False)
    assert again["approved"] == 2 and again["agreement"]["decision"]["units"] == 5


def test_status_reads_without_writing(make_project):
    config, records = make_project("status-only")
    push(config, show_progress=False)
    report = pull(config, write=False)
    assert report["records"] == len(records) and report["by_status"] == {"unreviewed": len(records)}
    assert report["agreement"]["decision"]["alpha"] is None
    assert not (config.output_dir / "review" / "approved.jsonl").exists()
