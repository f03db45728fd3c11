"""Scoring a build against labelled documents: the numbers, the gold formats, and bad gold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.extraction_score import score
from builder.gold import read_gold
from builder.pipeline import build
from core.config import load_config
from core.errors import GoldError
from schemas.base import closed_values
from schemas.types import Document, GroundedItem, Span
from tests.builder.replay_project import make_project

TEXT = (
    "Permission is hereby granted to use the Software. "
    "The above copyright notice shall be included in all copies. "
    "THE SOFTWARE IS PROVIDED AS IS, WITHOUT WARRANTY OF ANY KIND."
)
DOC = Document(id=Document.make_id(TEXT), source="mit.txt", mime="text/plain", title="MIT", text=TEXT)
OTHER_TEXT = "You may redistribute the program freely, in any form whatsoever."
OTHER = Document(
    id=Document.make_id(OTHER_TEXT), source="sub/other.md", mime="text/markdown", text=OTHER_TEXT
)
GRANT = "Permission is hereby granted to use the Software."
NOTICE = "The above copyright notice shall be included in all copies."
WARRANTY = "THE SOFTWARE IS PROVIDED AS IS, WITHOUT WARRANTY OF ANY KIND."


def _item(doc: Document, text: str, kind: str, start: int | None = None) -> GroundedItem:
    start = doc.text.index(text) if start is None else start
    span = Span(doc_id=doc.id, start=start, end=start + len(text), text=doc.text[start : start + len(text)])
    return GroundedItem(
        id=f"item-{doc.id}-{start}-{kind}",
        schema_name="LicenseTerm",
        extraction_class="clause",
        span=span,
        attributes={"kind": kind, "summary": "s"},
        model="m",
    )


def _gold_line(doc: Document, spans: list[tuple[str, str]], with_text: bool = True) -> dict:
    line = {
        "document_id": doc.source,
        "extractions": [
            {
                "extraction_class": "clause",
                "extraction_text": quote,
                "char_interval": {
                    "start_pos": doc.text.index(quote),
                    "end_pos": doc.text.index(quote) + len(quote),
                },
                "attributes": {"kind": kind},
            }
            for quote, kind in spans
        ],
    }
    return {**line, "text": doc.text} if with_text else line


def _write(path: Path, rows: list) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def test_label_level_counts_each_documents_values_once(tmp_path, license_schema):
    gold = _write(
        tmp_path / "labels.jsonl",
        [
            {"document": "mit.txt", "labels": {"kind": ["permission", "obligation", "limitation"]}},
            {"document": OTHER.id, "labels": {"kind": ["permission"]}},
        ],
    )
    items = [
        _item(DOC, GRANT, "permission"),
        _item(DOC, "copyright notice", "permission"),  # a second permission: still one label
        _item(DOC, NOTICE, "condition"),  # not in gold: an extra
        _item(OTHER, OTHER_TEXT, "permission"),
    ]
    gold_set = read_gold(gold, license_schema, [DOC, OTHER])
    scores = score(gold_set, items, closed_values(license_schema))
    level = scores["levels"]["label:kind"]
    assert (level["tp"], level["fp"], level["fn"]) == (2, 1, 2)
    assert level["precision"] == pytest.approx(2 / 3) and level["recall"] == pytest.approx(0.5)
    assert {m["value"] for m in level["misses"]} == {"obligation", "limitation"}
    assert level["extras"] == [{"document": "mit.txt", "value": "condition", "evidence": NOTICE}]
    assert level["per_value"]["permission"] == {
        "tp": 2,
        "fp": 0,
        "fn": 0,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }
    low, high = level["interval95"]["recall"]
    assert 0 <= low <= 0.5 <= high <= 1
    assert not any(name.startswith("span") for name in scores["levels"])


def test_span_level_exact_and_overlap_match_one_to_one(tmp_path, license_schema):
    gold = _write(
        tmp_path / "clauses.jsonl",
        [_gold_line(DOC, [(GRANT, "permission"), (NOTICE, "obligation"), (WARRANTY, "limitation")])],
    )
    items = [
        _item(DOC, GRANT, "permission"),  # exact
        _item(DOC, "copyright notice shall be included", "obligation"),  # overlaps only
        _item(DOC, "copyright notice shall", "condition"),  # overlaps, wrong kind, and the span is taken
    ]
    scores = score(read_gold(gold, license_schema, [DOC]), items, closed_values(license_schema))
    levels = scores["levels"]
    exact, overlap = levels["span:exact"], levels["span:overlap"]
    assert (exact["tp"], exact["fp"], exact["fn"]) == (1, 2, 2)
    assert (overlap["tp"], overlap["fp"], overlap["fn"]) == (2, 1, 1)
    by_kind = levels["span:overlap:kind"]
    assert (by_kind["tp"], by_kind["fp"], by_kind["fn"]) == (2, 1, 1)
    assert by_kind["per_value"]["condition"]["fp"] == 1
    assert [m["text"] for m in overlap["misses"]] == [WARRANTY]
    # labels come from the annotated gold's own values
    assert (levels["label:kind"]["tp"], levels["label:kind"]["fn"]) == (3 - 1, 1)


def test_gold_spans_follow_the_builds_text_when_the_gold_text_differs(tmp_path, license_schema):
    line = _gold_line(DOC, [(NOTICE, "obligation")])
    line["text"] = "Preamble. " + TEXT  # written against another rendering of the same document
    line["extractions"][0]["char_interval"] = {
        "start_pos": 10 + TEXT.index(NOTICE),
        "end_pos": 10 + TEXT.index(NOTICE) + len(NOTICE),
    }
    gold = read_gold(_write(tmp_path / "g.jsonl", [line]), license_schema, [DOC])
    (span,) = gold.documents[0].spans
    assert TEXT[span.start : span.end] == NOTICE


def _bad(tmp_path: Path, rows: list) -> Path:
    return _write(tmp_path / "bad.jsonl", rows)


BAD_GOLD = {
    "unknown document": (
        [{"document": "gpl.txt", "labels": {"kind": ["permission"]}}],
        "no document 'gpl.txt'",
    ),
    "unknown label": (
        [{"document": "mit.txt", "labels": {"kind": ["grant"]}}],
        "'grant' is not a value of LicenseTerm.kind",
    ),
    "another schema's attribute": (
        [{"document": "mit.txt", "labels": {"rule": ["warranty"]}}],
        "no labelled attribute 'rule'",
    ),
    "another schema's class": (
        [
            {
                **_gold_line(DOC, [(GRANT, "permission")]),
                "extractions": [{"extraction_class": "rule", "extraction_text": GRANT}],
            }
        ],
        "another schema",
    ),
    "span out of range": (
        [
            {
                "document_id": "mit.txt",
                "extractions": [
                    {
                        "extraction_class": "clause",
                        "extraction_text": GRANT,
                        "char_interval": {"start_pos": 5, "end_pos": 9999},
                        "attributes": {"kind": "permission"},
                    }
                ],
            }
        ],
        "out of range",
    ),
    "span not matching the text": (
        [
            {
                "document_id": "mit.txt",
                "extractions": [
                    {
                        "extraction_class": "clause",
                        "extraction_text": GRANT,
                        "char_interval": {"start_pos": 1, "end_pos": 1 + len(GRANT)},
                        "attributes": {"kind": "permission"},
                    }
                ],
            }
        ],
        "not the extraction_text",
    ),
    "quote not in the document": (
        [
            {
                "document_id": "mit.txt",
                "extractions": [
                    {
                        "extraction_class": "clause",
                        "extraction_text": "no warranty at all",
                        "attributes": {"kind": "limitation"},
                    }
                ],
            }
        ],
        "not in the document's text",
    ),
    "not JSON": (['{"document": "mit.txt", '], "not JSON"),
    "two formats": (
        [{"document": "mit.txt", "labels": {"kind": ["permission"]}}, _gold_line(OTHER, [])],
        "one format per file",
    ),
    "twice": (
        [
            {"document": "mit.txt", "labels": {"kind": ["permission"]}},
            {"document": DOC.id, "labels": {"kind": ["permission"]}},
        ],
        "labelled twice",
    ),
}


@pytest.mark.parametrize("case", list(BAD_GOLD))
def test_bad_gold_is_refused_naming_file_and_line(tmp_path, license_schema, case):
    rows, message = BAD_GOLD[case]
    path = _bad(tmp_path, rows)
    with pytest.raises(GoldError) as error:
        read_gold(path, license_schema, [DOC, OTHER])
    assert message in str(error.value)
    assert f"{path}:{len(rows)}" in str(error.value) or f"{path}:1" in str(error.value)


def test_an_empty_gold_file_is_refused(tmp_path, license_schema):
    with pytest.raises(GoldError, match="empty"):
        read_gold(_write(tmp_path / "empty.jsonl", ["", "  "]), license_schema, [DOC])


def test_the_command_scores_a_real_build_and_skips_dropped_duplicates(tmp_path):
    """A build replayed from the real 1.5B's answers, scored by `dsforge eval-extraction`."""
    from dsforge.cli import app

    config = make_project(tmp_path / "project")
    summary = build(load_config(config), show_progress=False)
    documents = [
        Document.model_validate(row)
        for row in map(json.loads, summary.paths.documents.read_text().splitlines())
    ]
    items = [json.loads(line) for line in summary.paths.items.read_text().splitlines()]
    assert items, "the recording yields items"
    # Gold: every built document with the kinds of one of its kept items, plus the dropped copy.
    rows = []
    for doc in documents:
        kinds = sorted({i["attributes"]["kind"] for i in items if i["span"]["doc_id"] == doc.id})[:1] or [
            "permission"
        ]
        rows.append({"document": doc.source, "labels": {"kind": kinds + ["condition"]}})
    rows.append({"document": "isc_copy.md", "labels": {"kind": ["permission"]}})
    gold = _write(tmp_path / "kinds.jsonl", rows)

    result = CliRunner().invoke(app, ["eval-extraction", "-c", str(config), "--gold", str(gold)])
    assert result.exit_code == 0, result.output
    folder = summary.paths.root / "extraction_eval"
    report = json.loads((folder / "report.json").read_text())
    level = report["levels"]["label:kind"]
    assert report["documents"] == len(documents) and report["skipped_duplicates"] == ["isc_copy.md"]
    assert level["tp"] >= len(documents) - sum(1 for r in rows[:-1] if r["labels"]["kind"][0] == "permission")
    assert level["fn"] >= 1 and "label:kind" in (folder / "report.md").read_text()
    assert (folder / "per_value.png").read_bytes()[:4] == b"\x89PNG"

    bad = _write(tmp_path / "bad.jsonl", [{"document": "nowhere.txt", "labels": {"kind": ["permission"]}}])
    out = tmp_path / "bad-report"
    result = CliRunner().invoke(
        app, ["eval-extraction", "-c", str(config), "--gold", str(bad), "--out", str(out)]
    )
    assert result.exit_code != 0 and f"{bad}:1" in result.output
    assert not out.exists()
