"""Grounding rules on langextract's own Extraction objects."""

from __future__ import annotations

from langextract.core import data as lx_data

from builder.extract import ground_extractions
from schemas.types import Document

TEXT = (
    "Permission is hereby granted to use the Software. "
    "The above copyright notice shall be included in all copies."
)
DOC = Document(id=Document.make_id(TEXT), source="mit.txt", mime="text/plain", title="MIT", text=TEXT)


def _extraction(text, start, end, status=lx_data.AlignmentStatus.MATCH_EXACT, cls="clause", **attributes):
    interval = lx_data.CharInterval(start_pos=start, end_pos=end) if start is not None else None
    return lx_data.Extraction(
        extraction_class=cls,
        extraction_text=text,
        char_interval=interval,
        alignment_status=status,
        attributes=attributes or {"kind": "obligation", "summary": "Keep the notice."},
    )


def test_exact_valid_span_becomes_an_item(license_schema):
    evidence = "The above copyright notice shall be included in all copies."
    start = TEXT.index(evidence)
    items, rejects = ground_extractions(
        DOC, [_extraction(evidence, start, start + len(evidence))], license_schema, "m"
    )
    assert rejects == []
    (item,) = items
    assert TEXT[item.span.start : item.span.end] == item.span.text == evidence
    assert item.attributes == {"kind": "obligation", "summary": "Keep the notice."}
    assert item.id.startswith("item-")


def test_each_failure_is_rejected_with_its_reason(license_schema):
    grant = "Permission is hereby granted"
    cases = [
        _extraction("granted to abuse the Software", None, None, status=None),
        _extraction("Permission", 0, 10, status=lx_data.AlignmentStatus.MATCH_LESSER),
        _extraction("Permission is hereby granted", 0, 28, status=lx_data.AlignmentStatus.MATCH_FUZZY),
        _extraction("hereby granted", 0, 14),  # claims exact, but the span text differs
        _extraction(grant, 0, len(grant), kind="maybe", summary="x y z"),
        _extraction(grant, 0, len(grant), cls="person"),
    ]
    items, rejects = ground_extractions(DOC, cases, license_schema, "m")
    assert items == []
    assert [r.reason for r in rejects] == ["ungrounded"] * 4 + ["invalid"] * 2
    assert "not found" in rejects[0].detail
    assert "match_lesser" in rejects[1].detail
    assert "match_fuzzy" in rejects[2].detail
    assert "differs" in rejects[3].detail
    assert "kind" in rejects[4].detail
    assert "person" in rejects[5].detail


def test_duplicate_extractions_collapse_to_one_item(license_schema):
    grant = "Permission is hereby granted"
    same = [_extraction(grant, 0, len(grant), kind="permission", summary="You may use it.")] * 2
    items, rejects = ground_extractions(DOC, same, license_schema, "m")
    assert len(items) == 1 and rejects == []
