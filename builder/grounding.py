"""Find a model's evidence in the document's own text: re-grounding.

langextract's aligner claims each quote's tokens once, in order, so a second
item quoting an overlapping phrase ("copy, modify" then "modify") comes back
`match_fuzzy` / `match_lesser` or unaligned although the document holds it
verbatim; a quote whose case or line breaks differ is also not exact. Here the
document is searched directly — verbatim first, then ignoring case, then also
ignoring how whitespace runs — and the occurrence nearest the aligner's
position wins. Whatever is found, the span's text is the document's own, so a
kept item never carries words the document does not contain; a paraphrase is
found by none of the searches and stays rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.types import MatchMethod


@dataclass(frozen=True)
class Located:
    """A span of the document and how it was found; `text` is always `document[start:end]`."""

    start: int
    end: int
    text: str
    method: MatchMethod


def locate(document: str, evidence: str, hint: int = 0) -> Located | None:
    """The occurrence of `evidence` in `document` nearest `hint`, by the strictest search that finds one."""
    quote = evidence.strip()
    if not quote:
        return None
    searches: list[tuple[MatchMethod, re.Pattern[str]]] = [
        ("exact", re.compile(re.escape(quote))),
        ("case", re.compile(re.escape(quote), re.IGNORECASE)),
        ("whitespace", re.compile(r"\s+".join(map(re.escape, quote.split())), re.IGNORECASE)),
    ]
    for method, pattern in searches:
        spans = [match.span() for match in _overlapping(pattern, document)]
        if spans:
            start, end = min(spans, key=lambda span: (abs(span[0] - hint), span[0]))
            return Located(start, end, document[start:end], method)
    return None


def _overlapping(pattern: re.Pattern[str], text: str):
    """Every match, overlapping ones too ("aa" twice in "aaa"), so the nearest is never skipped."""
    position = 0
    while (match := pattern.search(text, position)) is not None:
        if match.end() == match.start():
            return
        yield match
        position = match.start() + 1
