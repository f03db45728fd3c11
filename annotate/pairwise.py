"""Blind pairwise comparison in Argilla: two systems' answers to one prompt, shown as A and B.

Reviewers see the prompt, optionally the reference answer, and the two answers
in an order drawn per pair from a seeded coin, so neither position nor name
tells which system wrote which. Nothing on the server says it either: the
order is recomputed from the seed and the pair id, which the caller keeps
locally. A pair's id is a content id of its prompt and both answers, used as
the record's `external_id`: a re-push upserts instead of duplicating, and
changed answers become new records rather than silently replacing judged ones.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from annotate.connection import Endpoint
from annotate.fetch import find_dataset, iter_rows, open_http, require_dataset, usernames
from annotate.push import PushSummary, open_dataset, upsert_all
from core.errors import ReviewError
from core.options.review import ReviewOptions
from schemas.types import content_id

PROMPT, REFERENCE, ANSWER_A, ANSWER_B = "prompt", "reference", "answer_a", "answer_b"
PREFERENCE, COMMENT = "preference", "comment"
A, B, TIE = "A", "B", "tie"
METADATA_TERMS = ("stratum", "template")


@dataclass(frozen=True)
class Pair:
    """One prompt and two systems' answers to it."""

    record_id: str
    prompt: str
    reference: str
    answers: dict[str, str]  # system name → answer; exactly two
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return content_id(self.record_id, self.prompt, sorted(self.answers.items()), prefix="pair-")


@dataclass(frozen=True)
class Vote:
    """One reviewer's submitted choice, un-blinded: a system name, or 'tie'."""

    reviewer: str
    submitted_at: str
    choice: str
    comment: str | None


def blind_order(pair_id: str, systems: list[str], seed: int) -> tuple[str, str]:
    """The systems shown as A and B: a fair coin seeded by the comparison's seed and the pair.

    A string seed is hashed with SHA-512 by `random.Random`, so the order is the
    same on every run and machine, and unrelated to the order pairs are pushed in.
    """
    first, second = sorted(systems)
    coin = random.Random(f"{seed}:{pair_id}").random()
    return (first, second) if coin < 0.5 else (second, first)


def guidelines(show_reference: bool) -> str:
    reference = (
        "The **reference answer** comes from the reviewed dataset; an answer may be better than it.\n"
        if show_reference
        else ""
    )
    return (
        "## Which answer is better?\n\n"
        "Each record shows one prompt and two answers, **A** and **B**, written by two different models. "
        "Which model wrote which is hidden, and the order is random for every record.\n\n"
        f"{reference}"
        "1. Read the prompt, then both answers.\n"
        "2. Pick the answer that is more correct, complete and useful for the prompt; prefer a correct "
        "short answer to a long one with errors.\n"
        "3. Pick **Tie** when both are equally good or equally bad.\n"
        "4. Optionally say why in the comment."
    )


def build_settings(show_reference: bool, min_submitted: int) -> Any:
    import argilla as rg

    fields = [rg.TextField(name=PROMPT, title="Prompt", use_markdown=False)]
    if show_reference:
        fields.append(rg.TextField(name=REFERENCE, title="Reference answer", use_markdown=False))
    fields += [
        rg.TextField(name=ANSWER_A, title="Answer A", use_markdown=False),
        rg.TextField(name=ANSWER_B, title="Answer B", use_markdown=False),
    ]
    questions = [
        rg.LabelQuestion(
            name=PREFERENCE,
            title="Which answer is better?",
            labels={A: "A is better", B: "B is better", TIE: "Tie"},
            required=True,
        ),
        rg.TextQuestion(name=COMMENT, title="Why? (optional)", required=False, use_markdown=False),
    ]
    metadata = [rg.TermsMetadataProperty(name=name, title=name) for name in METADATA_TERMS]
    return rg.Settings(
        guidelines=guidelines(show_reference),
        fields=fields,
        questions=questions,
        metadata=metadata,
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        allow_extra_metadata=False,
    )


