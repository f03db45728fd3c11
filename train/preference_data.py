"""The preference pairs `dsforge export` wrote, as `train.objective: dpo` reads them.

Pairs come from reviewers' corrections (builder/preference_pairs.py) and sit in the
split of the record they came from, so training reads `train`, early stopping
`validation` and the held-out preference accuracy `test` — the same documents
as the SFT splits. A run starting from the SFT adapter is a different run when
that adapter changes, so its id enters the data's fingerprint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import TrainError
from core.hashing import file_sha256
from core.layout import SPLITS
from schemas.types import content_id

COLUMNS = ("prompt", "chosen", "rejected")


def load_preference_splits(files: dict[str, Path]) -> dict[str, Any]:
    """split → `datasets.Dataset` of prompt / chosen / rejected (None where the split has no pairs)."""
    from datasets import Dataset

    train_file = files["train"]
    if not train_file.is_file():
        raise TrainError(
            f"no preference pairs at {train_file}: `dsforge export` writes them from records reviewers "
            "corrected; review (correcting what the model got wrong), pull, split and export first, or "
            "train with objective: sft."
        )
    splits: dict[str, Any] = {}
    for name in SPLITS:
        path = files[name]
        if not path.is_file():
            splits[name] = None
            continue
        rows = []
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainError(f"{path}:{number}: not JSON ({exc.msg}); re-run dsforge export.") from exc
            missing = [c for c in COLUMNS if not row.get(c)]
            if missing:
                raise TrainError(f"{path}:{number}: the pair lacks {missing}; re-run dsforge export.")
            rows.append({"id": row.get("id", f"{name}-{number}"), **{c: row[c] for c in COLUMNS}})
        splits[name] = Dataset.from_list(rows) if rows else None
    if splits["train"] is None:
        raise TrainError(f"{train_file} holds no pairs; correct some records in review and export again.")
    return splits


def preference_fingerprint(splits: dict[str, Any], start_adapter: Path | None) -> str:
    """Content id of every split's pairs and of the adapter training starts from."""
    parts = {
        name: sorted(json.dumps([row[c] for c in ("id", *COLUMNS)], sort_keys=True) for row in data)
        for name, data in splits.items()
        if data is not None
    }
    start = (
        {p.name: file_sha256(p) for p in sorted(start_adapter.glob("adapter_*"))} if start_adapter else "base"
    )
    return content_id(parts, start, prefix="pairs-")
