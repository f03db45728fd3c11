"""`dsforge eval --human`: the base and tuned answers to reviewers as a blind comparison, and back.

Push reads the answers `dsforge eval` saved (`eval/predictions.jsonl`), never
generating again, and sends one Argilla record per test prompt whose two
answers differ; identical answers are ties without review. Which model is
A is decided per prompt by a seeded coin (`annotate.pairwise.blind_order`);
the seed and every pair's order are kept in `eval/human/<dataset>/blinding.json`,
written before the first record leaves, and nothing on the server names a
model. Pull un-blinds the submitted choices, settles each prompt with the
review stage's agreement rule and writes win / tie / loss with Wilson
intervals into the evaluation report (`report.md` and `metrics.json`).
One dataset per evaluation: answers of a new evaluation go to a new dataset.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from annotate.agreement import agreement
from annotate.connection import check_reachable, endpoint
from annotate.pairwise import Pair, Vote, blind_order, pull_votes, push_pairs, pushed_ids
from builder.preference_pairs import trl_pair
from core import atomic
from core.clock import utc_now
from core.config import DsforgeConfig
from core.errors import TrainError
from core.layout import HumanEvalPaths, TrainPaths
from train.data import load_splits, prompt_messages
from train.preference import LOSS, PENDING, TIE, WIN, Verdict, summarize, verdict

BASE, TUNED = "base", "tuned"
PUSH_COMMAND = "dsforge eval --human"
PULL_COMMAND = "dsforge eval --human pull"


@dataclass
class Comparison:
    """What one evaluation offers reviewers: pairs that differ, and the prompts answered identically."""

    evaluation: str  # the evaluation's fingerprint
    dataset: str
    pairs: list[Pair]
    identical: list[str]  # test record ids

    def folder(self, paths: TrainPaths) -> HumanEvalPaths:
        return paths.evaluation.human(self.dataset)


def load_comparison(config: DsforgeConfig) -> Comparison:
    """The saved predictions of the current evaluation, joined to their test prompts."""
    paths = TrainPaths(config.output_dir)
    if not paths.metrics.is_file() or not paths.predictions.is_file():
        raise TrainError(f"no finished evaluation in {paths.eval}; run `dsforge eval` first.")
    evaluation = json.loads(paths.metrics.read_text("utf-8"))["fingerprint"]
    test = {row["id"]: dict(row) for row in load_splits(paths.dataset)["test"]}
    pairs, identical, schema_name = [], [], "dataset"
    for prediction in atomic.read_jsonl(paths.predictions):
        row = test.get(prediction["id"])
        if row is None:
            raise TrainError(
                f"prediction {prediction['id']} is not in the test split of {paths.dataset}; "
                "the dataset changed since the evaluation: run `dsforge eval` again."
            )
        schema_name = row["schema_name"]
        if " ".join(prediction[BASE].split()) == " ".join(prediction[TUNED].split()):
            identical.append(row["id"])
            continue
        pairs.append(
            Pair(
                record_id=row["id"],
                prompt=prompt_messages(row)[0]["content"],
                reference=row["output"],
                answers={BASE: prediction[BASE], TUNED: prediction[TUNED]},
                metadata={"stratum": str(row["stratum"]), "template": str(row["template"])},
            )
        )
    name = config.eval.human.dataset or f"{schema_name.lower()}-human-{evaluation.removeprefix('eval-')[:8]}"
    return Comparison(evaluation, name, pairs, identical)


def push_human(config: DsforgeConfig) -> dict[str, Any]:
    """Send the current evaluation's answer pairs to Argilla, blinded; a re-push updates in place."""
    options, review = config.eval.human, config.review
    paths = TrainPaths(config.output_dir)
    comparison = load_comparison(config)
    point = endpoint(review, config.project_root)
    check_reachable(point, review.retries, review.retry_backoff_s)
    blinding_path = comparison.folder(paths).blinding
    state = json.loads(blinding_path.read_text("utf-8")) if blinding_path.is_file() else None
    if state is None and pushed_ids(point, review, comparison.dataset):
        # Its records were blinded with a key this project no longer has: a new key would swap
        # answers under reviewers' existing choices.
        raise TrainError(
            f"dataset {comparison.dataset!r} already has records, but their blinding key {blinding_path} "
            "is missing; restore that file, or set eval.human.dataset to a new name and push again."
        )
    seed = _seed(options.seed, state, blinding_path)
    pushed = (state or {}).get("pairs", [])
    orders = {p["pair_id"]: (p["a"], p["b"]) for p in pushed}
    record_ids = {p["pair_id"]: p["record_id"] for p in pushed} | {
        p.id: p.record_id for p in comparison.pairs
    }
    for pair in comparison.pairs:
        orders.setdefault(pair.id, blind_order(pair.id, list(pair.answers), seed))
        if orders[pair.id] != blind_order(pair.id, list(pair.answers), seed):
            raise TrainError(f"{blinding_path} does not match its own seed; restore it from a backup.")
    # Kept before any record leaves, so a push killed half-way can still be un-blinded.
    atomic.write_json(
        blinding_path,
        {
            "evaluation": comparison.evaluation,
            "dataset": comparison.dataset,
            "workspace": review.workspace,
            "seed": seed,
            "pairs": [
                {"pair_id": pid, "record_id": record_ids.get(pid, ""), "a": a, "b": b}
                for pid, (a, b) in orders.items()
            ],
            "identical": comparison.identical,
        },
    )
    summary = push_pairs(
        point,
        review,
        comparison.dataset,
        comparison.pairs,
        seed,
        options.show_reference,
        options.min_submitted or review.required_reviews,
        PUSH_COMMAND,
    )
    result = {**asdict(summary), "identical": len(comparison.identical), "evaluation": comparison.evaluation}
    atomic.write_json(comparison.folder(paths).push_state, result)
    return result


