"""Documents → cleaned, deduplicated Documents whose text is final (spans index it)."""

from builder.clean.pipeline import clean_documents, clean_text
from builder.clean.registry import TextStep, build_steps, register_step, step_names, unregister_step
from builder.clean.report import CleanResult, DroppedDocument, StepReport

__all__ = [
    "CleanResult",
    "DroppedDocument",
    "StepReport",
    "TextStep",
    "build_steps",
    "clean_documents",
    "clean_text",
    "register_step",
    "step_names",
    "unregister_step",
]
