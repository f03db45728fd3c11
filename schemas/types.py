"""The concepts every stage passes around: one Pydantic model each.

Stages exchange these models, never loose dicts, so a field renamed here is
caught everywhere at once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def content_id(*parts: Any, prefix: str = "", length: int = 16) -> str:
    """Stable id from content: the same inputs give the same id on every run and machine."""
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]
    return f"{prefix}{digest}"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Document(Frozen):
    """A parsed source document; after cleaning, `text` is what spans index."""

    id: str = Field(description="content hash of the parsed text, 'doc-' + 16 hex")
    source: str = Field(description="path relative to the input folder; '#L<n>' for a jsonl line")
    mime: str
    title: str = ""
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_id(text: str) -> str:
        return content_id(text, prefix="doc-")


FileStatus = Literal["ok", "error", "skipped"]


class FileOutcome(Frozen):
    """What happened to one input file (or one jsonl line); bad files never stop a build."""

    path: str
    status: FileStatus
    reason: str = Field(default="", description="machine-readable code, e.g. 'empty', 'binary'")
    message: str = Field(default="", description="what went wrong and what to do about it")
    documents: int = 0


class Span(Frozen):
    """A character span of a cleaned document: `text == document.text[start:end]`."""

    doc_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str


# How an item's span was found in its document (builder.grounding): langextract's exact
# alignment, or dsforge's own search — verbatim, ignoring case, ignoring whitespace runs.
MatchMethod = Literal["aligner", "exact", "case", "whitespace"]


class GroundedItem(Frozen):
    """One extracted item whose evidence is an exact span of its source."""

    id: str
    schema_name: str
    extraction_class: str
    span: Span
    attributes: dict[str, Any]
    model: str
    match: MatchMethod = "aligner"


RejectReason = Literal["ungrounded", "invalid", "parse_error", "provider_error"]


class Reject(Frozen):
    """An extraction (or a chunk's worth of them) that did not become an item, and why."""

    doc_id: str
    reason: RejectReason
    detail: str
    extraction_text: str | None = None
    attributes: dict[str, Any] | None = None
    char_interval: tuple[int, int] | None = None


class Record(Frozen):
    """An Alpaca instruction record with the provenance that keeps it traceable."""

    id: str
    instruction: str
    input: str
    output: str
    doc_id: str
    spans: list[Span]
    schema_name: str
    template: str
    model: str
    meta: dict[str, Any] = Field(default_factory=dict)

    def alpaca(self) -> dict[str, str]:
        return {"instruction": self.instruction, "input": self.input, "output": self.output}


ReviewStatus = Literal["accepted", "corrected", "rejected", "unreviewed"]


class Review(Frozen):
    """What reviewers decided about a record; `auto=True` means nobody looked at it."""

    status: ReviewStatus
    reviewers: list[str] = Field(default_factory=list)
    submitted_at: list[str] = Field(default_factory=list, description="ISO timestamps, one per reviewer")
    agreement: float | None = Field(None, description="share of reviewers agreeing on the accept label")
    rating: float | None = Field(None, description="mean quality rating, when asked")
    original_output: str | None = Field(None, description="the model's output before a correction")
    auto: bool = False


class ReviewedRecord(Record):
    """A record after review; only these (status accepted/corrected, gate passed) are split."""

    review: Review


ItemSource = Literal["model", "reviewer"]


class ItemReview(Review):
    """What reviewers decided about one item; the model's version is kept beside a correction.

    `original_attributes` / `original_span` hold what the model said before a reviewer
    changed it, so corrections can later become preference pairs.
    """

    original_attributes: dict[str, Any] | None = None
    original_span: Span | None = None


class ReviewedItem(GroundedItem):
    """An item after review: its (possibly corrected) values, who found it and what reviewers decided."""

    source: ItemSource = "model"
    review: ItemReview


class SplitManifest(Frozen):
    """Which record went where, and the evidence that splits do not leak."""

    seed: int
    ratios: dict[str, float]
    stratify_by: str | None
    group_by: str = "doc_id"
    splits: dict[str, list[str]] = Field(description="split name → record ids")
    strata: dict[str, dict[str, int]] = Field(default_factory=dict, description="split → stratum → count")
    leakage: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
