"""The `ingest:` section of dsforge.yaml: which files ingestion reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IngestOptions(BaseModel):
    """Which files to read and how to read jsonl records; globs match paths relative to the root."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(default_factory=lambda: ["**/*"])
    exclude: list[str] = Field(default_factory=list)
    max_file_bytes: int = Field(default=20_000_000, gt=0)
    jsonl_text_field: str = "text"
    jsonl_id_field: str | None = "id"
    jsonl_title_field: str | None = "title"

