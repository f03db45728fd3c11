"""Splits on reviewed records built from 30 real license texts (tests/fixtures/licenses)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import typer
from typer.testing import CliRunner

from builder.leakage import checked_kinds, cross_split, duplicate_pairs, repair
from builder.split import fold_plan, read_splits, split_records, stratum_of, write_splits
from core import atomic
from core.errors import SplitError
from core.layout import SplitPaths
from core.options.split import LeakageOptions, SplitOptions
from dsforge.split_commands import split_command
from schemas.types import Review, ReviewedRecord, content_id
from tests.builder.license_records import reviewed_records

# Tolerance on each stratum's share of a split versus its share of the whole set. Train holds
# ~23 of 30 documents; validation and test hold 3-5 whole documents each, and a licence is
# mostly obligations or mostly disclaimers, so their mix can only be matched this closely.
TRAIN_TOLERANCE = 0.05
EVAL_TOLERANCE = 0.15
FIELD = "kind"


@pytest.fixture(scope="module")
def corpus(license_schema):
    records, docs = reviewed_records(license_schema, limit=30)
    assert len(records) >= 200 and len({r.doc_id for r in records}) == 30
    return records, docs


@pytest.fixture(scope="module")
def default_split(corpus):
    records, _ = corpus
    return split_records(records, SplitOptions(), FIELD)


def _docs(rows: list[ReviewedRecord]) -> set[str]:
    return {r.doc_id for r in rows}


def test_strata_proportions_within_tolerance_and_documents_stay_whole(corpus, default_split):
    records, _ = corpus
    splits, manifest = default_split
    overall = Counter(stratum_of(r, FIELD) for r in records)
    for name, rows in splits.items():
        assert rows, f"{name} is empty"
        share = Counter(stratum_of(r, FIELD) for r in rows)
        tolerance = TRAIN_TOLERANCE if name == "train" else EVAL_TOLERANCE
        for stratum, count in overall.items():
            assert abs(share[stratum] / len(rows) - count / len(records)) <= tolerance, (name, stratum)
        assert manifest.strata[name] == dict(sorted(share.items()))
    assert not _docs(splits["train"]) & _docs(splits["validation"])
    assert not _docs(splits["train"]) & _docs(splits["test"])
    assert not _docs(splits["validation"]) & _docs(splits["test"])
    assert {name: [r.id for r in rows] for name, rows in splits.items()} == manifest.splits
    assert manifest.stratify_by == FIELD and manifest.group_by == "doc_id"
    assert "StratifiedGroupKFold" in manifest.leakage["method"]


def test_real_boilerplate_leaks_before_repair_and_not_after(corpus, default_split):
    records, _ = corpus
    splits, manifest = default_split
    leak = manifest.leakage
    # Licences share disclaimers word for word: the first assignment leaks, the repair fixes it.
    assert leak["before"]["total"] > 0 and leak["after"]["total"] == 0
    assert leak["repair"]["action"] == "drop"
    dropped = set(leak["repair"]["dropped_records"])
    assert len(dropped) > 0
    assert sum(len(rows) for rows in splits.values()) + len(dropped) == len(records)
    # Independent re-check on what was written, not on what the manifest says.
    kept = [r for rows in splits.values() for r in rows]
    split_of = {r.id: name for name, rows in splits.items() for r in rows}
    options = LeakageOptions()
    assert cross_split(duplicate_pairs(kept, options), split_of, checked_kinds(options)).pairs == []


def _plant(source: ReviewedRecord, target_doc: str, reword: bool) -> ReviewedRecord:
    # Reworded: re-cased, with a word added in front; still the same example to a reader.
    text = "Notably, " + source.input.upper() if reword else source.input
    output = source.output
    return ReviewedRecord(
        **{
            **source.model_dump(),
            "id": content_id("planted", source.id, target_doc, prefix="rec-"),
            "doc_id": target_doc,
            "input": text,
            "output": output,
        }
    )


@pytest.mark.parametrize("action", ["drop", "move"])
def test_planted_duplicate_is_found_then_repaired(default_split, action):
    splits, _ = default_split
    kept = [r for rows in splits.values() for r in rows]
    split_of = {r.id: name for name, rows in splits.items() for r in rows}
    doc_of = {r.id: r.doc_id for r in kept}
    options = LeakageOptions(action=action)
    kinds = checked_kinds(options)
    assert cross_split(duplicate_pairs(kept, options), split_of, kinds).pairs == []

    # A longer train record, copied into a test document: once verbatim, once re-cased and reworded.
    source = max(splits["train"], key=lambda r: (len(r.input), r.id))
    test_doc = sorted(_docs(splits["test"]))[0]
    planted = [_plant(source, test_doc, reword=False), _plant(source, test_doc, reword=True)]
    planted[1] = ReviewedRecord(**{**planted[1].model_dump(), "id": planted[1].id + "b"})
    for record in planted:
        split_of[record.id] = "test"
        doc_of[record.id] = record.doc_id
    records = kept + planted
    pairs = duplicate_pairs(records, options)
    before = cross_split(pairs, split_of, kinds)
    assert before.counts()["exact"] >= 1 and before.counts()["near"] >= 1
    assert {p.kind for p in before.pairs if source.id in (p.a, p.b)} == {"exact", "near"}

    fixed = repair(pairs, split_of, doc_of, action)
    after = cross_split(duplicate_pairs([r for r in records if r.id in split_of], options), split_of, kinds)
    assert after.pairs == []
    if action == "drop":
        assert set(fixed.dropped) >= {p.id for p in planted} and source.id in split_of
    else:
        assert fixed.moved_documents and not fixed.dropped
        assert len({split_of[source.id], *(split_of[p.id] for p in planted)}) == 1
        by_doc: dict[str, set[str]] = {}
        for record_id, name in split_of.items():
            by_doc.setdefault(doc_of[record_id], set()).add(name)
        assert all(len(names) == 1 for names in by_doc.values())


def test_split_records_reports_planted_copies_end_to_end(corpus):
    records, _ = corpus
    source = sorted(records, key=lambda r: r.id)[0]
    # A copy in every other document: wherever the folds fall, some copies cross a split.
    planted = [
        _plant(source, doc, reword=False) for doc in sorted({r.doc_id for r in records} - {source.doc_id})
    ]
    splits, manifest = split_records(records + planted, SplitOptions(), FIELD)
    copies = {source.id} | {p.id for p in planted}
    crossing = [p for p in manifest.leakage["pairs_before"] if {p["a"], p["b"]} <= copies]
    assert crossing and all(p["kind"] == "exact" and p["splits"][0] != p["splits"][1] for p in crossing)
    assert manifest.leakage["after"]["total"] == 0
    survivors = {name for name, rows in splits.items() for r in rows if r.id in copies}
    assert len(survivors) == 1


def test_same_seed_same_splits_whatever_the_input_order(corpus, default_split):
    records, _ = corpus
    _, manifest = default_split
    shuffled = list(records)
    random.Random(7).shuffle(shuffled)
    _, again = split_records(shuffled, SplitOptions(), FIELD)
    assert again.model_dump() == manifest.model_dump()


def test_small_stratum_is_reported_not_merged(corpus):
    records, _ = corpus
    rare_ids = {r.id for r in records if r.template == "classify_clause"}
    rare_ids = set(sorted(rare_ids)[:4])
    relabelled = [
        ReviewedRecord(**{**r.model_dump(), "meta": {**r.meta, "stratum": "rare"}}) if r.id in rare_ids else r
        for r in records
    ]
    splits, manifest = split_records(relabelled, SplitOptions(min_stratum_size=10), FIELD)
    notes = [n for n in manifest.notes if n.startswith("stratum 'rare'")]
    assert len(notes) == 1 and "4 record(s)" in notes[0]
    kept_rare = {r.id for rows in splits.values() for r in rows if stratum_of(r, FIELD) == "rare"}
    dropped = set(manifest.leakage["repair"]["dropped_records"])
    assert kept_rare == rare_ids - dropped
    assert sum(counts.get("rare", 0) for counts in manifest.strata.values()) == len(kept_rare)


def test_few_documents_fall_back_to_grouped_unstratified(corpus):
    records, _ = corpus
    five = sorted({r.doc_id for r in records})[:5]
    subset = [r for r in records if r.doc_id in five]
    splits, manifest = split_records(subset, SplitOptions(), FIELD)
    assert "GroupShuffleSplit" in manifest.leakage["method"]
    assert any("not stratified" in note for note in manifest.notes)
    owners = {doc: {name for name, rows in splits.items() for r in rows if r.doc_id == doc} for doc in five}
    assert all(len(names) == 1 for names in owners.values())
    with pytest.raises(SplitError, match="cannot fill 3 splits"):
        split_records([r for r in records if r.doc_id in five[:2]], SplitOptions(), FIELD)


def test_only_accepted_or_corrected_records_are_split(corpus):
    records, _ = corpus
    rejected = ReviewedRecord(**{**records[0].model_dump(), "review": Review(status="rejected").model_dump()})
    splits, manifest = split_records([rejected, *records[1:]], SplitOptions(), FIELD)
    assert all(rejected.id not in ids for ids in manifest.splits.values())
    assert any("not accepted or corrected" in note for note in manifest.notes)


def test_fold_plan_follows_the_ratios():
    assert fold_plan({"train": 0.8, "validation": 0.1, "test": 0.1}, 30) == {
        "train": 8,
        "validation": 1,
        "test": 1,
    }
    assert fold_plan({"train": 0.8, "validation": 0.1, "test": 0.1}, 100) == {
        "train": 24,
        "validation": 3,
        "test": 3,
    }
    assert fold_plan({"train": 0.7, "validation": 0.15, "test": 0.15}, 30) == {
        "train": 14,
        "validation": 3,
        "test": 3,
    }
    assert fold_plan({"train": 0.9, "validation": 0.0, "test": 0.1}, 30) == {
        "train": 9,
        "validation": 0,
        "test": 1,
    }
    with pytest.raises(ValueError, match="must sum to 1"):
        SplitOptions.model_validate({"ratios": {"train": 0.8, "validation": 0.3, "test": 0.1}})


def test_semantic_check_finds_a_paraphrase_minhash_misses(corpus):
    records, _ = corpus
    base = sorted(records, key=lambda r: r.id)
    original = next(r for r in base if r.template == "explain_clause")
    paraphrase = ReviewedRecord(
        **{
            **original.model_dump(),
            "id": "rec-paraphrase",
            "doc_id": "doc-elsewhere",
            "input": "Every copy of the software has to carry the copyright notice and this permission text.",
            "output": "You have to keep the copyright and permission notice in all copies.",
        }
    )
    original = ReviewedRecord(
        **{
            **original.model_dump(),
            "input": "The above copyright notice and this permission notice shall be included in all copies.",
            "output": "You must keep the copyright notice and the permission notice in every copy.",
        }
    )
    unrelated = next(r for r in base if r.meta["stratum"] == "limitation")
    pool = [original, paraphrase, unrelated]
    assert duplicate_pairs(pool, LeakageOptions()) == []
    semantic = duplicate_pairs(pool, LeakageOptions(semantic=True, semantic_threshold=0.75))
    assert [(p.kind, p.a, p.b) for p in semantic] == [("semantic", *sorted([original.id, paraphrase.id]))]
    assert 0.75 <= semantic[0].score < 1


def test_split_command_writes_splits_and_manifest(tmp_path, corpus, repo_root):
    records, _ = corpus
    project = _project(tmp_path, repo_root)
    app = typer.Typer()
    app.command()(split_command)
    missing = CliRunner().invoke(app, ["--config", str(project / "dsforge.yaml")])
    assert missing.exit_code == 2 and "dsforge review" in missing.output

    atomic.write_jsonl(project / "build" / "review" / "approved.jsonl", records)
    result = CliRunner().invoke(app, ["--config", str(project / "dsforge.yaml")])
    assert result.exit_code == 0, result.output
    paths = SplitPaths(project / "build")
    splits, manifest = read_splits(paths)
    assert manifest.stratify_by == "kind" and manifest.leakage["after"]["total"] == 0
    assert sum(len(rows) for rows in splits.values()) == sum(len(ids) for ids in manifest.splits.values())
    first = paths.manifest.read_bytes()
    assert CliRunner().invoke(app, ["--config", str(project / "dsforge.yaml")]).exit_code == 0
    assert paths.manifest.read_bytes() == first  # rerun rewrites the same bytes


def test_written_splits_must_match_their_manifest(tmp_path, default_split):
    splits, manifest = default_split
    paths = SplitPaths(tmp_path)
    write_splits(splits, manifest, paths)
    assert read_splits(paths)[1] == manifest
    atomic.write_jsonl(paths.split_file("test"), splits["test"][1:])
    with pytest.raises(SplitError, match="does not match"):
        read_splits(paths)


def _project(tmp_path, repo_root):
    project = tmp_path / "project"
    project.mkdir()
    (project / "license_schema.py").write_text(
        (repo_root / "samples" / "license_schema.py").read_text("utf-8")
    )
    (project / "dsforge.yaml").write_text(
        "input: docs\noutput: build\nschema: license_schema.py:LicenseTerm\nsplit:\n  seed: 42\n", "utf-8"
    )
    return project
