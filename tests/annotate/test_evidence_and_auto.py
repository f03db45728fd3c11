"""What reviewers see, and what auto mode writes."""

from __future__ import annotations

import yaml

from annotate.auto import auto_approve
from annotate.evidence import evidence_markdown, evidence_plain, span_field_text
from annotate.pull import pull
from core import atomic
from core.config import load_config
from schemas.types import Document, Record, Span
from tests.annotate.review_server import SCHEMA_FILE
from tests.annotate.sample_build import write_sample_build


def _record(text: str, start: int, end: int) -> tuple[Record, dict]:
    doc = Document(id="doc-1", source="x.txt", mime="text/plain", title="X <License>", text=text)
    span = Span(doc_id="doc-1", start=start, end=end, text=text[start:end])
    record = Record(id="rec-1", instruction="i", input=span.text, output="o", doc_id="doc-1", spans=[span],
                    schema_name="S", template="t", model="m")
    return record, {doc.id: doc}


def test_span_is_marked_in_context_and_text_cannot_inject_markup():
    text = "Intro words. You *must* keep <script>x</script> the notice. Outro words."
    start = text.index("You")
    end = text.index("notice.") + len("notice.")
    record, docs = _record(text, start, end)
    markdown = evidence_markdown(record, docs, context_chars=5)
    assert "<mark>You \\*must\\* keep &lt;script&gt;x&lt;/script&gt; the notice.</mark>" in markdown
    assert "<script>" not in markdown and "X &lt;License&gt;" in markdown
    assert "characters 13–" in markdown and markdown.count("…") == 2


def test_plain_evidence_offsets_point_at_the_span():
    text = "Intro words. The span here. Outro words."
    start = text.index("The span")
    record, docs = _record(text, start, start + len("The span here."))
    context, spans = evidence_plain(record, docs, context_chars=6)
    assert context[spans[0]["start"] : spans[0]["end"]] == "The span here."


def test_span_field_keeps_every_offset_and_shows_no_tag_entity_or_surrogate_pair():
    # The web UI renders a span field as HTML and counts UTF-16 units: "<https://…>" vanished as a tag,
    # and every suggested span after it came back with a wrong end (seen in the sample build's Blue Oak text).
    text = "source: <https://blueoakcouncil.org> &amp; 😀 — Each contributor licenses you."
    shown = span_field_text(text)
    assert len(shown) == len(text) and len(shown.encode("utf-16-le")) == 2 * len(text)
    assert "<" not in shown and "&" not in shown and "‹https://blueoakcouncil.org›" in shown
    start = text.index("Each")
    assert shown[start:] == text[start:]  # offsets after them are the document's own


def test_evidence_context_reads_as_clean_text():
    text = "## Patent\n\n***\n\nEach contributor **licenses** you to use it.\n\n## Reliability"
    start = text.index("Each")
    record, docs = _record(text, start, text.index("it.") + 3)
    markdown = evidence_markdown(record, docs, context_chars=40)
    assert "#" not in markdown and "\\*" not in markdown and "Patent" in markdown
    assert "<mark>Each contributor licenses you to use it.</mark>" in markdown


def test_auto_mode_approves_everything_marked_unreviewed(tmp_path, license_schema):
    (tmp_path / "license_schema.py").write_text(SCHEMA_FILE.read_text("utf-8"), "utf-8")
    records = write_sample_build(tmp_path / "build", license_schema)
    (tmp_path / "dsforge.yaml").write_text(
        yaml.safe_dump({"schema": "license_schema.py:LicenseTerm", "review": {"auto": True}}), "utf-8"
    )
    report = auto_approve(load_config(tmp_path / "dsforge.yaml"))
    approved = atomic.read_jsonl(tmp_path / "build" / "review" / "approved.jsonl")
    assert len(approved) == len(records) == report["approved"]
    assert all(row["review"] == {**row["review"], "status": "accepted", "auto": True} for row in approved)
    assert report["unreviewed_training_data"] is True
    assert "nobody reviewed" in (tmp_path / "build" / "review" / "review_report.md").read_text("utf-8")
    # `pull` honours auto mode without a server: the one-shot run needs nothing else.
    assert pull(load_config(tmp_path / "dsforge.yaml"))["mode"] == "auto"