def ensure_dataset(
    point: Endpoint, options: ReviewOptions, name: str, show_reference: bool, min_submitted: int
) -> Any:
    """The comparison dataset in the review workspace, created on first push; refused if it drifted."""
    return open_dataset(point, options, name, lambda: build_settings(show_reference, min_submitted),
                        "eval.human.dataset")  # fmt: skip


def record_payload(pair: Pair, seed: int, show_reference: bool) -> dict[str, Any]:
    """The record reviewers see: the prompt and the two answers in blind order, no system names."""
    shown_a, shown_b = blind_order(pair.id, list(pair.answers), seed)
    fields = {
        PROMPT: pair.prompt,
        ANSWER_A: _shown(pair.answers[shown_a]),
        ANSWER_B: _shown(pair.answers[shown_b]),
    }
    if show_reference:
        fields[REFERENCE] = _shown(pair.reference)
    metadata = {k: v for k, v in pair.metadata.items() if k in METADATA_TERMS and v}
    return {"external_id": pair.id, "fields": fields, "metadata": metadata}


def push_pairs(
    point: Endpoint,
    options: ReviewOptions,
    name: str,
    pairs: list[Pair],
    seed: int,
    show_reference: bool,
    min_submitted: int,
    command: str,
    on_batch: Callable[[int], None] | None = None,
) -> PushSummary:
    """Create (or reuse) the comparison dataset and upsert every pair into it, blinded."""

    for pair in pairs:
        if len(pair.answers) != 2:
            raise ReviewError(
                f"pair {pair.record_id} has {len(pair.answers)} answers; a comparison needs two."
            )
    started = time.perf_counter()
    dataset = ensure_dataset(point, options, name, show_reference, min_submitted)
    payloads = [record_payload(pair, seed, show_reference) for pair in pairs]
    done = 0

    def advance(now: int, _total: int) -> None:
        nonlocal done
        if on_batch:
            on_batch(now - done)
        done = now

    return upsert_all(point, options, dataset, payloads, started, command, advance)


def pushed_ids(point: Endpoint, options: ReviewOptions, name: str) -> set[str]:
    """External ids of the records already in the dataset; empty when it does not exist yet."""
    with open_http(point) as http:
        dataset = find_dataset(http, options.workspace, name)
        return {row.get("external_id") for row in iter_rows(http, dataset["id"])} if dataset else set()


def pull_votes(
    point: Endpoint, options: ReviewOptions, name: str, orders: dict[str, tuple[str, str]], push_command: str
) -> dict[str, list[Vote]]:
    """Submitted choices per pair id, un-blinded with `orders` (pair id → systems shown as A, B).

    Records on the server whose pair id is not in `orders` (answers of an
    earlier evaluation) are left out; drafts and discarded responses do not count.
    """
    with open_http(point) as http:
        dataset = require_dataset(http, options.workspace, name, point.url, push_command)
        users = usernames(http)
        rows = list(iter_rows(http, dataset["id"]))
    votes: dict[str, list[Vote]] = {pair_id: [] for pair_id in orders}
    for row in rows:
        pair_id = row.get("external_id")
        if pair_id not in orders:
            continue
        votes[pair_id] = sorted(
            _votes(row, orders[pair_id], users), key=lambda v: (v.submitted_at, v.reviewer)
        )
    return votes


def _votes(row: dict[str, Any], order: tuple[str, str], users: dict[str, str]) -> Iterator[Vote]:
    unblind = {A: order[0], B: order[1], TIE: TIE}
    for response in row.get("responses") or []:
        if response["status"] != "submitted":
            continue
        values = response.get("values") or {}
        choice = (values.get(PREFERENCE) or {}).get("value")
        if choice not in unblind:
            continue
        comment = (values.get(COMMENT) or {}).get("value")
        yield Vote(
            reviewer=users.get(response["user_id"], response["user_id"]),
            submitted_at=response["updated_at"],
            choice=unblind[choice],
            comment=comment.strip() if isinstance(comment, str) and comment.strip() else None,
        )


def _shown(text: str) -> str:
    """Argilla refuses an empty text field; an empty answer is still an answer to judge."""
    return text if text.strip() else "(empty answer)"
