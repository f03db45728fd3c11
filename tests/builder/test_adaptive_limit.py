"""The adaptive limit of requests at once: nothing held back until a refusal, cut once per round, grown back."""

from __future__ import annotations

import threading

from builder.providers.adaptive_limit import DECREASE, AdaptiveLimit


def test_refusals_of_one_round_halve_once_and_answers_grow_it_back():
    limit = AdaptiveLimit()
    with limit.slot(), limit.slot(), limit.slot(), limit.slot() as fourth:
        assert limit.limit is None and limit.open == 4  # nothing held back before a refusal
    limit.busy(*fourth)  # refused with 4 open: 0.7 × 4 at once
    limit.busy(*fourth)  # another answer to a request of the same round: no second cut
    assert (limit.limit, limit.lowest) == (4 * DECREASE, int(4 * DECREASE)) == (2.8, 2)
    for _ in range(3):
        limit.served()
    assert 3.7 < limit.limit < 3.8  # + 1/limit an answer: about one more per round of answers


def test_a_held_request_waits_for_a_slot_to_free():
    limit = AdaptiveLimit()
    with limit.slot() as sent:
        limit.busy(*sent)  # one open when refused: one at a time
    entered = threading.Event()

    def second() -> None:
        with limit.slot():
            entered.set()

    with limit.slot():
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.1)  # held while the first is open
    assert entered.wait(2)  # let through once it closed
    waiter.join(2)
    assert limit.open == 0
