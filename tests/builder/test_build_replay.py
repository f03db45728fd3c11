"""The whole build stage on real sample documents, served by a recording of the real 1.5B model.

The recording (`tests/fixtures/replay/license_qwen15b.jsonl`) holds completions the
embedded Qwen2.5-Coder-1.5B produced on these documents (`dsforge cache export`),
so assertions can be exact; `test_build_live.py` runs the live llama.cpp path.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import langextract as lx
import pytest
from datasets import load_from_disk
from filelock import FileLock

from builder.pipeline import build
from core.config import load_config
from core.errors import BuildLockedError
from tests.builder.replay_project import KEPT_DOCUMENTS, RECORDING, kill_build_after, make_project


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    config = load_config(make_project(tmp_path_factory.mktemp("replay")))
    return config, build(config, show_progress=False)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_every_kept_item_and_record_is_grounded_in_the_cleaned_text(built):
    config, summary = built
    paths = summary.paths
    texts = {row["id"]: row["text"] for row in _rows(paths.documents)}
    items = _rows(paths.items)
    records = _rows(paths.records)
    assert items and records
    for item in items:
        span = item["span"]
        assert texts[span["doc_id"]][span["start"] : span["end"]] == span["text"]
    for record in records:
        for span in record["spans"]:
            assert texts[span["doc_id"]][span["start"] : span["end"]] == span["text"]
        assert record["input"] == record["spans"][0]["text"]
    report = summary.report
    assert report["extraction"]["grounded_rechecked"] == report["extraction"]["items"] == len(items)
    assert report["documents"]["after_cleaning"] == KEPT_DOCUMENTS
    assert {d["reason"] for d in report["cleaning"]["dropped"]} == {"exact_duplicate"}


def test_rejects_carry_reasons_and_items_validate_against_the_schema(built, license_schema):
    _, summary = built
    for item in _rows(summary.paths.items):
        license_schema.validate_item(item["span"]["text"], item["attributes"])
    rejects = _rows(summary.paths.rejects)
    assert {r["reason"] for r in rejects} <= {"ungrounded", "invalid", "parse_error", "provider_error"}
    assert all(r["detail"] for r in rejects)
    assert summary.report["extraction"]["rejects"] == {
        reason: sum(1 for r in rejects if r["reason"] == reason) for reason in {r["reason"] for r in rejects}
    }


def test_artifacts_load_with_their_own_libraries(built):
    _, summary = built
    paths = summary.paths
    annotated = list(lx.io.load_annotated_documents_jsonl(paths.extractions, show_progress=False))
    assert len(annotated) == KEPT_DOCUMENTS
    html = paths.visualization.read_text(encoding="utf-8")
    assert html.count("<section>") == KEPT_DOCUMENTS and "grounded" in html
    dataset = load_from_disk(str(paths.dataset))
    assert len(dataset) == summary.report["records"]["kept"]
    assert set(dataset.column_names) >= {"instruction", "input", "output", "doc_id", "spans"}
    assert "LLM calls" in paths.report_md.read_text()


def test_a_rerun_makes_no_model_calls_and_changes_nothing(built):
    config, first = built
    before = {p: p.read_bytes() for p in (first.paths.records, first.paths.items, first.paths.rejects)}
    second = build(config, show_progress=False)
    assert second.report["extraction"]["llm_calls"] == 0
    assert second.report["extraction"]["cache_hits"] == first.report["extraction"]["chunks"]
    assert {p: p.read_bytes() for p in before} == before


def test_a_second_build_on_the_same_output_is_refused(built):
    config, summary = built
    with FileLock(summary.paths.lock, timeout=0):
        with pytest.raises(BuildLockedError, match="another dsforge build"):
            build(config, show_progress=False)


def test_a_chunk_with_no_completion_is_rejected_and_the_rest_kept(tmp_path, built):
    _, reference = built
    rows = _rows(RECORDING)
    broken = tmp_path / "recording.jsonl"
    # Drop the completion of one chunk: the provider raises for it, as a dead endpoint would.
    missing = _first_prompt_of(reference)
    broken.write_text("".join(json.dumps(r) + "\n" for r in rows if r["prompt_sha256"] != missing))
    config = load_config(make_project(tmp_path / "project", recording=broken))
    summary = build(config, show_progress=False)
    ext = summary.report["extraction"]
    assert ext["rejects"].get("provider_error") == 1
    assert ext["failed_chunks"] == 1
    assert 0 < ext["items"] < reference.report["extraction"]["items"] + 1
    assert summary.report["documents"]["after_cleaning"] == KEPT_DOCUMENTS


def test_kill_minus_nine_mid_build_then_rerun_gives_the_same_output(tmp_path, built):
    _, reference = built
    config_path = make_project(tmp_path / "project", latency_s=0.4)
    done_before_kill = kill_build_after(
        config_path, tmp_path / "project" / "build" / "cache" / "completions.sqlite"
    )
    assert 3 <= done_before_kill < reference.report["extraction"]["chunks"]
    assert not (tmp_path / "project" / "build" / "records.jsonl").exists()

    rerun = build(load_config(config_path), show_progress=False)
    assert (
        rerun.report["extraction"]["llm_calls"] == reference.report["extraction"]["chunks"] - done_before_kill
    )
    assert rerun.paths.records.read_bytes() == reference.paths.records.read_bytes()
    assert rerun.paths.items.read_bytes() == reference.paths.items.read_bytes()


def _first_prompt_of(summary) -> str:
    with sqlite3.connect(summary.paths.cache) as db:
        return db.execute("SELECT prompt_sha256 FROM completions ORDER BY created LIMIT 1").fetchone()[0]
