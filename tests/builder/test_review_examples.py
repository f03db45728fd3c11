"""`extraction.examples_from_review`: windows of reviewed documents around approved items become few-shot
examples; every approved item inside a window is one of its extractions, nothing else is."""

from __future__ import annotations

import pytest

from builder import extract as extract_module
from builder.pipeline import build
from builder.review_examples import review_examples
from core import atomic
from core.config import load_config
from core.layout import ReviewPaths
from schemas.types import Document, ItemReview
from tests.builder.replay_project import make_project


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, license_schema):
    """A replayed build of the sample subset whose items a reviewer decided: every third rejected."""
    config = load_config(make_project(tmp_path_factory.mktemp("reviewed")))
    summary = build(config, show_progress=False)
    items = atomic.read_jsonl(summary.paths.root / "items.jsonl")
    rows = []
    for index, item in enumerate(items):
        status = "rejected" if index % 3 == 2 else "accepted"
        rows.append({**item, "source": "model", "review": ItemReview(status=status).model_dump()})
    atomic.write_jsonl(ReviewPaths(config.output_dir).reviewed_items, rows)
    documents = [Document(**row) for row in atomic.read_jsonl(summary.paths.root / "documents.jsonl")]
    return config, rows, documents


def test_windows_hold_every_approved_item_inside_them_and_no_rejected_one(reviewed, license_schema):
    config, rows, documents = reviewed
    examples = review_examples(
        ReviewPaths(config.output_dir).reviewed_items, documents, license_schema, 3, 600
    )
    assert 0 < len(examples) <= 3
    texts = {d.id: d.text for d in documents}
    approved = [r for r in rows if r["review"]["status"] == "accepted"]
    rejected = {r["span"]["text"] for r in rows if r["review"]["status"] == "rejected"}
    for example in examples:
        doc_id, start = next((d, t.find(example.text)) for d, t in texts.items() if example.text in t)
        end = start + len(example.text)
        assert start == 0 or texts[doc_id][start - 1].isspace()  # no word cut at either edge
        assert end == len(texts[doc_id]) or texts[doc_id][end].isspace()
        inside = [r for r in approved if r["span"]["doc_id"] == doc_id and start <= r["span"]["start"]
                  and r["span"]["end"] <= end]  # fmt: skip
        assert sorted(e.extraction_text for e in example.extractions) == sorted(
            r["span"]["text"] for r in inside
        )
        assert all(e.extraction_text in example.text for e in example.extractions)
        assert not {e.extraction_text for e in example.extractions} & (
            rejected - {r["span"]["text"] for r in inside}
        )
    kinds = {e.attributes["kind"] for example in examples for e in example.extractions}
    assert len(kinds) >= min(
        3, len({r["attributes"]["kind"] for r in approved})
    )  # closed values spread first
    again = review_examples(ReviewPaths(config.output_dir).reviewed_items, documents, license_schema, 3, 600)
    assert [e.text for e in again] == [e.text for e in examples]  # the same review, the same prompts


def test_the_build_prompts_with_the_review_examples_after_the_schemas(reviewed, license_schema, monkeypatch):
    config, _, _ = reviewed
    seen = []
    real = extract_module.lx.extract

    def spy(**kwargs):
        seen.append(len(kwargs["examples"]))
        return real(**kwargs)

    monkeypatch.setattr(extract_module.lx, "extract", spy)
    build(config, show_progress=False)  # no review examples asked for: the schema's own
    config.extraction = config.extraction.model_copy(update={"examples_from_review": 2})
    build(config, show_progress=False)
    schema_only = len(license_schema.langextract_examples())
    assert set(seen[: len(seen) // 2]) == {schema_only} and set(seen[len(seen) // 2 :]) == {schema_only + 2}
    assert review_examples(ReviewPaths(config.output_dir).reviewed_items, [], license_schema, 2, 600) == []
