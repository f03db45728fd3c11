"""The source evidence a reviewer sees: the grounded span marked inside its document context."""

from __future__ import annotations

import html
import re

from builder.records import document_title
from schemas.types import Document, Record, Span

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


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


def evidence_markdown(record: Record, documents: dict[str, Document], context_chars: int) -> str:
    """Markdown with each evidence span in <mark>, a little of the document around it, and its source."""
    parts = []
    for span in record.spans:
        document = documents.get(span.doc_id)
        if document is None or document.text[span.start : span.end] != span.text:
            parts.append(f"<mark>{_escape(span.text)}</mark>")
            continue
        start, end = context_window(document.text, span, context_chars)
        before = ("… " if start > 0 else "") + _escape(document.text[start : span.start])
        after = _escape(document.text[span.end : end]) + (" …" if end < len(document.text) else "")
        title = _escape(document_title(document))
        parts.append(
            f"**{title}** (`{html.escape(document.source)}`, characters {span.start}–{span.end})\n\n"
            f"{before}<mark>{_escape(span.text)}</mark>{after}"
        )
    return "\n\n---\n\n".join(parts)


def evidence_plain(record: Record, documents: dict[str, Document], context_chars: int) -> tuple[str, list[dict]]:
    """Unmarked context and the span offsets inside it, for the optional span question."""
    span = record.spans[0]
    document = documents.get(span.doc_id)
    if document is None or document.text[span.start : span.end] != span.text:
        return span.text, [{"label": "evidence", "start": 0, "end": len(span.text)}]
    start, end = context_window(document.text, span, context_chars)
    return document.text[start:end], [{"label": "evidence", "start": span.start - start, "end": span.end - start}]
