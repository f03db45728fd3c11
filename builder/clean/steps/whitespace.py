"""Whitespace tidying: one space between words, one blank line between paragraphs."""

from __future__ import annotations

import re

from builder.clean.options import CleanOptions
from builder.clean.registry import TextStep, register_step

_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_HORIZONTAL = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")


@register_step("normalize_whitespace")
def make_whitespace(options: CleanOptions) -> TextStep | None:
    return normalize_whitespace if options.normalize_whitespace else None


def normalize_whitespace(text: str) -> str:
    text = _LINE_BREAKS.sub("\n", text)
    text = _HORIZONTAL.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()
