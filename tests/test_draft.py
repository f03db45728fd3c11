"""`dsforge init --draft`: a schema drafted from the user's documents, its quotes re-checked, never run blind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.draft.drafting import load_draft
from builder.draft.prompts import schema_prompt
from builder.draft.proposal import FieldProposal, SchemaProposal, example_json_schema
from builder.draft.quotes import check_quotes
from builder.draft.reading import excerpt, read_samples
from builder.draft.render import render_schema
from builder.llm_cache import prompt_sha256
from builder.model_store import is_installed
from builder.schema_loader import load_schema
from core.config import load_config
from core.errors import SchemaError
from dsforge.cli import app
from dsforge.doctor import schema_check
from tests.test_init import init

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "release_notes"
DOCS = FIXTURE / "docs"
RECORDING = FIXTURE / "draft_recording.jsonl"  # Qwen2.5-Coder-1.5B's answers (record_draft.py)


PASSAGE = (
    "Version 2.0 drops Python 3.8.\n\nThe cache is now cleared on exit. Use   the new --keep flag to keep it.\n"
    "Fixed a crash when the config file is empty."
)


def test_quotes_are_kept_as_the_passages_own_text_or_dropped():
    items = [
        {"evidence": "The cache is now cleared on exit."},  # verbatim
        {"evidence": "the CACHE is now cleared on exit."},  # case → the passage's text
        {"evidence": "Use the new --keep flag to keep it."},  # spacing → the passage's text
        {"evidence": "Fixed a crash when the configuration file is empty"},  # most words: the sentence
        {"evidence": "Version 3 adds a plugin system."},  # not in the passage
        {"evidence": "2.0"},  # too short to teach anything
        {"evidence": "The cache is now cleared on exit."},  # a duplicate: counted, kept once
    ]
    check = check_quotes(PASSAGE, items)
    assert (check.verbatim, check.repaired, len(check.dropped)) == (2, 3, 2)
    kept = [item["evidence"] for item in check.items]
    assert kept == [
        "The cache is now cleared on exit.",
        "Use   the new --keep flag to keep it.",
        "Fixed a crash when the config file is empty.",
    ]
    assert all(quote in PASSAGE for quote in kept)
    assert check.summary() == "2 of 7 example quotes verbatim, 3 repaired, 2 dropped"


def test_a_proposal_is_cleaned_into_names_python_and_the_schema_accept():
    proposal = SchemaProposal(
        item_name="Release Note",
        task="Find changes.",
        fields=[
            FieldProposal(name="evidence", kind="text", description="clashes with the span"),
            FieldProposal(name="class", kind="choice", choices=["Added", "added", "FIXED"], description="kind"),
            FieldProposal(name="Class", kind="text", description="the same name again: dropped"),
            FieldProposal(name="breaking", kind="yes_no", description="does it {break} things"),
        ],
    ).cleaned()
    assert proposal.item_name == "release_note" and proposal.class_name == "ReleaseNote"
    assert [(f.name, f.kind, f.choices) for f in proposal.fields] == [
        ("evidence_value", "text", []),
        ("f_class", "choice", ["added", "fixed"]),
        ("breaking", "yes_no", []),
    ]
    assert "{" not in proposal.fields[-1].description  # braces would be template placeholders
    schema = example_json_schema(proposal)["properties"]["items"]["items"]["properties"]
    assert schema["f_class"]["enum"] == ["added", "fixed"] and schema["breaking"] == {"type": "boolean"}


def test_a_closed_set_of_one_value_is_a_text_field():
    proposal = SchemaProposal(
        item_name="change",
        task="t",
        fields=[FieldProposal(name="scope", kind="choice", choices=["only", "ONLY"], description="one value")],
    ).cleaned()
    assert [(f.name, f.kind, f.choices) for f in proposal.fields] == [("scope", "text", [])]


def test_whatever_the_model_wrote_renders_to_a_schema_that_loads():
    nasty = 'He said """stop""" \\ and {left} it\n\ttab'
    proposal = SchemaProposal(
        item_name="change",
        task=f"Find every change. {nasty}",
        fields=[FieldProposal(name="kind", kind="choice", choices=["added", "fixed"], description=nasty)],
    ).cleaned()
    passage = f"Added a flag. {nasty}. Fixed a crash."
    items = [{"evidence": "Added a flag.", "kind": "added"}, {"evidence": nasty, "kind": "fixed"}]
    source = render_schema(proposal, passage, items, "notes/changes.txt")
    schema = load_draft(source, "Change")
    assert schema.examples[0].text == passage and schema.examples[0].items[1]["evidence"] == nasty
    assert schema.stratify_by == "kind" and [t.name for t in schema.templates] == ["classify"]
    compile(source, "schema.py", "exec")


def test_the_excerpt_is_the_documents_own_text_past_its_headings():
    samples = read_samples(DOCS)
    assert [s.source for s in samples][:1] == ["defusedxml-changes.txt"]  # the longest first
    passage = excerpt(samples[0])
    assert passage in samples[0].text and 80 <= len(passage) <= 900
    assert not passage.startswith("defusedxml release notes")  # the title line is skipped


def test_a_replayed_draft_writes_a_project_that_build_refuses_until_the_marker_is_gone(tmp_path):
    project = tmp_path / "project"
    model = f"dsforge-replay:{RECORDING}"
    result = init(str(project), "--from", str(DOCS), "--draft", "--model", model)
    assert result.exit_code == 0, result.output
    assert "4 of 4 example quotes verbatim, 0 repaired, 0 dropped" in result.said
    config_text = (project / "dsforge.yaml").read_text("utf-8")
    assert "schema: schema.py:ReleaseNotes" in config_text and f"model_id: {model}" in config_text
    source = (project / "schema.py").read_text("utf-8")
    assert "__dsforge_draft__" in source

    config = load_config(project / "dsforge.yaml")
    with pytest.raises(SchemaError, match="delete its `__dsforge_draft__ = ...` line"):
        load_schema(config.schema_ref, config.project_root)
    built = CliRunner().invoke(app, ["build", "-c", str(project / "dsforge.yaml"), "--no-progress"])
    assert built.exit_code != 0 and "__dsforge_draft__" in " ".join(built.output.split())
    assert not (project / "build" / "items.jsonl").exists()
    checked = schema_check(config)  # what `dsforge doctor` shows on the schema's line
    assert checked.ok is False and "__dsforge_draft__" in checked.detail and "delete" in checked.fix

    edited = "\n".join(line for line in source.splitlines() if not line.startswith("__dsforge_draft__"))
    (project / "schema.py").write_text(edited, "utf-8")
    schema = load_schema(config.schema_ref, config.project_root)
    example = schema.examples[0]
    cleaned = {sample.source: sample.text for sample in read_samples(DOCS)}  # what a build sees
    assert example.text in cleaned["defusedxml-changes.txt"]
    assert all(item["evidence"] in example.text for item in example.items) and len(example.items) == 4


def test_a_proposal_that_is_not_json_or_not_a_schema_writes_nothing(tmp_path):
    prompt = schema_prompt(read_samples(DOCS))
    for answer, said in (
        ("Sure! Here is a schema: item_name = change", "not JSON"),
        (json.dumps({"item_name": "change", "task": "t", "fields": []}), "proposed no usable schema"),
    ):
        recording = tmp_path / "answers.jsonl"
        recording.write_text(json.dumps({"prompt_sha256": prompt_sha256(prompt), "output": answer}) + "\n", "utf-8")
        project = tmp_path / "project"
        result = init(str(project), "--from", str(DOCS), "--draft", "--model", f"dsforge-replay:{recording}")
        assert result.exit_code == 2 and said in result.said, result.output
        assert not (project / "dsforge.yaml").exists() and not (project / "schema.py").exists()


def test_draft_without_documents_is_refused(tmp_path):
    result = init(str(tmp_path / "empty"), "--draft")
    assert result.exit_code == 2 and "--from DOCS" in result.said
    assert not (tmp_path / "empty" / "dsforge.yaml").exists()


@pytest.mark.skipif(not is_installed("smollm2-135m"), reason="run `dsforge models fetch smollm2-135m`")
def test_a_draft_by_the_packaged_small_model_is_rechecked_whatever_it_answers(tmp_path):
    """SmolLM2-135M through llama.cpp: its quotes are re-checked; a draft is written only if one holds."""
    project = tmp_path / "project"
    result = init(str(project), "--from", str(DOCS), "--draft", "--model", "dsforge-gguf:smollm2-135m")
    if result.exit_code == 0:
        source = (project / "schema.py").read_text("utf-8")
        edited = "\n".join(line for line in source.splitlines() if not line.startswith("__dsforge_draft__"))
        config = load_config(project / "dsforge.yaml")
        (project / "schema.py").write_text(edited, "utf-8")
        schema = load_schema(config.schema_ref, config.project_root)
        assert all(item["evidence"] in ex.text for ex in schema.examples for item in ex.items)
    else:
        assert result.exit_code == 2 and "quoted nothing of the excerpt" in result.said, result.output
        assert not (project / "schema.py").exists() and not (project / "dsforge.yaml").exists()

