"""The `review:` section of dsforge.yaml: where Argilla runs, who reviews and what passes the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class AnnotatorUser(BaseModel):
    """An expert who reviews; the password is read from `password_env`, never from the config."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=r"^[a-z0-9_-]+$")
    password_env: str | None = Field(None, description="environment variable holding the password")


class EmbeddedServerOptions(BaseModel):
    """The argilla-server that `dsforge review serve` starts on this machine."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="loopback by default: the server is for this machine")
    port: int = Field(6900, ge=1, le=65535)
    home: Path | None = Field(None, description="server data folder; default: the user data dir (DSFORGE_ARGILLA_HOME)")
    redis_url: str | None = Field(None, description="an existing Redis; default: start the bundled valkey-server")
    start_timeout_s: float = Field(90.0, gt=0)


class ReviewOptions(BaseModel):
    """How records reach reviewers and which reviewed records may be trained on."""

    model_config = ConfigDict(extra="forbid")

    api_url: str | None = Field(
        None, description="an existing Argilla (Docker, HF Space); default: the embedded server's URL"
    )
    api_key_env: str = Field("ARGILLA_API_KEY", description="environment variable holding the owner's API key")
    owner: str = Field("dsforge", pattern=r"^[a-z0-9_-]+$", description="owner user of the embedded server")
    owner_password_env: str = "DSFORGE_ARGILLA_OWNER_PASSWORD"
    annotators: list[AnnotatorUser] = Field(
        default_factory=lambda: [AnnotatorUser(username="annotator1"), AnnotatorUser(username="annotator2")]
    )
    workspace: str = Field("dsforge", pattern=r"^[a-z0-9_-]+$")
    dataset: str | None = Field(None, description="dataset name; default: '<schema name>-review'")
    server: EmbeddedServerOptions = Field(default_factory=EmbeddedServerOptions)

    unit: Literal["item", "record"] = Field(
        "item",
        description="what a reviewer judges: each extracted item once, in the schema's terms (records are "
        "rendered from the approved items), or each rendered record",
    )
    missed_pass: bool = Field(
        True, description="with unit 'item': a second dataset where reviewers mark what the model missed"
    )
    missed_window_chars: int = Field(
        2500, ge=200, description="document text per missed-items record, cut at paragraph breaks"
    )

    batch_size: int = Field(200, ge=1, le=1000, description="records per push request")
    retries: int = Field(5, ge=0, description="more tries while the server is unreachable or failing (5xx)")
    retry_backoff_s: float = Field(1.0, ge=0, description="first wait between tries; it doubles each time")
    context_chars: int = Field(300, ge=0, description="document text shown around the evidence span")
    span_question: bool = Field(False, description="also ask reviewers to mark the evidence span")
    vectors: bool = Field(True, description="MiniLM embeddings for 'find similar'")

    min_submitted: int | None = Field(
        None, ge=1, description="submitted reviews a record needs to pass; default 2, or 1 with one annotator"
    )
    agreement: Literal["unanimous", "majority"] = Field(
        "unanimous", description="how reviewers' accept/reject decisions must agree for a record to pass"
    )
    min_alpha: float | None = Field(
        None, ge=-1, le=1, description="close the gate for all records when Krippendorff's alpha is lower"
    )
    auto: bool = Field(False, description="accept every record unreviewed (unattended one-shot runs)")

    @field_validator("annotators")
    @classmethod
    def _unique(cls, annotators: list[AnnotatorUser]) -> list[AnnotatorUser]:
        names = [a.username for a in annotators]
        if len(set(names)) != len(names):
            raise ValueError(f"annotator usernames must be unique, got {names}")
        return annotators

    @model_validator(mode="after")
    def _one_reviewer_is_enough_alone(self) -> ReviewOptions:
        """A lone expert's review approves; two agreeing reviews are asked for once there are two."""
        if self.min_submitted is None:
            self.min_submitted = min(2, max(1, len(self.annotators)))
        return self

    @property
    def required_reviews(self) -> int:
        assert self.min_submitted is not None  # set by the validator
        return self.min_submitted
