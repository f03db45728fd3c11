"""How many requests go to a server at once: cut when it answers busy, grown back a request at a time.

The extraction window sends up to `max_workers` requests at once. A server that sheds load with HTTP
429 / 503 (a hosted API's rate limit, a gateway in front of a few slots) would get the whole window
again after every wait and keep refusing it, each refusal using up one of the request's `busy_waits`.
So a refused request cuts the requests let through to 0.7 of those open when the refusal came, once
per round (TCP halves its window on a loss; CUBIC's 0.7 leaves a smaller sawtooth: 0.89 of a refusing
server's rate against 0.82 halving, bench/README.md §5c), and each answered request raises the limit
by 1/limit, about one more request per round of answers, up to no limit at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


DECREASE = 0.7  # of the requests open when a refusal came: CUBIC's factor, a smaller sawtooth than TCP's half


class AdaptiveLimit:
    """A gate for requests in flight: additive increase, multiplicative decrease (AIMD)."""

    def __init__(self) -> None:
        self.limit: float | None = None  # None: no busy answer yet, so nothing held back
        self.lowest: int | None = None  # the smallest limit reached, for the report
        self.open = 0
        self._round = 0  # bumped by each decrease: answers to requests sent before it do not cut again
        self._changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[tuple[int, int]]:
        """Wait until one more request may be sent; yields the round it was sent in and the requests then open."""
        with self._changed:
            while self.limit is not None and self.open >= int(self.limit):
                self._changed.wait()
            self.open += 1
            sent = (self._round, self.open)
        try:
            yield sent
        finally:
            with self._changed:
                self.open -= 1
                self._changed.notify_all()

    def busy(self, sent_in: int, open_when_sent: int) -> None:
        """A request sent in round `sent_in`, with `open_when_sent` open then, was refused."""
        with self._changed:
            if sent_in != self._round:
                return
            self._round += 1
            self.limit = max(1.0, open_when_sent * DECREASE)
            self.lowest = int(self.limit) if self.lowest is None else min(self.lowest, int(self.limit))

    def served(self) -> None:
        with self._changed:
            if self.limit is not None:
                self.limit += 1 / self.limit
                self._changed.notify_all()
