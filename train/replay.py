"""Replay against forgetting: a share of general instruction records mixed into the training split.

Fine-tuning on one narrow domain drifts the model away from everything else (the
forgetting probe of `dsforge eval` measures it); rehearsing a little general data
alongside the domain data holds it back. The general records come from the packaged
set `data/general_replay.jsonl` (public-domain sources, see data/SOURCES.md) and go
into the training split only: validation, early stopping and the test split never see
them.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

REPLAY_FILE = Path(__file__).resolve().parent / "data" / "general_replay.jsonl"
STRATUM = "general-replay"


def replay_count(n_train: int, ratio: float) -> int:
    """Replay records so that they make up `ratio` of the mixture: r / (n + r) = ratio."""
    if ratio <= 0 or n_train == 0:
        return 0
    return max(1, round(n_train * ratio / (1 - ratio)))


def replay_rows(n: int, seed: int, path: Path = REPLAY_FILE) -> list[dict[str, Any]]:
    """`n` records of the set in a seeded order; past the set's size it is gone through again."""
    rows = read_set(path)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [rows[order[i % len(rows)]] for i in range(n)]


def read_set(path: Path = REPLAY_FILE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def set_sha256(path: Path = REPLAY_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mix_replay(train: Any, ratio: float, seed: int, path: Path = REPLAY_FILE) -> tuple[Any, dict[str, Any]]:
    """The training split with replay records added and shuffled in, and what the run card records."""
    from datasets import Dataset, concatenate_datasets

    n = replay_count(len(train), ratio)
    info: dict[str, Any] = {"ratio": ratio, "records": n}
    if n == 0:
        return train, info
    set_size = len(read_set(path))
    rows = [
        {
            "id": f"{row['id']}-{i // set_size}" if n > set_size else row["id"],
            "instruction": row["instruction"],
            "input": row["input"],
            "output": row["output"],
            "doc_id": STRATUM,
            "stratum": STRATUM,
            "template": row["task"],
            "schema_name": STRATUM,
        }
        for i, row in enumerate(replay_rows(n, seed, path))
    ]
    replay = Dataset.from_list(rows).cast(train.select_columns(list(rows[0])).features)
    mixed = concatenate_datasets([train.select_columns(list(rows[0])), replay]).shuffle(seed=seed)
    info.update(
        share=round(n / len(mixed), 4),
        file=path.name,
        sha256=set_sha256(path),
        set_size=set_size,
        repeated=n > set_size,
    )
    return mixed, info
