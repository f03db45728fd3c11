"""The `records:` section of dsforge.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RecordOptions(BaseModel):
    """Record-level cleaning: bounds and duplicates."""

    model_config = ConfigDict(extra="forbid")

    min_output_chars: int = Field(2, ge=0)
    max_input_chars: int = Field(6000, ge=1)
    max_output_chars: int = Field(4000, ge=1)
    dedup_near: bool = True
    near_threshold: float = Field(0.9, gt=0, le=1)
    num_perm: int = Field(128, ge=16)
