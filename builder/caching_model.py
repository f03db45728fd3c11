"""A langextract model wrapper that caches, retries and isolates failures per chunk.

langextract fails a whole `extract` call when its provider raises, and drops a
chunk whose output does not parse with only a log line. Wrapping the provider
turns both into per-chunk events the build reports as rejects, while every
other chunk of the document is kept. Every completion is cached, unparseable
ones too (at temperature 0 the model would answer the same again), so an
unchanged rerun makes no calls; a chunk whose provider raised has nothing
cached and is asked for again.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from langextract import resolver as lx_resolver
from langextract.core import base_model
from langextract.core import data as lx_data
from langextract.core import format_handler as lx_format
from langextract.core import types as lx_types

from builder.bounded_call import bounded
from builder.llm_cache import CompletionCache, completion_key

EMPTY_OUTPUT = json.dumps({"extractions": []})


@dataclass
class ChunkEvent:
    """A chunk whose completion could not be used."""

    doc_id: str
    reason: str  # "provider_error" | "parse_error"
    detail: str
    prompt_tail: str


@dataclass
class CallStats:
    prompts: int = 0  # chunks asked for, answered from the cache or the model
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    seconds_in_model: float = 0.0
    events: list[ChunkEvent] = field(default_factory=list)

    def add(self, other: CallStats) -> None:
        """Fold a document's counts in (the caller adds documents in their order, so events keep it)."""
        self.prompts += other.prompts
        self.calls += other.calls
        self.cache_hits += other.cache_hits
        self.failures += other.failures
        self.seconds_in_model += other.seconds_in_model
        self.events.extend(other.events)


@dataclass
class Attempt:
    """One prompt asked of the provider, retries included: the output, or the last error."""

    output: str | None
    error: Exception | None
    calls: int
    seconds: float


