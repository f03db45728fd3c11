"""The source evidence a reviewer sees: the grounded span marked inside its document context."""

from __future__ import annotations

import html
import re

from builder.records import document_title
from schemas.types import Document, Record, Span

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_RULE = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|`)(?=\S)(.+?)(?<=\S)\1")


def context_window(text: str, span: Span, context_chars: int) -> tuple[int, int]:
    """Bounds of the context around a span, widened to word boundaries."""
    start = max(0, span.start - context_chars)
    end = min(len(text), span.end + context_chars)
    while start > 0 and not text[start - 1].isspace() and span.start - start < context_chars + 40:
        start -= 1
    while end < len(text) and not text[end].isspace() and end - span.end < context_chars + 40:
        end += 1
    return start, end


def _escape(text: str) -> str:
    # The text is data: neither its HTML nor its markdown may change what the reviewer sees.
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)).replace("\n", "  \n")


def readable(text: str) -> str:
    """Document text as a reader sees it: markdown headings, rules and emphasis marks dropped.

    Only for display around the highlighted span; offsets are never taken from it.
    """
    text = _RULE.sub("", text)
    text = _HEADING.sub("", text)
    return _EMPHASIS.sub(r"\2", text)


def evidence_markdown(record: Record, documents: dict[str, Document], context_chars: int) -> str:
    """Markdown with each evidence span in <mark>, a little of the document around it, and its source."""
    return spans_markdown(record.spans, documents, context_chars)


def spans_markdown(spans: list[Span], documents: dict[str, Document], context_chars: int) -> str:
    """Each span marked inside its document context, under the document's title."""
    parts = []
    for span in spans:
        document = documents.get(span.doc_id)
        if document is None or document.text[span.start : span.end] != span.text:
            parts.append(f"<mark>{_escape(readable(span.text))}</mark>")
            continue
        start, end = context_window(document.text, span, context_chars)
        before = ("… " if start > 0 else "") + _escape(readable(document.text[start : span.start]))
        after = _escape(readable(document.text[span.end : end])) + (" …" if end < len(document.text) else "")
        title = _escape(document_title(document))
        parts.append(
            f"**{title}** (characters {span.start}–{span.end})\n\n"
            f"{before}<mark>{_escape(readable(span.text))}</mark>{after}"
        )
    return "\n\n---\n\n".join(parts)


def evidence_plain(record: Record, documents: dict[str, Document], context_chars: int) -> tuple[str, list[dict]]:
    """Unmarked context and the span offsets inside it, for the optional span question."""
    return span_plain(record.spans[0], documents, context_chars)


def span_plain(span: Span, documents: dict[str, Document], context_chars: int) -> tuple[str, list[dict]]:
    """The document text around a span, offset for offset, and the span's offsets inside it.

    Offset for offset because a reviewer's corrected span is mapped back to the document by offset.
    """
    document = documents.get(span.doc_id)
    if document is None or document.text[span.start : span.end] != span.text:
        return span_field_text(span.text), [{"label": "evidence", "start": 0, "end": len(span.text)}]
    start, end = context_window(document.text, span, context_chars)
    return span_field_text(document.text[start:end]), [
        {"label": "evidence", "start": span.start - start, "end": span.end - start}
    ]


# The web UI's span question renders its field as HTML and counts offsets in UTF-16 units:
# "<…>" would vanish as a tag, "&amp;" shrink to one character, and an emoji count twice,
# moving every mark after them. Each such character is shown as one look-alike of the Basic
# Multilingual Plane, so offsets stay the document's own; the text itself is always read
# back from the document, never from the field.
_SPAN_SAFE = str.maketrans({"<": "‹", ">": "›", "&": "＆"})


def span_field_text(text: str) -> str:
    """`text` with the same length and offsets, safe for the span question's field."""
    safe = text.translate(_SPAN_SAFE)
    return "".join(c if ord(c) < 0x10000 else "\ufffd" for c in safe)


def context_start(span: Span, documents: dict[str, Document], context_chars: int) -> int:
    """Where `span_plain`'s text starts in the document."""
    document = documents[span.doc_id]
    return context_window(document.text, span, context_chars)[0]
