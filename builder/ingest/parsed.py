"""What a format parser receives and returns; parsers never build Documents themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.options.ingest import IngestOptions


@dataclass(frozen=True)
class ParseContext:
    """`rel` is the display path, used in messages and suggested commands."""

    rel: str
    options: IngestOptions


@dataclass(frozen=True)
class ParsedText:
    """One future Document; `anchor` is appended to the source path (jsonl: '#L<n>')."""

    text: str
    title: str = ""
    anchor: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartFailure:
    """A part of a file (a jsonl line) that failed while the rest of the file is kept."""

    anchor: str
    reason: str
    message: str


@dataclass(frozen=True)
class ParseResult:
    texts: list[ParsedText]
    failures: list[PartFailure] = field(default_factory=list)
