"""The exported dataset as train and eval read it, and the one prompt format both use.

Training and evaluation must render a record identically, or the evaluation
measures a prompt the model never saw: both go through `prompt_messages`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import TrainError
from core.layout import DATASET_COLUMNS, SPLITS
from schemas.types import content_id


def load_splits(path: Path) -> Any:
    """The exported DatasetDict, checked for the splits and columns the stages need."""
    from datasets import load_from_disk

    if not path.exists():
        raise TrainError(
            f"no exported dataset at {path}; run `dsforge split` (and its export) first, "
            "or point `output` in dsforge.yaml at the build that has one."
        )
    data = load_from_disk(str(path))
    missing_splits = [s for s in SPLITS if s not in data]
    if missing_splits:
        raise TrainError(
            f"{path} lacks split(s) {missing_splits}; re-export the dataset with all three splits."
        )
    for name in SPLITS:
        missing = [c for c in DATASET_COLUMNS if c not in data[name].column_names]
        if missing:
            raise TrainError(f"{path} split {name!r} lacks column(s) {missing}; re-export the dataset.")
    if len(data["train"]) == 0 or len(data["validation"]) == 0:
        raise TrainError(f"{path}: train and validation splits need at least one record each.")
    return data


def read_lineage(path: Path) -> dict[str, Any] | None:
    """The dataset's lineage, or None (recorded as absent on the run card)."""
    if not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))


def dataset_fingerprint(data: Any) -> str:
    """Content id of every split: the same records give the same id, whatever the folder."""
    parts = {name: sorted((row["id"], row["output"]) for row in data[name]) for name in SPLITS}
    return content_id(parts, prefix="data-")


def prompt_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    """The user turn a record becomes: instruction, then the input it applies to."""
    text = row["instruction"].strip()
    if row.get("input", "").strip():
        text = f"{text}\n\n{row['input'].strip()}"
    return [{"role": "user", "content": text}]


def to_prompt_completion(row: dict[str, Any]) -> dict[str, Any]:
    """trl's conversational prompt-completion form: loss falls on the completion only."""
    return {
        "prompt": prompt_messages(row),
        "completion": [{"role": "assistant", "content": row["output"].strip()}],
    }


def conversational(split: Any) -> Any:
    return split.map(to_prompt_completion, remove_columns=split.column_names)
