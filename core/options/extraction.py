"""The `extraction:` section of dsforge.yaml."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


SERVER_MODEL_PREFIX = "openai-compat:"  # the provider that sends requests to a server
# `max_workers: auto` against a server: enough to keep a GPU server's batch from running one request at a time,
# and few enough that a one-slot CPU server's queue (8 × ~30 s a request) stays inside the provider's 300 s timeout.
SERVER_REQUESTS_IN_FLIGHT = 8


class ExtractionOptions(BaseModel):
    """langextract's knobs, exposed as they are named there."""

    model_config = ConfigDict(extra="forbid")

    max_char_buffer: int = Field(
        600,
        ge=100,
        description="chunk size in characters (600 found more than 1200 and 2400 on both dev golds, "
        "bench/README.md §7)",
    )
    also_chunk_at: list[Annotated[int, Field(ge=100)]] = Field(
        default_factory=lambda: [1200],
        description="more full passes over every document, each cut at one of these chunk sizes; the union "
        "of grounded items is kept (a chunk sees a clause whole at one size that another size cuts). "
        "Sizes equal to max_char_buffer are skipped; []: one pass. Each pass is cached apart, as a build "
        "at that size alone would be",
    )
    batch_length: int = Field(4, ge=1, description="chunks per provider call")
    max_workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="requests in flight at once, across documents (one window; the outputs are the same bytes "
        "at any number); auto: SERVER_REQUESTS_IN_FLIGHT for an OpenAI-compatible server (fewer while it "
        "answers busy), the embedded model's slots (provider.params.n_parallel, 1) otherwise",
    )
    extraction_passes: int = Field(1, ge=1, le=5)
    context_window_chars: int | None = Field(None, ge=0)
    reground: bool = Field(
        True,
        description="search the document for evidence the aligner did not match exactly (verbatim, case, "
        "whitespace); the kept span is always the document's own text",
    )
    recall_pass: bool = Field(
        False,
        description="a second, focused pass per document asking for the values of the schema's closed "
        "attributes the first pass did not find; the union of grounded items is kept",
    )
    examples_from_review: int = Field(
        0,
        ge=0,
        description="after a review, add up to this many few-shot examples cut from the reviewed documents "
        "around items reviewers accepted, corrected or added (builder/review_examples.py); 0: the schema's "
        "examples only",
    )
    retries: int = Field(2, ge=0, description="retries of a failed chunk before it is rejected")
    retry_backoff_s: float = Field(1.0, ge=0)
    timeout_s: float = Field(
        600.0, gt=0, description="longest wait for a chunk's answer; a silent call is cut and retried"
    )

    def requests_in_flight(self) -> int:
        """`max_workers` as a number; `auto` left unresolved by a config (options built alone) is 1."""
        return self.max_workers if isinstance(self.max_workers, int) else 1

    def resolved_for(self, model_id: str, params: dict[str, Any]) -> ExtractionOptions:
        """These options with `max_workers: auto` made a number for this provider."""
        if self.max_workers != "auto":
            return self
        served = model_id.startswith(SERVER_MODEL_PREFIX)
        workers = SERVER_REQUESTS_IN_FLIGHT if served else int(params.get("n_parallel", 1))
        return self.model_copy(update={"max_workers": max(1, workers)})

    def more_chunk_sizes(self) -> list[int]:
        """The extra passes' chunk sizes, in order, each once, without the main size."""
        return list(dict.fromkeys(size for size in self.also_chunk_at if size != self.max_char_buffer))

    def fingerprint(self) -> dict[str, Any]:
        """The options that change prompts or outputs (workers and retries do not)."""
        return self.model_dump(include={"max_char_buffer", "extraction_passes", "context_window_chars"})
