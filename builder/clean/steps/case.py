"""Lowercasing, for corpora whose consumers ignore case anyway."""

from __future__ import annotations

from builder.clean.registry import TextStep
from core.options.clean import CleanOptions


def make_lowercase(options: CleanOptions) -> TextStep | None:
    return str.lower if options.lowercase else None
