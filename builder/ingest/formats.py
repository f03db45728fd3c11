"""Format name → parser, with the suffixes it reads; a new format is one module plus a row below.

Built-ins are lazy `module:attr` rows (core.registry): a parser and the library
it wraps are imported on the first lookup by suffix. The decorator attaches a
format's suffixes and MIME type when its module is imported; an installed
package adds one through a `dsforge.ingest_formats` entry point or a
`dsforge.plugins` module that calls `register_format`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from builder.ingest.parsed import ParseContext, ParseResult
from core.registry import Registry

Parser = Callable[[bytes, ParseContext], ParseResult]


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    mime: str
    parse: Parser
    # Text formats are checked for binary content and size before their parser runs.
    is_text: bool = True


FORMATS: Registry[Format] = Registry(
    "input format",
    group="dsforge.ingest_formats",
    builtins={
        "docx": "builder.ingest.parsers.docx:parse_docx",
        "html": "builder.ingest.parsers.html:parse_html",
        "jsonl": "builder.ingest.parsers.jsonl:parse_jsonl",
        "markdown": "builder.ingest.parsers.markdown:parse_markdown",
        "pdf": "builder.ingest.parsers.pdf:parse_pdf",
        "text": "builder.ingest.parsers.text:parse_text",
    },
)


def register_format(
    name: str, *, suffixes: tuple[str, ...], mime: str, is_text: bool = True
) -> Callable[[Parser], Parser]:
    """Decorator: make `parse` handle files ending in any of `suffixes` (no dots)."""

    def decorate(parse: Parser) -> Parser:
        FORMATS.register(name, Format(name=name, suffixes=suffixes, mime=mime, parse=parse, is_text=is_text))
        return parse

    return decorate


def format_for(rel: str) -> Format | None:
    suffix = PurePosixPath(rel).suffix.lower().lstrip(".")
    return _by_suffix().get(suffix) if suffix else None


def supported_suffixes() -> list[str]:
    return sorted(_by_suffix())


def _by_suffix() -> dict[str, Format]:
    """Later registrations win a shared suffix."""
    return {suffix.lower().lstrip("."): fmt for fmt in FORMATS.values() for suffix in fmt.suffixes}
