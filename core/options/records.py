"""The `records:` section of dsforge.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SyntheticOptions(BaseModel):
    """Question/answer records a model writes per chunk, each answer's evidence re-checked against the document."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    pairs_per_chunk: int = Field(3, ge=1, le=10, description="questions asked for per chunk, at most")
    chunk_chars: int = Field(1200, ge=200, description="document text per request, cut at paragraph or sentence ends")
    max_chunks: int | None = Field(None, ge=1, description="ask for at most this many chunks (in document order)")
    model_id: str | None = Field(None, description="the generating model; None: the project's provider")
    params: dict[str, Any] = Field(default_factory=dict)
    api_key_env: str | None = None
    base_url: str | None = None


class KnowledgeGraphOptions(BaseModel):
    """Fact and two-hop records from the schema's triple shape and injected triple files."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    inject: list[Path] = Field(default_factory=list, description="triple files (.csv, .nt, .ttl) inside the project")
    max_two_hop: int = Field(2000, ge=0, description="two-hop records at most (chains a → b → c)")


class RecordOptions(BaseModel):
    """Record-level cleaning: bounds and duplicates."""

    model_config = ConfigDict(extra="forbid")

    min_output_chars: int = Field(2, ge=0)
    max_input_chars: int = Field(6000, ge=1)
    max_output_chars: int = Field(4000, ge=1)
    dedup_near: bool = True
    near_threshold: float = Field(0.9, gt=0, le=1)
    num_perm: int = Field(128, ge=16)
    synthetic: SyntheticOptions = Field(default_factory=SyntheticOptions)
    knowledge_graph: KnowledgeGraphOptions = Field(default_factory=KnowledgeGraphOptions)
