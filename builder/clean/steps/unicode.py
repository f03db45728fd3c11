"""Unicode normalisation: one spelling per character, so hashes and spans agree."""

from __future__ import annotations

import unicodedata
from functools import partial

from builder.clean.registry import TextStep
from core.options.clean import CleanOptions


def make_unicode(options: CleanOptions) -> TextStep | None:
    if options.unicode_form == "none":
        return None
    return partial(unicodedata.normalize, options.unicode_form)
