"""Whitespace tidying: one space between words, one blank line between paragraphs."""

from __future__ import annotations

import re

from builder.clean.registry import TextStep
from core.options.clean import CleanOptions

_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_HORIZONTAL = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")


def make_whitespace(options: CleanOptions) -> TextStep | None:
    return normalize_whitespace if options.normalize_whitespace else None


def normalize_whitespace(text: str) -> str:
    text = _LINE_BREAKS.sub("\n", text)
    text = _HORIZONTAL.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


# A line that starts a list item, heading, quote or table row keeps its break.
_BLOCK_START = re.compile(r"^(?:[#>*+|-]|\d{1,3}[.)] |\(?[a-zA-Z0-9]{1,3}\) )")


def make_unwrap(options: CleanOptions) -> TextStep | None:
    return unwrap_lines if options.unwrap_lines else None


def unwrap_lines(text: str) -> str:
    """Join hard-wrapped lines of a paragraph with a space.

    Models quote a wrapped sentence as one line; unwrapped source text lets
    that quote be an exact span instead of a near miss.
    """
    paragraphs = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.split("\n")
        joined = [lines[0]]
        for line in lines[1:]:
            if _BLOCK_START.match(line) or joined[-1].startswith("#"):
                joined.append(line)
            else:
                joined[-1] = f"{joined[-1]} {line}"
        paragraphs.append("\n".join(joined))
    return "\n\n".join(paragraphs)
