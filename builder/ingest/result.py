"""What ingestion hands back."""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.types import Document, FileOutcome


class IngestResult(BaseModel):
    """Documents in input order plus one outcome per file (and per failed jsonl line)."""

    documents: list[Document] = Field(default_factory=list)
    files: list[FileOutcome] = Field(default_factory=list)
