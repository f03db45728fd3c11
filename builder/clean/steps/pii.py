"""PII redaction: personal data is replaced by a labelled placeholder before anything is stored."""

from __future__ import annotations

from functools import partial

from builder.clean.pii import redact
from builder.clean.registry import TextStep
from core.options.clean import CleanOptions


def make_pii(options: CleanOptions) -> TextStep | None:
    if not options.pii.enabled or not options.pii.entities:
        return None
    return partial(redact, options=options.pii)