class CachingModel(base_model.BaseLanguageModel):
    """Delegates to `inner` for prompts the cache has not seen."""

    def __init__(
        self,
        inner: base_model.BaseLanguageModel,
        cache: CompletionCache,
        fingerprint: dict[str, Any],
        retries: int = 2,
        backoff_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> None:
        """`timeout_s` cuts a call silent that long (see builder.bounded_call); None waits forever."""
        super().__init__()
        self.inner = inner
        self.cache = cache
        self.fingerprint = fingerprint
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.stats = CallStats()
        self.current_doc_id = ""
        # A narrower JSON schema for the calls that follow (the focused pass); part of their cache key.
        self.json_schema: dict[str, Any] | None = None
        # The requests in flight across documents (builder.extract's window); None: one batch at a time.
        self.window: Executor | None = None

    def at_chunk_size(self, size: int) -> CachingModel:
        """A view whose cache keys are those of a build at `size` alone (same provider, counts and window)."""
        view = copy.copy(self)
        view.fingerprint = {**self.fingerprint, "max_char_buffer": size}
        return view

    def for_document(self, doc_id: str) -> CachingModel:
        """A view for one document extracted beside others: the same provider, cache and window,
        its own document id, JSON schema and counts (folded back with `CallStats.add`)."""
        view = copy.copy(self)
        view.stats = CallStats()
        view.current_doc_id = doc_id
        view.json_schema = None
        return view

    # langextract reads the schema and fence preference off the model it is given.
    @property
    def schema(self):  # type: ignore[override]
        return self.inner.schema

    @property
    def requires_fence_output(self) -> bool:
        return self.inner.requires_fence_output

    def set_fence_output(self, fence_output: bool | None) -> None:
        self.inner.set_fence_output(fence_output)

    def infer(self, batch_prompts: Sequence[str], **kwargs: Any) -> Iterator[Sequence[lx_types.ScoredOutput]]:
        outputs: list[str | None] = []
        missing: list[int] = []
        self.stats.prompts += len(batch_prompts)
        if self.json_schema is not None:
            kwargs = {**kwargs, "json_schema": self.json_schema}
        for index, prompt in enumerate(batch_prompts):
            cached = self.cache.get(self._key(prompt))
            outputs.append(cached)
            if cached is None:
                missing.append(index)
            else:
                self.stats.cache_hits += 1
        if missing:
            self._complete(batch_prompts, missing, outputs, kwargs)
        for prompt, output in zip(batch_prompts, outputs):
            assert output is not None
            yield [lx_types.ScoredOutput(score=1.0, output=self._checked(prompt, output))]

    def _complete(
        self, prompts: Sequence[str], missing: list[int], outputs: list[str | None], kwargs: dict[str, Any]
    ) -> None:
        if self.window is not None:
            self._complete_in_window(prompts, missing, outputs, kwargs)
            return
        pending = list(missing)
        try:
            started = time.perf_counter()
            batch = [prompts[i] for i in pending]
            self.stats.calls += len(batch)
            answers = bounded(lambda: self.inner.infer(batch, **kwargs), self.timeout_s)
            for index, scored in zip(list(pending), answers):
                self._store(prompts[index], index, _first_output(scored), outputs)
                pending.remove(index)
            self.stats.seconds_in_model += time.perf_counter() - started
        except Exception:  # noqa: BLE001 - isolate the failure to the chunks it hit
            self.stats.seconds_in_model += time.perf_counter() - started
        for index in pending:
            outputs[index] = self._complete_one(prompts[index], kwargs)
            if outputs[index] is not None:
                self._store(prompts[index], index, outputs[index], outputs)
            else:
                outputs[index] = EMPTY_OUTPUT

    def _complete_in_window(
        self, prompts: Sequence[str], missing: list[int], outputs: list[str | None], kwargs: dict[str, Any]
    ) -> None:
        """Each missing prompt is one request of the shared window; results are taken in prompt order,
        so counts, events and outputs do not depend on the order the requests finish in."""
        assert self.window is not None
        futures = [self.window.submit(self._attempt, prompts[index], kwargs) for index in missing]
        for index, future in zip(missing, futures):
            attempt = future.result()
            self._count(attempt, prompts[index])
            if attempt.output is None:
                outputs[index] = EMPTY_OUTPUT
            else:
                self._store(prompts[index], index, attempt.output, outputs)

    def _complete_one(self, prompt: str, kwargs: dict[str, Any]) -> str | None:
        attempt = self._attempt(prompt, kwargs)
        self._count(attempt, prompt)
        return attempt.output

    def _attempt(self, prompt: str, kwargs: dict[str, Any]) -> Attempt:
        """Ask for one prompt, retrying with backoff; touches no shared state (it runs in window threads)."""
        error: Exception | None = None
        seconds = 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            started = time.perf_counter()
            try:
                answers = bounded(lambda: self.inner.infer([prompt], **kwargs), self.timeout_s)
                return Attempt(
                    _first_output(next(answers)), None, attempt + 1, seconds + time.perf_counter() - started
                )
            except Exception as exc:  # noqa: BLE001 - retried, then reported per chunk
                error = exc
            seconds += time.perf_counter() - started
        return Attempt(None, error, self.retries + 1, seconds)

    def _count(self, attempt: Attempt, prompt: str) -> None:
        self.stats.calls += attempt.calls
        self.stats.seconds_in_model += attempt.seconds
        if attempt.output is None:
            self.stats.failures += 1
            error = attempt.error
            self.stats.events.append(
                ChunkEvent(
                    self.current_doc_id, "provider_error", f"{type(error).__name__}: {error}", _tail(prompt)
                )
            )

    def _store(self, prompt: str, index: int, output: str, outputs: list[str | None]) -> None:
        self.cache.put(self._key(prompt), prompt, output)
        outputs[index] = output

    def _key(self, prompt: str) -> str:
        if self.json_schema is None:
            return completion_key(self.fingerprint, prompt)
        return completion_key({**self.fingerprint, "json_schema": self.json_schema}, prompt)

    @property
    def takes_json_schema_per_call(self) -> bool:
        """Whether the provider decodes under a JSON schema it can be handed per call."""
        from builder.providers.json_schema import JsonSchemaConstraint

        return isinstance(self.inner.schema, JsonSchemaConstraint)

    def _checked(self, prompt: str, output: str) -> str:
        """Report outputs langextract would silently drop; hand them on unchanged."""
        problem = parse_problem(output, fenced=self.requires_fence_output)
        if problem:
            self.stats.events.append(ChunkEvent(self.current_doc_id, "parse_error", problem, _tail(prompt)))
        return output


def parse_problem(output: str, fenced: bool) -> str | None:
    """Why langextract's resolver would drop `output` (it only logs that), or None when it parses.

    The resolver itself decides, configured as `lx.extract` configures it, so an
    envelope of the right shape with a malformed item is caught too.
    """
    try:
        _resolver(fenced).resolve(output, suppress_parse_errors=False)
    except lx_resolver.ResolverParsingError as exc:
        return f"{exc}{_cut_short_hint(output)}: {output[:120]!r}"
    return None


def format_handler(fenced: bool) -> lx_format.FormatHandler:
    """The output format `lx.extract` renders examples in and parses completions with."""
    handler, _ = lx_format.FormatHandler.from_resolver_params(
        resolver_params={},
        base_format_type=lx_data.FormatType.JSON,
        base_use_fences=fenced,
        base_attribute_suffix=lx_data.ATTRIBUTE_SUFFIX,
        base_use_wrapper=True,
        base_wrapper_key=lx_data.EXTRACTIONS_KEY,
    )
    return handler


@lru_cache(maxsize=2)
def _resolver(fenced: bool) -> lx_resolver.Resolver:
    return lx_resolver.Resolver(format_handler=format_handler(fenced))


def _cut_short_hint(output: str) -> str:
    text = output.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0]
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        # A cut inside a string is reported where the string opened, not at the end.
        if exc.pos >= len(text) - 1 or exc.msg.startswith("Unterminated string"):
            return " (cut short: raise the provider's max_tokens or lower max_char_buffer)"
    return ""


def _first_output(scored: Sequence[lx_types.ScoredOutput]) -> str:
    scored = list(scored)
    if not scored or scored[0].output is None:
        raise ValueError("the model returned no output")
    return scored[0].output


def _tail(prompt: str, size: int = 160) -> str:
    return prompt[-size:]
