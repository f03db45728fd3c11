"""Synthetic Q&A records under item review, against the real argilla-server: their own dataset with the record
form, decided by the record rules on pull; the approved ones join the records rendered from approved items."""

from __future__ import annotations

import argilla as rg

from annotate import dataset_settings as ds
from annotate.pull import pull
from annotate.push import push
from builder.synthetic_qa import _record
from core import atomic
from core.layout import BuildPaths, ReviewPaths
from schemas.types import Document
from tests.annotate.argilla_helpers import submit


def test_synthetic_records_are_reviewed_as_records_beside_the_items(make_project, review_server):
    config, _ = make_project("synth-items", unit="item", min_submitted=1, missed_pass=False)
    paths = BuildPaths(config.output_dir)
    documents = [Document.model_validate(row) for row in atomic.read_jsonl(paths.documents)]
    mit = next(d for d in documents if d.source == "mit.txt")
    pairs = [("Does the MIT License come with a warranty?", 'THE SOFTWARE IS PROVIDED "AS IS"', "No."),
             ("Must copies keep the notice?", "The above copyright notice and this permission notice shall be "
              "included", "Yes, every copy keeps it.")]  # fmt: skip
    synthetic = [_record({"question": q, "evidence": e, "answer": a}, mit, 0, "gen", "LicenseTerm")[0] for q, e, a in pairs]
    records = atomic.read_jsonl(paths.records)
    atomic.write_jsonl(paths.records, [*records, *synthetic])

    summary = push(config, show_progress=False)
    assert summary.synthetic == 2
    url, workspace, owner = review_server.url, config.review.workspace, review_server.user("dsforge").api_key
    dataset = rg.Argilla(api_url=url, api_key=owner).datasets(name="synth-items-records", workspace=workspace)
    shown = {r.id: r for r in dataset.records()}
    assert set(shown) == {r.id for r in synthetic}
    assert shown[synthetic[0].id].fields["instruction"] == pairs[0][0]
    assert "AS IS" in shown[synthetic[0].id].fields["evidence"]  # the evidence in its document

    key = review_server.user("annotator1").api_key
    submit(url, owner, key, "synth-items-records", workspace, {
        synthetic[0].id: {ds.DECISION: ds.ACCEPT, ds.CORRECTION: "No: it is provided as is."},
        synthetic[1].id: {ds.DECISION: ds.REJECT},
    })  # fmt: skip
    report = pull(config)
    assert report["synthetic"]["approved"] == 1 and report["synthetic"]["by_status"] == {"corrected": 1, "rejected": 1}
    approved = {r["id"]: r for r in atomic.read_jsonl(ReviewPaths(config.output_dir).approved)}
    kept = approved[synthetic[0].id]
    assert kept["output"] == "No: it is provided as is." and kept["review"]["original_output"] == "No."
    assert kept["meta"]["synthetic"] is True and synthetic[1].id not in approved
