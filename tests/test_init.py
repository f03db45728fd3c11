"""`dsforge init` scaffolds a project that builds: config, a valid schema, documents — and never overwrites."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from builder.model_store import is_installed
from builder.schema_loader import load_schema
from core.config import load_config
from dsforge.cli import app


def init(*args: str):
    result = CliRunner().invoke(app, ["init", *args])
    result.said = " ".join(result.output.split())  # rich wraps lines at spaces (and inside long paths)
    return result


def test_the_scaffold_loads_its_schema_and_refuses_to_overwrite(tmp_path):
    result = init(str(tmp_path))
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "dsforge.yaml")
    schema = load_schema(config.schema_ref, config.project_root)
    assert schema.extraction_class == "statement" and schema.stratify_by == "kind"
    for example in schema.examples:  # every example quote is the example text's own words
        assert all(item["evidence"] in example.text for item in example.items)
    assert [p.name for p in (tmp_path / "docs").iterdir()] == ["example_document.md"]

    (tmp_path / "schema.py").write_text("# edited by its owner\n", "utf-8")
    again = init(str(tmp_path))
    assert again.exit_code == 2 and "--force" in again.said
    assert (tmp_path / "schema.py").read_text("utf-8") == "# edited by its owner\n"
    forced = init(str(tmp_path), "--force")
    assert forced.exit_code == 0 and "class KeyStatement" in (tmp_path / "schema.py").read_text("utf-8")


def test_from_copies_only_the_documents_dsforge_can_read(tmp_path):
    source = tmp_path / "mine"
    (source / "sub").mkdir(parents=True)
    (source / "rules.md").write_text("# Rules\n\nVisitors must wear a badge at all times.\n", "utf-8")
    (source / "sub" / "notes.txt").write_text("The library closes at 8 pm on Fridays.\n", "utf-8")
    (source / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (source / "empty.txt").write_text("", "utf-8")
    project = tmp_path / "project"

    result = init(str(project), "--from", str(source))
    assert result.exit_code == 0, result.output
    copied = sorted(str(p.relative_to(project / "docs")) for p in (project / "docs").rglob("*") if p.is_file())
    assert copied == ["rules.md", "sub/notes.txt"]
    assert (project / "docs" / "rules.md").read_bytes() == (source / "rules.md").read_bytes()
    assert "2 document(s)" in result.said and "not readable" in result.said


def test_from_a_folder_with_nothing_readable_writes_nothing(tmp_path):
    source = tmp_path / "junk"
    source.mkdir()
    (source / "blob.bin").write_bytes(bytes(range(256)) * 8)
    project = tmp_path / "project"
    result = init(str(project), "--from", str(source))
    assert result.exit_code == 2 and "no document dsforge can read" in result.said
    assert not project.exists()
    missing = init(str(project), "--from", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "not a folder" in missing.said


@pytest.mark.skipif(not is_installed("smollm2-135m"), reason="run `dsforge models fetch smollm2-135m`")
def test_the_scaffold_builds_with_a_packaged_model_without_edits(tmp_path, monkeypatch):
    assert init(str(tmp_path)).exit_code == 0
    monkeypatch.setenv("DSFORGE_PROVIDER__MODEL_ID", "dsforge-gguf:smollm2-135m")
    result = CliRunner().invoke(app, ["build", "-c", str(tmp_path / "dsforge.yaml"), "--no-progress"])
    assert result.exit_code == 0, result.output
    build = tmp_path / "build"
    documents = {row["id"]: row["text"] for row in map(json.loads, (build / "documents.jsonl").open())}
    items = [json.loads(line) for line in (build / "items.jsonl").open()]
    assert items, "the packaged model found nothing in the scaffold's example document"
    for item in items:
        span = item["span"]
        assert documents[span["doc_id"]][span["start"] : span["end"]] == span["text"]
    assert (build / "records.jsonl").read_text("utf-8").strip()
