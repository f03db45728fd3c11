"""The `split:` section of dsforge.yaml, leakage checks included."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPLIT_ORDER = ("train", "validation", "test")


class LeakageOptions(BaseModel):
    """How alike two records may be before they count as the same example."""

    model_config = ConfigDict(extra="forbid")

    near_threshold: float = Field(0.8, gt=0, le=1, description="MinHash Jaccard on word 3-shingles")
    num_perm: int = Field(128, ge=16)
    semantic: bool = Field(False, description="also compare MiniLM embeddings (loads a 90 MB model)")
    semantic_threshold: float = Field(0.9, gt=0, le=1, description="cosine similarity of MiniLM embeddings")
    # drop by default: licences, contracts and manuals share boilerplate, and moving
    # every document linked by it into one split wrecks the ratios.
    action: Literal["move", "drop"] = Field(
        "drop",
        description="drop: remove the later split's copy; move: put linked documents in one split",
    )


class SplitRatios(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: float = Field(0.8, ge=0, le=1)
    validation: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitRatios:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(
                f"split.ratios must sum to 1 (got {total:g}); e.g. train 0.8, validation 0.1, test 0.1"
            )
        if self.train <= 0:
            raise ValueError("split.ratios.train must be above 0")
        return self

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in SPLIT_ORDER}


class SplitOptions(BaseModel):
    """How reviewed records are divided; the same options and seed give the same splits."""

    model_config = ConfigDict(extra="forbid")

    ratios: SplitRatios = Field(default_factory=SplitRatios)
    seed: int = 42
    stratify_by: str | None = Field(
        None, description="field to balance on; default: the schema's stratify_by"
    )
    min_stratum_size: int = Field(
        10, ge=1, description="strata smaller than this are reported as not stratifiable"
    )
    leakage: LeakageOptions = Field(default_factory=LeakageOptions)
