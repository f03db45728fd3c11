"""A provider that serves recorded completions of a real model, by prompt hash.

Recordings come from `dsforge cache export` after a real build, so tests can
assert exact grounding, rejects and cache behaviour without minutes of CPU
inference, while the live path is tested separately. A prompt with no
recording raises, exactly like a failing provider would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langextract.core import base_model
from langextract.core import types as lx_types

from builder.llm_cache import prompt_sha256
from builder.providers.json_schema import JsonSchemaConstraint
from builder.providers.registry import register_provider

PREFIX = "dsforge-replay:"


class MissingRecordingError(KeyError):
    """The recording holds no completion for this prompt."""


@register_provider(PREFIX)
class ReplayLanguageModel(base_model.BaseLanguageModel):
    """`dsforge-replay:<path to recording.jsonl>`; mirrors the local provider's schema handling."""

    def __init__(self, model_id: str, latency_s: float = 0.0, jitter_s: float = 0.0, **kwargs: Any) -> None:
        """`latency_s` delays each completion, to rehearse a slow model (interruptions, overhead);
        `jitter_s` adds up to that much more, fixed per prompt, so concurrent answers finish out of order."""
        kwargs = {k: v for k, v in kwargs.items() if k not in _LOCAL_ONLY_KWARGS}
        super().__init__(**kwargs)
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self.model_id = model_id
        self.path = Path(model_id[len(PREFIX) :])
        self.recording = load_recording(self.path)
        self.served = 0
        self.in_flight = 0
        self.peak_in_flight = 0  # most completions this instance was serving at once
        self._lock = threading.Lock()

    @classmethod
    def get_schema_class(cls) -> type[Any] | None:
        return JsonSchemaConstraint

    def infer(self, batch_prompts: Sequence[str], **kwargs: Any) -> Iterator[Sequence[lx_types.ScoredOutput]]:
        for prompt in batch_prompts:
            key = prompt_sha256(prompt)
            if key not in self.recording:
                raise MissingRecordingError(f"no recorded completion for prompt {key[:12]} in {self.path}")
            with self._lock:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                delay = self.latency_s + self.jitter_s * (int(key[:8], 16) / 0xFFFFFFFF)
                if delay:
                    time.sleep(delay)
            finally:
                with self._lock:
                    self.in_flight -= 1
                    self.served += 1
            yield [lx_types.ScoredOutput(score=1.0, output=self.recording[key])]


def load_recording(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {row["prompt_sha256"]: row["output"] for row in rows}


# Decoding settings of the recorded local model; meaningless for a replay.
_LOCAL_ONLY_KWARGS = frozenset({"n_ctx", "n_threads", "max_tokens", "temperature", "seed", "n_parallel"})
