"""Lowercasing, for corpora whose consumers ignore case anyway."""

from __future__ import annotations

from builder.clean.registry import TextStep, register_step
from core.options.clean import CleanOptions


@register_step("lowercase")
def make_lowercase(options: CleanOptions) -> TextStep | None:
    return str.lower if options.lowercase else None