def pull_human(config: DsforgeConfig, write: bool = True) -> dict[str, Any]:
    """Un-blind reviewers' choices, settle each prompt, and (unless `write` is False) report them."""
    options, review = config.eval.human, config.review
    paths = TrainPaths(config.output_dir)
    comparison = load_comparison(config)
    blinding_path = comparison.folder(paths).blinding
    if not blinding_path.is_file():
        raise TrainError(
            f"nothing of evaluation {comparison.evaluation} was pushed for review "
            f"(no {blinding_path}); run `{PUSH_COMMAND}` first."
        )
    state = json.loads(blinding_path.read_text("utf-8"))
    current = {pair.id: pair for pair in comparison.pairs}
    orders = {p["pair_id"]: (p["a"], p["b"]) for p in state["pairs"] if p["pair_id"] in current}
    point = endpoint(review, config.project_root)
    check_reachable(point, review.retries, review.retry_backoff_s)
    votes = pull_votes(point, review, comparison.dataset, orders, PUSH_COMMAND)

    min_submitted = options.min_submitted or review.required_reviews
    rule = options.agreement or review.agreement
    rows, verdicts = [], []
    for pair in comparison.pairs:
        if pair.id not in orders:
            verdicts.append(Verdict(PENDING, "not pushed"))
            continue
        pair_votes = votes.get(pair.id, [])
        settled = verdict([v.choice for v in pair_votes], min_submitted, rule, TUNED, BASE)
        verdicts.append(settled)
        rows.append(_vote_row(pair, orders[pair.id], pair_votes, settled))
    for record_id in comparison.identical:
        verdicts.append(Verdict(TIE, "identical"))
        rows.append({"record_id": record_id, "outcome": TIE, "reason": "identical", "votes": []})

    by_pair = {pid: {v.reviewer: v.choice for v in pair_votes} for pid, pair_votes in votes.items()}
    reviewers: Counter[str] = Counter(v.reviewer for pair_votes in votes.values() for v in pair_votes)
    human = {
        "evaluation": comparison.evaluation,
        "dataset": comparison.dataset,
        "workspace": review.workspace,
        "server": point.url,
        "pulled_at": utc_now(),
        "show_reference": options.show_reference,
        "min_submitted": min_submitted,
        "agreement_rule": rule,
        "reviewers": sorted(reviewers),
        "reviews_per_reviewer": dict(sorted(reviewers.items())),
        "agreement": asdict(agreement(by_pair, "nominal")),
        "summary": summarize(verdicts, options.confidence),
        "not_pushed": sum(v.reason == "not pushed" for v in verdicts),
    }
    pairs = preference_rows(comparison.pairs, verdicts)
    human["preference_pairs"] = len(pairs)
    if write:
        folder = comparison.folder(paths)
        if pairs:
            atomic.write_jsonl(folder.preference, pairs)
        else:
            folder.preference.unlink(missing_ok=True)  # nothing settled for one model (any more)
        atomic.write_jsonl(folder.votes, rows)
        atomic.write_json(folder.result, human)
        _into_eval_report(human, paths)
    return human


def preference_rows(pairs: list[Pair], verdicts: list[Verdict]) -> list[dict[str, Any]]:
    """Each prompt reviewers settled for one model as a preference pair in TRL's conversational format.

    They are test prompts, so the pairs are held-out data: a preference run's evaluation, never its training.
    """
    rows = []
    for pair, settled in zip(pairs, verdicts, strict=False):  # verdicts start with the pairs', in order
        if settled.outcome not in (WIN, LOSS):
            continue
        chosen, rejected = (TUNED, BASE) if settled.outcome == WIN else (BASE, TUNED)
        rows.append({
            "id": pair.id,
            "record_id": pair.record_id,
            **trl_pair(pair.prompt, pair.answers[chosen], pair.answers[rejected]),
            "source": "human A/B (blind)",
            "chosen_model": chosen,
        })  # fmt: skip
    return rows


def _into_eval_report(human: dict[str, Any], paths: TrainPaths) -> None:
    """Add the comparison to metrics.json and re-render report.md with its section."""
    from train.report import write_report
    from train.run_card import read_run_card

    metrics = json.loads(paths.metrics.read_text("utf-8"))
    card = read_run_card(paths.run_json)
    if card is None:
        raise TrainError(f"no run card at {paths.run_json}; the evaluation report cannot be rewritten.")
    metrics["human"] = human
    write_report(metrics, card, paths)
    atomic.write_json(paths.metrics, metrics)


def _seed(configured: int | None, state: dict[str, Any] | None, blinding_path: Path) -> int:
    """The blinding seed: fixed at a dataset's first push; drawn at random unless configured."""
    if state is None:
        return configured if configured is not None else random.SystemRandom().randrange(2**63)
    if configured is not None and configured != state["seed"]:
        raise TrainError(
            f"eval.human.seed is {configured}, but this dataset was pushed with seed {state['seed']} "
            f"({blinding_path}); a new seed needs a new dataset: set eval.human.dataset to a new name."
        )
    return int(state["seed"])


def _vote_row(pair: Pair, order: tuple[str, str], votes: list[Vote], settled: Verdict) -> dict[str, Any]:
    return {
        "record_id": pair.record_id,
        "pair_id": pair.id,
        "shown_as": {"A": order[0], "B": order[1]},
        "outcome": settled.outcome,
        "reason": settled.reason,
        "votes": [asdict(v) for v in votes],
    }
