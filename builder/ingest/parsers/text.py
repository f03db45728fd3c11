"""Plain text: the bytes are the document, so only the encoding is checked."""

from __future__ import annotations

from builder.ingest.formats import register_format
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult
from builder.ingest.sniff import decode_nonblank


@register_format("text", suffixes=("txt", "text"), mime="text/plain")
def parse_text(data: bytes, ctx: ParseContext) -> ParseResult:
    return ParseResult([ParsedText(text=decode_nonblank(data, ctx.rel))])
