"""The judge's verdicts in the real argilla-server: an accept/reject suggestion with its score, each value's
suggestion scored by the judge's support, doubt as metadata to filter by; after review, the report sets the
judge's doubts against the reviewers' decisions."""

from __future__ import annotations

import argilla as rg

from annotate import dataset_settings as ds
from annotate.item_dataset import JUDGE_DOUBT, JUDGE_SCORE
from annotate.pull import pull
from annotate.push import push
from core import atomic
from core.layout import BuildPaths
from tests.annotate.argilla_helpers import submit


def _verdict(item: dict, score: int, kind_supported: bool = True) -> dict:
    return {
        "item_id": item["id"], "doc_id": item["span"]["doc_id"], "judge": "dsforge-gguf:judge", "status": "judged",
        "values": {"kind": kind_supported, "summary": True},
        "right_kind_of_text": True, "reason": "reads as <b>stated</b>", "score": score,
        "doubt": 0.0 if score == 5 and kind_supported else 0.75,
    }  # fmt: skip


def test_verdicts_reach_review_and_are_measured_against_the_reviewers(make_project, review_server):
    config, _ = make_project("judged-items", unit="item", min_submitted=1, missed_pass=False)
    config.judge.gate_kappa = 0.5
    paths = BuildPaths(config.output_dir)
    items = atomic.read_jsonl(paths.items)
    doubted, trusted = items[:3], items[3:]
    verdicts = [_verdict(item, 2) for item in doubted[:2]] + [_verdict(doubted[2], 5, kind_supported=False)]
    verdicts += [_verdict(item, 5) for item in trusted]
    atomic.write_jsonl(paths.judge_verdicts, verdicts)
    push(config, show_progress=False)

    url, workspace, owner = review_server.url, config.review.workspace, review_server.user("dsforge").api_key
    dataset = rg.Argilla(api_url=url, api_key=owner).datasets(name="judged-items", workspace=workspace)
    records = {r.id: r for r in dataset.records(with_suggestions=True)}
    first = records[doubted[0]["id"]]
    assert first.suggestions[ds.DECISION].value == ds.REJECT and first.suggestions[ds.DECISION].score == 0.75
    assert first.suggestions[ds.DECISION].agent.startswith("judge-")
    assert first.metadata[JUDGE_SCORE] == 2 and first.metadata[JUDGE_DOUBT] == 0.75
    assert "**Judge**" in first.fields["evidence"] and "\\<b\\>" in first.fields["evidence"]  # inert markdown
    third = records[doubted[2]["id"]]
    assert third.suggestions["kind"].score == 0.0 and third.suggestions["summary"].score == 1.0
    assert records[trusted[0]["id"]].suggestions[ds.DECISION].value == ds.ACCEPT
    # the queue filtered by doubt: the three doubted items, and only they
    doubtful = dataset.records(query=rg.Query(filter=rg.Filter((f"metadata.{JUDGE_DOUBT}", ">=", 0.5))))
    assert {r.id for r in doubtful} == {item["id"] for item in doubted}

    # Reviewers reject two of the doubted and one trusted item, and change the third doubted item's kind.
    key = review_server.user("annotator1").api_key
    changed_kind = "obligation" if doubted[2]["attributes"]["kind"] != "obligation" else "permission"
    answers = {doubted[0]["id"]: {ds.DECISION: ds.REJECT}, doubted[1]["id"]: {ds.DECISION: ds.REJECT},
               doubted[2]["id"]: {ds.DECISION: ds.ACCEPT, "kind": changed_kind},
               trusted[0]["id"]: {ds.DECISION: ds.REJECT}}  # fmt: skip
    answers.update({item["id"]: {ds.DECISION: ds.ACCEPT} for item in trusted[1:]})
    submit(url, owner, key, "judged-items", workspace, answers)
    judge = pull(config)["judge"]
    n = len(items)
    assert judge["items"] == n and judge["doubted_by_judge"] == 3 and judge["rejected_by_reference"] == 3
    assert judge["both"] == 2 and judge["catch_precision"]["value"] == round(2 / 3, 4)
    assert judge["values"]["kind"]["hits"] == n - 3 and judge["values"]["kind"]["changed_by_reference"] == 1
    assert judge["good_enough_to_gate"] is False  # six items cannot show κ ≥ 0.5 with confidence
    report = (config.output_dir / "review" / "review_report.md").read_text("utf-8")
    assert "The judge against the reviewers" in report and judge["verdict_line"] in report
