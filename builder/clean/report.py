"""What cleaning did, per step and per dropped document, for the build report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.types import Document

DropReason = Literal["exact_duplicate", "near_duplicate", "too_short"]


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepReport(_Report):
    """Character counts are net per document and application (a 10→8 char rewrite counts 2 removed)."""

    name: str
    documents_changed: int = 0
    chars_removed: int = 0
    chars_added: int = 0
    documents_dropped: int = 0


class DroppedDocument(_Report):
    """A document left out of the cleaned set; duplicates name the kept document they repeat."""

    doc_id: str = Field(description="id of its cleaned text")
    raw_id: str = Field(description="id before cleaning, as ingested")
    source: str
    reason: DropReason
    detail: str
    duplicate_of: str | None = Field(default=None, description="id of the kept document")
    duplicate_of_source: str | None = None
    similarity: float | None = Field(default=None, description="estimated Jaccard; 1.0 for exact")


class CleanResult(_Report):
    documents: list[Document]
    steps: list[StepReport]
    dropped: list[DroppedDocument]
