"""A provider that serves the recorded 1.5B completions and injects faults into chosen chunks.

`dsforge-faulty:<recording.jsonl>` is registered with langextract's router, as the
project's own providers are, so the build reaches it through its real code
path. langextract builds the instance inside the build, so the fault plan and
the log of attempts live on the class; `reset()` clears both.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from langextract.core import base_model
from langextract.core import types as lx_types
from langextract.providers import router

from builder.llm_cache import prompt_sha256
from builder.providers.json_schema import JsonSchemaConstraint
from builder.providers.replay import load_recording

PREFIX = "dsforge-faulty:"
# What a healthy model answers for a chunk the recording does not hold: nothing found.
NOTHING_FOUND = json.dumps({"extractions": []})

# A fault gets the healthy completion and the 1-based attempt number for its chunk;
# it returns the completion to serve, or raises.
Fault = Callable[[str, int], str]


def chunk_of(prompt: str) -> str:
    """The document text of a prompt: langextract puts it after the last 'Q: '."""
    return prompt.rsplit("\nQ: ", 1)[1].removesuffix("\nA: ")


@router.register(rf"^{PREFIX}", priority=50)
class FaultyLanguageModel(base_model.BaseLanguageModel):
    """Constrained like the local provider, so its prompts match the recorded ones."""

    faults: ClassVar[dict[str, Fault]] = {}
    attempts: ClassVar[list[tuple[str, float]]] = []
    # Set by reset(): releases every call a `hangs` fault holds, so no thread outlives its test.
    release: ClassVar[threading.Event] = threading.Event()

    def __init__(self, model_id: str, **kwargs: Any) -> None:
        super().__init__()
        self.recording = load_recording(Path(model_id[len(PREFIX) :]))

    @classmethod
    def get_schema_class(cls) -> type[Any] | None:
        return JsonSchemaConstraint

    @classmethod
    def reset(cls, faults: dict[str, Fault] | None = None) -> None:
        """Faults are keyed by a marker string; a chunk containing it gets that fault."""
        cls.release.set()
        cls.release = threading.Event()
        cls.faults = dict(faults or {})
        cls.attempts = []

    def infer(self, batch_prompts: Sequence[str], **kwargs: Any) -> Iterator[Sequence[lx_types.ScoredOutput]]:
        for prompt in batch_prompts:
            cls = type(self)
            cls.attempts.append((prompt, time.monotonic()))
            healthy = self.recording.get(prompt_sha256(prompt), NOTHING_FOUND)
            chunk = chunk_of(prompt)
            fault = next((f for marker, f in cls.faults.items() if marker in chunk), None)
            attempt = sum(1 for seen, _ in cls.attempts if seen == prompt)
            output = fault(healthy, attempt) if fault else healthy
            yield [lx_types.ScoredOutput(score=1.0, output=output)]


# --- faults ---------------------------------------------------------------------------


def not_json(healthy: str, attempt: int) -> str:
    return "I am sorry, but I cannot extract clauses from this text."


def truncated(healthy: str, attempt: int) -> str:
    """What a completion cut off by max_tokens looks like."""
    return '{"extractions": [{"clause": "Permission to use, copy, modify and distrib'


def edited(first_attributes: dict[str, Any], appended: Sequence[dict[str, Any]]) -> Fault:
    """The healthy completion with its first item's attributes replaced and `appended` added.

    langextract aligns items in order, so an ill-typed item keeps a real item's
    place and the hallucinated ones go last.
    """

    def fault(healthy: str, attempt: int) -> str:
        envelope = json.loads(healthy)
        items = envelope["extractions"]
        first_class = next(key for key in items[0] if not key.endswith("_attributes"))
        items[0][f"{first_class}_attributes"] = first_attributes
        items.extend(appended)
        return json.dumps(envelope)

    return fault


def hangs(seconds: float = 600.0, times: int | None = None) -> Fault:
    """Block without raising, as a stalled socket or wedged server does, on the first `times` attempts.

    The call really blocks (until `seconds` pass or the next `reset()`), then answers.
    """

    def fault(healthy: str, attempt: int) -> str:
        if times is None or attempt <= times:
            FaultyLanguageModel.release.wait(seconds)
        return healthy

    return fault


def replaced_by(output: str) -> Fault:
    return lambda healthy, attempt: output


def raises(error: type[Exception], times: int | None = None) -> Fault:
    """Raise `error` on the first `times` attempts (every attempt when None), then answer."""

    def fault(healthy: str, attempt: int) -> str:
        if times is None or attempt <= times:
            raise error(f"injected {error.__name__} on attempt {attempt}")
        return healthy

    return fault
