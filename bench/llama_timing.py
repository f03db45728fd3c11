"""llama.cpp's own timings, read from inside a dsforge build and from a bare xllamacpp server.

Every chat completion of the embedded server returns `timings` (tokens
evaluated, tokens reused from the prompt cache, tokens generated, and the
milliseconds of each). Summed over a build they say how long the model itself
was busy; measured on a bare server they give the speed the pipeline is
compared with.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.providers import llamacpp


@dataclass
class Call:
    """One completion as llama.cpp timed it, plus the wall clock around the call."""

    started: float
    wall_s: float
    prompt_n: int
    cache_n: int
    prompt_ms: float
    predicted_n: int
    predicted_ms: float


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # the first few, for the bare-server replay
    load_s: float = 0.0
    keep_requests: int = 4
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def totals(self) -> dict[str, Any]:
        """Token and time sums.

        Rates are per request (llama.cpp times each slot's own work): with two
        slots decoding at once they fall while the build's total rate rises,
        and model_busy_s counts overlapping requests once each.
        """
        calls = self.calls
        prompt_ms = sum(c.prompt_ms for c in calls)
        predicted_ms = sum(c.predicted_ms for c in calls)
        prompt_n = sum(c.prompt_n for c in calls)
        predicted_n = sum(c.predicted_n for c in calls)
        return {
            "calls": len(calls),
            "prompt_tokens_evaluated": prompt_n,
            "prompt_tokens_from_cache": sum(c.cache_n for c in calls),
            "generated_tokens": predicted_n,
            "model_busy_s": (prompt_ms + predicted_ms) / 1000,
            "prompt_tokens_per_s": prompt_n / prompt_ms * 1000 if prompt_ms else None,
            "generated_tokens_per_s": predicted_n / predicted_ms * 1000 if predicted_ms else None,
            "model_load_s": self.load_s,
        }


class _TimedServer:
    """Stands in for xllamacpp.Server inside the provider and writes down each completion's timings."""

    def __init__(self, server: Any, recorder: Recorder) -> None:
        self._server = server
        self._recorder = recorder

    def handle_chat_completions(self, request: dict[str, Any]) -> Any:
        started = time.perf_counter()
        response = self._server.handle_chat_completions(request)
        wall = time.perf_counter() - started
        t = (response.get("timings") or {}) if isinstance(response, dict) else {}
        call = Call(
            started=started,
            wall_s=wall,
            prompt_n=int(t.get("prompt_n", 0)),
            cache_n=int(t.get("cache_n", 0)),
            prompt_ms=float(t.get("prompt_ms", 0.0)),
            predicted_n=int(t.get("predicted_n", 0)),
            predicted_ms=float(t.get("predicted_ms", 0.0)),
        )
        with self._recorder._lock:
            self._recorder.calls.append(call)
            if len(self._recorder.requests) < self._recorder.keep_requests:
                self._recorder.requests.append(request)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Route the provider's model loading through a timing wrapper for the duration of a build.

    The provider keeps loaded models per process; they are dropped before and
    after so each build loads its own and starts with an empty prompt cache.
    """
    original = llamacpp._load_server

    def load(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        server = original(*args, **kwargs)
        recorder.load_s += time.perf_counter() - started
        return _TimedServer(server, recorder)

    llamacpp.unload_models()
    llamacpp._load_server = load
    try:
        yield recorder
    finally:
        llamacpp._load_server = original
        llamacpp.unload_models()


def raw_speed(
    model_path: Path, n_ctx: int, threads: int, chat_template: str | None, prompts: list[str], generate: int
) -> dict[str, Any]:
    """Prompt and generation tokens/s of a bare xllamacpp server on the pipeline's own prompts.

    Requests go straight to the server (no langextract, cache or provider),
    without grammar or prompt cache (every prompt is evaluated in full) and with
    a fixed number of generated tokens (`ignore_eos`), so both speeds are the
    model's and the threads', nothing else.
    """
    started = time.perf_counter()
    # The provider's own loader, so the server has exactly the parameters a build's has.
    server = llamacpp._load_server(model_path, n_ctx, threads, 1, chat_template)
    load_s = time.perf_counter() - started
    per_prompt = []
    for prompt in prompts:
        response = server.handle_chat_completions(
            {
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": generate,
                "temperature": 0.0,
                "seed": 0,
                "cache_prompt": False,
                "ignore_eos": True,
            }
        )
        t = response["timings"]
        per_prompt.append(
            {k: t.get(k) for k in ("prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms")}
        )
    del server
    prompt_ms = sum(p["prompt_ms"] for p in per_prompt)
    predicted_ms = sum(p["predicted_ms"] for p in per_prompt)
    return {
        "load_s": load_s,
        "prompts": len(per_prompt),
        "prompt_tokens_median": statistics.median(p["prompt_n"] for p in per_prompt),
        "prompt_tokens_per_s": sum(p["prompt_n"] for p in per_prompt) / prompt_ms * 1000,
        "generated_tokens_per_s": sum(p["predicted_n"] for p in per_prompt) / predicted_ms * 1000,
        "per_prompt": per_prompt,
    }
