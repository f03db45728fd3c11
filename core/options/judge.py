"""The `judge:` section: an LLM that checks each grounded item before people review it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MIN_SCORE, MAX_SCORE = 1, 5


class ItemJudgeOptions(BaseModel):
    """Off unless enabled: a judge costs one call an item, and only advises unless `reject_below` is set."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    model_id: str | None = Field(
        None,
        description="langextract model id of the judge; None: the project's provider (model and settings)",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="the judge provider's constructor kwargs"
    )
    api_key_env: str | None = Field(None, description="environment variable holding the judge's key")
    base_url: str | None = Field(None, description="the judge's server URL, for openai-compat:")
    max_items: int | None = Field(
        None, ge=1, description="judge at most this many items (in reading order); the rest stay unjudged"
    )
    context_chars: int = Field(
        240, ge=0, description="characters of the document shown on each side of the evidence"
    )
    reject_below: int | None = Field(
        None,
        ge=MIN_SCORE + 1,
        le=MAX_SCORE,
        description="drop items the judge scores under this (listed in judge/dropped.jsonl with the reasons); "
        "None: the judge only advises",
    )
    doubt_below: int = Field(
        4,
        ge=MIN_SCORE + 1,
        le=MAX_SCORE,
        description="a score under this, or any value judged unsupported, marks the item doubtful: the judge "
        "suggests rejecting it in review",
    )
    gate_kappa: float | None = Field(
        None,
        ge=0,
        le=1,
        description="the review report says the judge is good enough to gate when its Cohen's κ with the "
        "reviewers' accept/reject reaches this (lower bound of its interval); None: not judged",
    )
