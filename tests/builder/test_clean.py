"""clean_documents: each step on known strings, dedup, PII with real spaCy, idempotence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from builder.clean import TextStep, clean_documents, clean_text, register_step, step_names, unregister_step
from builder.clean.steps.control import strip_control_chars
from builder.clean.steps.markup import strip_html
from builder.clean.steps.punctuation import strip_punctuation
from builder.clean.steps.stopwords import remove_stopwords
from builder.clean.steps.whitespace import normalize_whitespace
from core.options.clean import CleanOptions, NearDedupOptions, PiiOptions
from schemas.types import Document
from tests.builder.clean_strategies import option_sets, texts

# Everything off: a step under test is then the only thing that changes the text.
BARE = CleanOptions(
    unicode_form="none",
    strip_control_chars=False,
    strip_html=False,
    normalize_whitespace=False,
    dedup_exact=False,
    dedup_near=NearDedupOptions(enabled=False),
)

PUMP = (
    "The centrifugal pump must be primed before the first start. Open the vent screw on the "
    "casing, fill the casing with clean water until it flows out of the vent, then close the "
    "screw. Running the pump dry for even a few seconds damages the mechanical seal and voids "
    "the warranty. Check the rotation direction against the arrow on the motor housing. After "
    "start-up, watch the discharge pressure gauge: it should settle within the range printed on "
    "the nameplate. If it does not, stop the pump, check the suction line for air leaks and "
    "confirm that the suction valve is fully open before trying again."
)
PUMP_EDITED = PUMP.replace("a few seconds", "a few moments")
VALVE = (
    "Pressure relief valves are tested once a year by a certified inspector. The set pressure is "
    "stamped on the valve body and must match the vessel's maximum allowable working pressure. "
    "Never plug the discharge line; route it to a safe location away from walkways."
)


def make_doc(text: str, source: str = "a.txt", **metadata: object) -> Document:
    return Document(id=Document.make_id(text), source=source, mime="text/plain", text=text, metadata=metadata)


def only(**flags: object) -> CleanOptions:
    return BARE.model_copy(update=flags)


# --- steps on known strings --------------------------------------------------------


def test_step_order_is_registered_order() -> None:
    assert step_names()[:8] == [
        "unicode",
        "strip_control_chars",
        "strip_html",
        "pii",
        "lowercase",
        "strip_punctuation",
        "remove_stopwords",
        "normalize_whitespace",
    ]


@pytest.mark.parametrize(
    ("form", "raw", "expected"),
    [
        ("NFKC", "\ufb01le \uff28\uff49 \u2460 x\u00b2", "file Hi 1 x2"),
        ("NFC", "Cafe\u0301 \ufb01", "Caf\u00e9 \ufb01"),
        ("none", "Cafe\u0301", "Cafe\u0301"),
    ],
)
def test_unicode_forms(form: str, raw: str, expected: str) -> None:
    assert clean_text(raw, only(unicode_form=form)) == expected


def test_control_chars_keep_newlines_and_tabs() -> None:
    assert strip_control_chars("a\x00b\x07c\td\r\ne\rf\x0cg\ufeffh\u200bi\x7f") == "abc\td\ne\nf\nghi"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>Hello <b>world</b></p><p>Tom &amp; Jerry</p>", "\nHello world\n\nTom & Jerry\n"),
        ("<script>alert(1)</script>Text<!-- note -->", "Text"),
        ("Fish &amp; chips", "Fish & chips"),
        ("&amp;lt;em&amp;gt;nested&amp;lt;/em&amp;gt;", "nested"),
        ('Click <a href="https://x.example">here</a>.', "Click here."),
    ],
)
def test_strip_html_removes_markup(raw: str, expected: str) -> None:
    assert strip_html(raw) == expected


@pytest.mark.parametrize(
    "prose",
    [
        "if a < b and c > d then swap",
        "x<y and z>w",
        "I <3 pumps",
        "AT&T and R&D; see ?a=1&para=2",
        "use <unknown>tags</unknown> freely",
        "generic List<String> type",
    ],
)
def test_strip_html_leaves_prose_alone(prose: str) -> None:
    assert strip_html(prose) == prose


def test_whitespace_normalisation() -> None:
    raw = "  Title \t here  \r\n\r\n\r\n\n  body\u00a0 text \u2028next   \n\n\n\nend  "
    assert normalize_whitespace(raw) == "Title here\n\nbody text\nnext\n\nend"


def test_lowercase() -> None:
    assert clean_text("Pump MODEL X", only(lowercase=True)) == "pump model x"


def test_strip_punctuation_keeps_word_boundaries() -> None:
    assert (
        strip_punctuation("Don\u2019t stop: end.Start \u00abquoted\u00bb!")
        == "Dont stop  end Start  quoted  "
    )


def test_remove_stopwords() -> None:
    assert remove_stopwords("The pump is on the left of the valve.") == "pump left valve."


def test_all_text_steps_together() -> None:
    options = CleanOptions(lowercase=True, strip_punctuation=True, remove_stopwords=True)
    assert (
        clean_text("  The <b>Pump</b> &amp; THE valve:\r\n\r\n\r\nclean it! ", options)
        == "pump valve\n\nclean"
    )


# --- the pipeline -------------------------------------------------------------------


def test_cleaned_document_keeps_provenance_and_gets_new_id() -> None:
    raw = make_doc("  Hello   <b>world</b>  ", source="x/a.txt", format="text", size_bytes=24)
    result = clean_documents([raw], CleanOptions())
    [cleaned] = result.documents
    assert cleaned.text == "Hello world"
    assert cleaned.id == Document.make_id("Hello world")
    assert cleaned.metadata == {"format": "text", "size_bytes": 24, "raw_id": raw.id}
    assert (cleaned.source, cleaned.mime, cleaned.title) == (raw.source, raw.mime, raw.title)


def test_cleaning_cleaned_documents_changes_nothing() -> None:
    docs = [make_doc("  A\u00a0 <i>b</i>\r\n\r\n\r\nc ", source="1"), make_doc("Other\x00 text", source="2")]
    once = clean_documents(docs, CleanOptions())
    twice = clean_documents(once.documents, CleanOptions())
    assert twice.documents == once.documents
    assert all(step.documents_changed == 0 for step in twice.steps)


def test_step_reports_count_changes() -> None:
    docs = [make_doc("a  b", source="1"), make_doc("<b>c</b>", source="2"), make_doc("ok", source="3")]
    steps = {s.name: s for s in clean_documents(docs, CleanOptions()).steps}
    assert (steps["normalize_whitespace"].documents_changed, steps["normalize_whitespace"].chars_removed) == (
        1,
        1,
    )
    assert (steps["strip_html"].documents_changed, steps["strip_html"].chars_removed) == (1, 7)
    assert steps["unicode"].documents_changed == 0
    assert "pii" not in steps  # disabled steps are not run, so not reported


def test_too_short_documents_are_dropped() -> None:
    docs = [
        make_doc("   \n ", source="blank.txt"),
        make_doc("tiny", source="tiny.txt"),
        make_doc(PUMP, source="ok"),
    ]
    result = clean_documents(docs, CleanOptions(min_chars=10))
    assert [d.source for d in result.documents] == ["ok"]
    assert [(d.source, d.reason) for d in result.dropped] == [
        ("blank.txt", "too_short"),
        ("tiny.txt", "too_short"),
    ]
    assert result.dropped[0].raw_id == docs[0].id


def test_exact_duplicates_keep_the_first() -> None:
    docs = [
        make_doc(PUMP, source="first.txt"),
        make_doc(VALVE, source="valve.txt"),
        make_doc("  " + PUMP.upper() + "\n", source="shouting.txt"),
    ]
    result = clean_documents(docs, CleanOptions(dedup_near=NearDedupOptions(enabled=False)))
    assert [d.source for d in result.documents] == ["first.txt", "valve.txt"]
    [drop] = result.dropped
    assert (drop.source, drop.reason, drop.duplicate_of_source) == (
        "shouting.txt",
        "exact_duplicate",
        "first.txt",
    )
    assert drop.duplicate_of == result.documents[0].id
    assert drop.similarity == 1.0


def test_near_duplicates_keep_the_first_and_report_jaccard() -> None:
    docs = [
        make_doc(PUMP, source="pump.txt"),
        make_doc(VALVE, source="valve.txt"),
        make_doc(PUMP_EDITED, source="edit.txt"),
    ]
    result = clean_documents(docs, CleanOptions())
    assert [d.source for d in result.documents] == ["pump.txt", "valve.txt"]
    [drop] = result.dropped
    assert (drop.source, drop.reason, drop.duplicate_of_source) == ("edit.txt", "near_duplicate", "pump.txt")
    assert drop.similarity is not None and 0.85 <= drop.similarity < 1.0
    near = {s.name: s for s in result.steps}["dedup_near"]
    assert near.documents_dropped == 1


def test_near_dedup_threshold_is_respected() -> None:
    docs = [make_doc(PUMP, source="pump.txt"), make_doc(PUMP_EDITED, source="edit.txt")]
    strict = CleanOptions(dedup_near=NearDedupOptions(threshold=0.99))
    assert len(clean_documents(docs, strict).documents) == 2


def test_dedup_can_be_switched_off() -> None:
    docs = [make_doc(PUMP, source="1"), make_doc(PUMP, source="2")]
    options = CleanOptions(dedup_exact=False, dedup_near=NearDedupOptions(enabled=False))
    assert len(clean_documents(docs, options).documents) == 2


@pytest.fixture
def shout_step() -> Iterator[None]:
    @register_step("shout", before="normalize_whitespace")
    def make_shout(options: CleanOptions) -> TextStep | None:
        return str.upper

    try:
        yield
    finally:
        unregister_step("shout")


def test_a_registered_step_runs_in_place(shout_step: None) -> None:
    assert step_names().index("shout") == step_names().index("normalize_whitespace") - 1
    result = clean_documents([make_doc(" quiet  pump ")], CleanOptions())
    assert result.documents[0].text == "QUIET PUMP"
    assert {s.name: s.documents_changed for s in result.steps}["shout"] == 1


def test_bad_pii_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown PII entities"):
        PiiOptions(entities=["PERSON", "SHOE_SIZE"])
    with pytest.raises(ValueError, match="placeholder"):
        PiiOptions(placeholder="{label}")


# --- PII with the real spaCy model ----------------------------------------------------


def test_pii_redacts_person_and_email() -> None:
    text = "Please contact John Smith at john.smith@example.com or +1 (555) 123-4567 about the pump."
    options = CleanOptions(pii=PiiOptions(enabled=True))
    [cleaned] = clean_documents([make_doc(text)], options).documents
    assert cleaned.text == "Please contact [PERSON] at [EMAIL] or [PHONE] about the pump."
    assert clean_text(cleaned.text, options) == cleaned.text


def test_pii_regex_entities() -> None:
    options = CleanOptions(
        pii=PiiOptions(enabled=True, entities=["IP", "URL_CREDENTIALS", "PHONE"], placeholder="<{label}>")
    )
    text = (
        "db postgres://admin:hunter2@db.example.com/prod on 10.0.0.12, v1.2 on 2023-01-15, call 555-867-5309"
    )
    assert clean_text(text, options) == "db <URL_CREDENTIALS>/prod on <IP>, v1.2 on 2023-01-15, call <PHONE>"


# --- idempotence over every option combination -------------------------------------------


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, options=option_sets)
def test_cleaning_is_idempotent(text: str, options: CleanOptions) -> None:
    once = clean_text(text, options)
    assert clean_text(once, options) == once
