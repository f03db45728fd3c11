from __future__ import annotations

from builder.records import build_records
from core.options.records import RecordOptions
from schemas.types import Document, GroundedItem, Span

TEXT = (
    "Permission is hereby granted to use the Software. "
    "The above copyright notice shall be included in all copies. "
    "Copies must include the above copyright notice in full."
)
DOC = Document(id=Document.make_id(TEXT), source="mit.txt", mime="text/plain", title="MIT License", text=TEXT)


def _item(evidence: str, kind: str, summary: str) -> GroundedItem:
    start = TEXT.index(evidence)
    return GroundedItem(
        id=f"item-{start}",
        schema_name="LicenseTerm",
        extraction_class="clause",
        span=Span(doc_id=DOC.id, start=start, end=start + len(evidence), text=evidence),
        attributes={"kind": kind, "summary": summary},
        model="m",
    )


def test_items_become_alpaca_records_with_provenance(license_schema):
    items = [
        _item("Permission is hereby granted to use the Software.", "permission", "You may use it."),
        _item("The above copyright notice shall be included in all copies.", "obligation", "Keep the notice."),
    ]
    result = build_records(items, {DOC.id: DOC}, license_schema, RecordOptions())
    by_template = {}
    for record in result.records:
        by_template.setdefault(record.template, []).append(record)
        assert record.spans[0].text == TEXT[record.spans[0].start : record.spans[0].end]
        assert record.input == record.spans[0].text
        assert set(record.alpaca()) == {"instruction", "input", "output"}
    assert len(by_template["explain_clause"]) == 2
    assert len(by_template["licensee_duty"]) == 1  # only the obligation
    assert by_template["licensee_duty"][0].meta["stratum"] == "obligation"
    again = build_records(list(reversed(items)), {DOC.id: DOC}, license_schema, RecordOptions())
    assert [r.id for r in again.records] == [r.id for r in result.records]


def test_bounds_and_duplicates_are_dropped_with_reasons(license_schema):
    items = [
        _item("The above copyright notice shall be included in all copies.", "obligation", "Keep the notice."),
        _item("Copies must include the above copyright notice in full.", "obligation", "Keep the notice."),
    ]
    options = RecordOptions(near_threshold=0.5, max_input_chars=200)
    result = build_records(items, {DOC.id: DOC}, license_schema, options)
    reasons = sorted(d.reason for d in result.dropped)
    assert "exact_duplicate" not in reasons  # inputs differ
    assert "near_duplicate" in reasons
    tight = build_records(items, {DOC.id: DOC}, license_schema, RecordOptions(max_input_chars=20))
    assert tight.records == [] and {d.reason for d in tight.dropped} == {"input_too_long"}


def test_prompts_name_a_document_by_its_title_never_its_file_name():
    from builder.ingest.parsers.text import first_line_title
    from builder.records import document_title

    assert first_line_title("\n  MIT License \n\nCopyright (c) <year>") == "MIT License"
    assert first_line_title("Permission is hereby granted, free of charge.\nMore.") == ""  # a sentence
    assert first_line_title("x" * 81) == ""
    untitled = DOC.model_copy(update={"title": "", "source": "licenses/bsd-2-clause.txt"})
    assert document_title(untitled) == "bsd-2-clause"
    assert document_title(DOC) == "MIT License"
    assert document_title(untitled.model_copy(update={"source": "export.jsonl#L3"})) == "export"
