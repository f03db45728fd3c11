"""Suffix → parser registry; a new format is one module in `builder.ingest.parsers`.

Every module of that package is imported on first lookup, so dropping a file
there that calls `register_format` is all it takes to support a format.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from builder.ingest.parsed import ParseContext, ParseResult

Parser = Callable[[bytes, ParseContext], ParseResult]


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    mime: str
    parse: Parser
    # Text formats are checked for binary content and size before their parser runs.
    is_text: bool = True


_BY_SUFFIX: dict[str, Format] = {}
_loaded = False


def register_format(
    name: str, *, suffixes: tuple[str, ...], mime: str, is_text: bool = True
) -> Callable[[Parser], Parser]:
    """Decorator: make `parse` handle files ending in any of `suffixes` (no dots)."""

    def decorate(parse: Parser) -> Parser:
        fmt = Format(name=name, suffixes=suffixes, mime=mime, parse=parse, is_text=is_text)
        for suffix in suffixes:
            _BY_SUFFIX[suffix.lower().lstrip(".")] = fmt
        return parse

    return decorate


def format_for(rel: str) -> Format | None:
    _load_parsers()
    suffix = PurePosixPath(rel).suffix.lower().lstrip(".")
    return _BY_SUFFIX.get(suffix) if suffix else None


def supported_suffixes() -> list[str]:
    _load_parsers()
    return sorted(_BY_SUFFIX)


def _load_parsers() -> None:
    global _loaded
    if _loaded:
        return
    from builder.ingest import parsers

    for module in sorted(pkgutil.iter_modules(parsers.__path__), key=lambda m: m.name):
        importlib.import_module(f"{parsers.__name__}.{module.name}")
    _loaded = True
