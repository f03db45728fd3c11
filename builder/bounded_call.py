"""Bound a provider call that may hang without raising.

A provider's `infer` is a generator that yields one answer per prompt. A hung
call (a stalled socket, a wedged server, a deadlocked runtime) would block the
build forever, so the generator runs in a daemon thread and each answer must
arrive within `timeout_s` of the previous one (or of the start): a batch of
eight chunks may take eight times as long as one, but never sits silent longer
than one chunk may. Python cannot kill a thread; an abandoned call is told to
stop at its next answer and, being a daemon, never holds up the process's exit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _DONE = "item", "error", "done"


class CallTimeoutError(TimeoutError):
    """A provider call gave no answer within the allowed time."""


def bounded(call: Callable[[], Iterable[T]], timeout_s: float | None) -> Iterator[T]:
    """Yield `call()`'s items; raise CallTimeoutError when one takes longer than `timeout_s`."""
    if timeout_s is None:
        yield from call()
        return
    answers: queue.Queue[tuple[str, object]] = queue.Queue()
    abandoned = threading.Event()

    def run() -> None:
        iterator = iter(())
        try:
            iterator = iter(call())
            for item in iterator:
                answers.put((_ITEM, item))
                if abandoned.is_set():
                    return
            answers.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            answers.put((_ERROR, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()

    threading.Thread(target=run, name="dsforge-provider-call", daemon=True).start()
    try:
        while True:
            try:
                kind, value = answers.get(timeout=timeout_s)
            except queue.Empty:
                raise CallTimeoutError(
                    f"no answer within {timeout_s:g} s (extraction.timeout_s); the call was abandoned"
                ) from None
            if kind == _DONE:
                return
            if kind == _ERROR:
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        abandoned.set()
