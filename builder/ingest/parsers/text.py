"""Plain text: the bytes are the document, so only the encoding is checked; a short first line is its title."""

from __future__ import annotations

from builder.ingest.formats import register_format
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult
from builder.ingest.sniff import decode_nonblank


@register_format("text", suffixes=("txt", "text"), mime="text/plain")
def parse_text(data: bytes, ctx: ParseContext) -> ParseResult:
    text = decode_nonblank(data, ctx.rel)
    return ParseResult([ParsedText(text=text, title=first_line_title(text))])


def first_line_title(text: str, longest: int = 80) -> str:
    """The first non-blank line when it reads like a title (short, not a sentence), else ""."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(line) > longest or line.endswith((".", ",", ";", ":")):
        return ""
    return line
