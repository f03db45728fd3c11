"""Re-check the drafted example's quotes against the excerpt; repair what can be, drop the rest.

An item of the example keeps its evidence only as the excerpt's own text: a verbatim quote as
is; one that differs in case or spacing as the excerpt's text there (builder.grounding.locate);
one whose words are mostly a sentence of the excerpt as that sentence. Anything else, and
any quote under MIN_QUOTE_CHARS, is dropped and counted: a schema whose example quotes nothing would teach the model to invent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from builder.grounding import locate
from schemas.base import EVIDENCE_FIELD

# A quote is repaired to a sentence of the excerpt only when this share of its words is in it.
SENTENCE_OVERLAP = 0.6
MIN_QUOTE_CHARS = 8  # a shorter quote ("1", "Fix") teaches nothing of what an item is
_WORD = re.compile(r"\w+")


@dataclass
class QuoteCheck:
    items: list[dict[str, Any]] = field(default_factory=list)  # kept, each with the excerpt's own text
    verbatim: int = 0
    repaired: int = 0  # case or spacing (aligned), or the sentence most of its words come from
    dropped: list[str] = field(default_factory=list)  # quotes found nowhere in the excerpt

    @property
    def proposed(self) -> int:
        return self.verbatim + self.repaired + len(self.dropped)

    def summary(self) -> str:
        return (
            f"{self.verbatim} of {self.proposed} example quotes verbatim, {self.repaired} repaired, "
            f"{len(self.dropped)} dropped"
        )


def check_quotes(passage: str, items: list[dict[str, Any]]) -> QuoteCheck:
    """Each item's evidence as the passage's own text, or the item dropped; duplicates kept once."""
    check = QuoteCheck()
    seen: set[str] = set()
    for item in items:
        quote = str(item.get(EVIDENCE_FIELD) or "").strip()
        found = _own_text(passage, quote)
        if found is None:
            check.dropped.append(quote)
            continue
        if found == quote:
            check.verbatim += 1
        else:
            check.repaired += 1
        if found in seen:
            continue
        seen.add(found)
        check.items.append({**item, EVIDENCE_FIELD: found})
    return check


def _own_text(passage: str, quote: str) -> str | None:
    if len(quote) < MIN_QUOTE_CHARS:
        return None
    located = locate(passage, quote)  # verbatim first, then ignoring case, then spacing
    if located is not None:
        return located.text
    return _sentence_of(passage, quote)


def _sentence_of(passage: str, quote: str) -> str | None:
    words = {w.lower() for w in _WORD.findall(quote)}
    if not words:
        return None
    best, best_share = None, 0.0
    for sentence in re.split(r"(?<=[.!?;:])\s+|\n+", passage):
        sentence = sentence.strip()
        if not sentence:
            continue
        share = len(words & {w.lower() for w in _WORD.findall(sentence)}) / len(words)
        if share > best_share:
            best, best_share = sentence, share
    return best if best_share >= SENTENCE_OVERLAP else None
