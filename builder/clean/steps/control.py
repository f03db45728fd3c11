"""Control characters: invisible, they break tokenisers and JSON viewers alike."""

from __future__ import annotations

import re

from builder.clean.registry import TextStep
from core.options.clean import CleanOptions

# Legacy line and page breaks become plain newlines rather than vanishing and gluing lines.
_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85]")
# C0/C1 controls except tab and newline, DEL, lone surrogates, BOM and zero-width space.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\u200b]")


def make_control(options: CleanOptions) -> TextStep | None:
    return strip_control_chars if options.strip_control_chars else None


def strip_control_chars(text: str) -> str:
    return _INVISIBLE.sub("", _BREAKS.sub("\n", text))
