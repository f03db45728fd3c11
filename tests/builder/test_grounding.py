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


def test_without_regrounding_each_failure_is_rejected_with_its_reason(license_schema):
    grant = "Permission is hereby granted"
    cases = [
        _extraction("granted to abuse the Software", None, None, status=None),
        _extraction("Permission", 0, 10, status=lx_data.AlignmentStatus.MATCH_LESSER),
        _extraction("Permission is hereby granted", 0, 28, status=lx_data.AlignmentStatus.MATCH_FUZZY),
        _extraction("hereby granted", 0, 14),  # claims exact, but the span text differs
        _extraction(grant, 0, len(grant), kind="maybe", summary="x y z"),
        _extraction(grant, 0, len(grant), cls="person"),
    ]
    items, rejects = ground_extractions(DOC, cases, license_schema, "m", reground=False)
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


def test_regrounding_keeps_the_documents_own_text_and_says_how_it_was_found(license_schema):
    notice = "The above copyright notice shall be included in all copies."
    start = TEXT.index(notice)
    cases = [
        # the aligner's exact match, confirmed
        _extraction(notice, start, start + len(notice)),
        # verbatim, but the aligner gave up (an overlapping quote had taken its tokens)
        _extraction("copyright notice shall be included", None, None, status=None),
        # verbatim, aligned only fuzzily
        _extraction("Permission is hereby granted", 0, 28, status=lx_data.AlignmentStatus.MATCH_FUZZY),
        # case differs
        _extraction("PERMISSION IS HEREBY GRANTED TO USE", 0, 35, status=lx_data.AlignmentStatus.MATCH_FUZZY),
        # a line break where the document has a space
        _extraction("shall be included\nin all copies.", None, None, status=None),
    ]
    items, rejects = ground_extractions(DOC, cases, license_schema, "m")
    assert rejects == []
    assert [item.match for item in items] == ["aligner", "exact", "exact", "case", "whitespace"]
    for item in items:
        assert TEXT[item.span.start : item.span.end] == item.span.text
    assert items[3].span.text == "Permission is hereby granted to use"
    assert items[4].span.text == "shall be included in all copies."


def test_regrounding_never_accepts_text_the_document_lacks(license_schema):
    adversarial = [
        # the schema's own example, not in this document
        "to deal in the Software without restriction",
        # a paraphrase
        "Permission is granted to use the Software",
        # two sentences glued together across the document's sentence order
        "included in all copies. Permission is hereby granted",
        # a near quote with punctuation of its own
        "Permission is hereby granted, to use the Software.",
    ]
    cases = [
        _extraction(text, 0, len(text), status=lx_data.AlignmentStatus.MATCH_FUZZY) for text in adversarial
    ]
    items, rejects = ground_extractions(DOC, cases, license_schema, "m")
    assert items == []
    assert [r.reason for r in rejects] == ["ungrounded"] * len(adversarial)
    assert all("does not contain" in r.detail for r in rejects)


def test_one_span_with_several_labels_keeps_every_item(license_schema):
    grant = "Permission is hereby granted to use the Software."
    labels = [
        _extraction(grant, 0, len(grant), kind="permission", summary="You may use it."),
        # the aligner had already claimed these tokens for the first item
        _extraction(grant, None, None, status=None, kind="condition", summary="Use is what is granted."),
    ]
    items, rejects = ground_extractions(DOC, labels, license_schema, "m")
    assert rejects == []
    assert [(item.span.start, item.span.end, item.attributes["kind"]) for item in items] == [
        (0, len(grant), "permission"),
        (0, len(grant), "condition"),
    ]


def test_the_occurrence_nearest_the_aligner_wins(license_schema):
    sentence = "The licensee shall keep this notice intact."
    text = f"{sentence} Other words in between here. {sentence}"
    doc = Document(id=Document.make_id(text), source="x.txt", mime="text/plain", text=text)
    second = text.rindex(sentence)
    near_second = _extraction(
        sentence.upper(), second + 2, second + 30, status=lx_data.AlignmentStatus.MATCH_FUZZY
    )
    (item,), _ = ground_extractions(doc, [near_second], license_schema, "m")
    assert (item.span.start, item.match) == (second, "case")
