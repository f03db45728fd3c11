"""Preference pairs from reviewers' corrections: exported per split beside the SFT formats, in TRL's
conversational format, counted on the card; nothing paired → a clear message and no empty file."""

from __future__ import annotations

import json

import pytest

from builder.card import render_card
from builder.export import export_splits
from builder.lineage import build_lineage
from builder.preference_pairs import SOURCE_CORRECTION, preference_pairs
from builder.split import split_records
from core.layout import SPLITS, ExportPaths
from core.options.export import ExportOptions
from core.options.split import SplitOptions
from schemas.types import Review
from tests.builder.license_records import reviewed_records


def _corrected(record, original: str):
    review = Review(status="corrected", reviewers=["ana"], agreement=1.0, original_output=original)
    return record.model_copy(update={"review": review})


@pytest.fixture(scope="module")
def splits(license_schema):
    records, _ = reviewed_records(license_schema, limit=30)
    # one correction in every fourth record; every tenth record's "correction" only re-spaces the text
    marked = []
    for i, record in enumerate(records):
        if i % 10 == 0:
            record = _corrected(record, f"  {record.output}\n")
        elif i % 4 == 0:
            record = _corrected(record, "It lets you do anything.")
        marked.append(record)
    split, _ = split_records(marked, SplitOptions(), "kind")
    return split


def test_corrections_become_pairs_in_their_records_split(splits):
    pairs = preference_pairs(splits)
    corrected = {name: [r for r in splits[name] if r.review.status == "corrected"] for name in SPLITS}
    identical = sum(
        1 for rows in corrected.values() for r in rows if r.review.original_output.strip() == r.output
    )
    assert pairs.dropped_identical == identical > 0
    assert pairs.total == sum(len(rows) for rows in corrected.values()) - identical > 0
    assert pairs.by_source == {SOURCE_CORRECTION: pairs.total}
    for name in SPLITS:
        split_docs = {r.doc_id for r in splits[name]}
        for row in pairs.rows.get(name, []):
            assert row["doc_id"] in split_docs  # a pair stays in its record's split: grouped by document
            assert row["rejected"] == [{"role": "assistant", "content": "It lets you do anything."}]
            record = next(r for r in splits[name] if r.id == row["id"])
            assert row["chosen"][0]["content"] == record.output
            assert (
                record.instruction in row["prompt"][0]["content"]
                and record.input in row["prompt"][0]["content"]
            )


def test_pairs_are_exported_counted_on_the_card_and_read_by_trl(tmp_path, splits, license_schema, repo_root):
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    from train.base_models import resolve_base_model

    options = ExportOptions()
    _, manifest = split_records([r for name in SPLITS for r in splits[name]], SplitOptions(), "kind")
    result = export_splits(splits, manifest, tmp_path, options)
    pairs = preference_pairs(splits)
    paths = ExportPaths(tmp_path)
    for name in SPLITS:
        file = paths.file("preference", name)
        assert file.is_file() == bool(pairs.rows.get(name))
    assert result.preference["pairs"] == {name: len(pairs.rows.get(name, [])) for name in SPLITS}
    assert result.preference["dropped_identical"] == pairs.dropped_identical
    assert any(m.startswith(f"{pairs.total} preference pairs") for m in result.messages)

    lineage = build_lineage(tmp_path, splits, manifest, result, options, license_schema)
    assert lineage["preference"] == result.preference
    assert "preference/train.jsonl" in lineage["files"]
    card = render_card(lineage, options)
    assert "config_name: preference" in card and f"train {result.preference['pairs']['train']}" in card

    loaded = load_dataset("json", data_files=str(paths.file("preference", "train")), split="train")
    example = loaded[0]
    assert is_conversational(example)
    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model("smollm2-135m", repo_root).path)
    text = maybe_apply_chat_template(example, tokenizer)
    assert text["chosen"] != text["rejected"] and example["prompt"][0]["content"][:40] in text["prompt"]


def test_no_correction_pairs_nothing_says_so_and_removes_older_pairs(tmp_path, splits):
    _, manifest = split_records([r for name in SPLITS for r in splits[name]], SplitOptions(), "kind")
    export_splits(splits, manifest, tmp_path, ExportOptions())
    assert ExportPaths(tmp_path).file("preference", "train").is_file()

    accepted = Review(status="accepted", reviewers=["ana"])
    plain = {name: [r.model_copy(update={"review": accepted}) for r in splits[name]] for name in SPLITS}
    result = export_splits(plain, manifest, tmp_path, ExportOptions())
    assert not any(ExportPaths(tmp_path).file("preference", name).exists() for name in SPLITS)
    assert result.messages == [
        "no preference pairs: no record was corrected in review (accepting or rejecting pairs nothing)"
    ]
    assert result.preference["pairs"] == {name: 0 for name in SPLITS}
    assert not any("preference/" in str(path) for path in result.files)
    json.dumps(result.preference)  # lineage-ready
