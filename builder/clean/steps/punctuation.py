"""Punctuation removal (every Unicode P* character), sparing redaction placeholders."""

from __future__ import annotations

import re
import unicodedata
from functools import partial

from builder.clean.pii import placeholder_pattern
from builder.clean.registry import TextStep
from core.options.clean import CleanOptions

# Apostrophes inside words are deleted ("don't" → "dont"); other marks become a space
# so "end.Start" does not fuse into one word.
_APOSTROPHES = "'\u2019"


def make_punctuation(options: CleanOptions) -> TextStep | None:
    if not options.strip_punctuation:
        return None
    keep = placeholder_pattern(options.pii.placeholder) if options.pii.enabled else None
    return partial(strip_punctuation, keep=keep)


def strip_punctuation(text: str, keep: re.Pattern[str] | None = None) -> str:
    if keep is None:
        return _strip(text)
    parts: list[str] = []
    cursor = 0
    for match in keep.finditer(text):
        parts.append(_strip(text[cursor : match.start()]))
        parts.append(match.group(0))
        cursor = match.end()
    parts.append(_strip(text[cursor:]))
    return "".join(parts)


def _strip(text: str) -> str:
    return text.translate(_TABLE)


class _PunctuationTable(dict[int, str]):
    """str.translate table filled on first sight of each character (re has no \\p{P})."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in _APOSTROPHES:
            value = ""
        elif unicodedata.category(char).startswith("P"):
            value = " "
        else:
            value = char
        self[code] = value
        return value


_TABLE = _PunctuationTable()
