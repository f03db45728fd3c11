"""Markdown is kept verbatim: its markup is light and carries structure worth keeping."""

from __future__ import annotations

import re

from builder.ingest.formats import register_format
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult
from builder.ingest.sniff import decode_nonblank

_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", re.MULTILINE | re.DOTALL)
_TITLE_KEY = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


@register_format("markdown", suffixes=("md", "markdown"), mime="text/markdown")
def parse_markdown(data: bytes, ctx: ParseContext) -> ParseResult:
    text = decode_nonblank(data, ctx.rel)
    return ParseResult([ParsedText(text=text, title=markdown_title(text))])


def markdown_title(text: str) -> str:
    """Front-matter `title:` wins over the first `# heading`, as static-site tools do."""
    front = _FRONT_MATTER.match(text)
    title = _TITLE_KEY.search(front.group(1)) if front else None
    if title:
        return title.group(1).strip().strip("'\"")
    heading = _H1.search(text)
    return heading.group(1).strip() if heading else ""
