"""`dsforge export`: splits → the formats training tools read.

- `dataset/`: an HF DatasetDict (train/validation/test) saved with
  `save_to_disk`; `train/` reads it with `load_from_disk`, so its column names
  are a contract: id, instruction, input, output, doc_id, stratum, template,
  schema_name, plus a nested `provenance` struct.
- one folder per registered format (builder.export_formats): `alpaca/<split>.json`
  and `.jsonl` (instruction, input, output), `chatml/<split>.jsonl` (OpenAI-style
  `messages`), `sharegpt/<split>.jsonl` (`conversations` with from/value turns).
- `preference/<split>.jsonl` when reviewers corrected records: TRL's prompt / chosen /
  rejected pairs (builder.preference_pairs), in the split of the record they came from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.export_formats import export_formats
from builder.preference_pairs import preference_pairs
from builder.split import stratum_of
from core import atomic
from core.errors import ExportError
from core.layout import DATASET_COLUMNS, PREFERENCE_FOLDER, SPLITS, ExportPaths
from core.options.export import ExportOptions
from schemas.types import ReviewedRecord, SplitManifest


@dataclass
class ExportResult:
    paths: ExportPaths
    sizes: dict[str, int]
    files: list[Path] = field(default_factory=list)
    pushed_to: str | None = None
    messages: list[str] = field(default_factory=list)
    preference: dict[str, Any] = field(default_factory=dict)  # pairs per split and by source


def features() -> Any:
    """The DatasetDict schema, stated once so empty splits and reloads agree."""
    from datasets import Features, List, Value

    span = {
        "doc_id": Value("string"),
        "start": Value("int64"),
        "end": Value("int64"),
        "text": Value("string"),
    }
    review = {
        "status": Value("string"),
        "reviewers": List(Value("string")),
        "agreement": Value("float64"),
        "rating": Value("float64"),
        "original_output": Value("string"),
        "auto": Value("bool"),
    }
    provenance = {
        "model": Value("string"),
        "source": Value("string"),
        "item_id": Value("string"),
        "spans": List(span),
        "review": review,
        "meta_json": Value("string"),
    }
    return Features({**{name: Value("string") for name in DATASET_COLUMNS}, "provenance": provenance})


def dataset_row(record: ReviewedRecord, stratify_by: str | None) -> dict[str, Any]:
    review = record.review
    return {
        "id": record.id,
        "instruction": record.instruction,
        "input": record.input,
        "output": record.output,
        "doc_id": record.doc_id,
        "stratum": stratum_of(record, stratify_by),
        "template": record.template,
        "schema_name": record.schema_name,
        "provenance": {
            "model": record.model,
            "source": str(record.meta.get("source", "")),
            "item_id": str(record.meta.get("item_id", "")),
            "spans": [span.model_dump() for span in record.spans],
            "review": {
                "status": review.status,
                "reviewers": list(review.reviewers),
                "agreement": review.agreement,
                "rating": review.rating,
                "original_output": review.original_output,
                "auto": review.auto,
            },
            # meta is open-ended; arrow needs one type per column, JSON text has one.
            "meta_json": json.dumps(record.meta, ensure_ascii=False, sort_keys=True),
        },
    }


def export_splits(
    splits: dict[str, list[ReviewedRecord]],
    manifest: SplitManifest,
    output: Path,
    options: ExportOptions,
) -> ExportResult:
    """Write every format; rerunning on the same splits rewrites the same files."""
    paths = ExportPaths(output)
    result = ExportResult(paths=paths, sizes={name: len(splits.get(name, [])) for name in SPLITS})
    for name in SPLITS:
        rows = splits.get(name, [])
        for fmt in export_formats():
            written = [fmt.row(record, options) for record in rows]
            if fmt.json_array:
                atomic.write_json(paths.file(fmt.name, name, "json"), written)
                result.files.append(paths.file(fmt.name, name, "json"))
            atomic.write_jsonl(paths.file(fmt.name, name), written)
            result.files.append(paths.file(fmt.name, name))
    _export_preference(splits, paths, result)
    dataset_dict = build_dataset_dict(splits, manifest.stratify_by)
    save_dataset_dict(dataset_dict, paths.dataset)
    return result


def _export_preference(splits: dict[str, list[ReviewedRecord]], paths: ExportPaths, result: ExportResult) -> None:
    """Pairs per split where there are any; a split without pairs has no file (an older one is removed)."""
    pairs = preference_pairs(splits)
    for name in SPLITS:
        target = paths.file(PREFERENCE_FOLDER, name)
        if pairs.rows.get(name):
            atomic.write_jsonl(target, pairs.rows[name])
            result.files.append(target)
        else:
            target.unlink(missing_ok=True)
    result.preference = pairs.summary()
    result.messages.append(pairs.message())


def build_dataset_dict(splits: dict[str, list[ReviewedRecord]], stratify_by: str | None) -> Any:
    from datasets import Dataset, DatasetDict

    schema = features()
    return DatasetDict(
        {
            name: Dataset.from_list(
                [dataset_row(r, stratify_by) for r in splits.get(name, [])], features=schema
            )
            for name in SPLITS
        }
    )


def save_dataset_dict(dataset_dict: Any, target: Path) -> None:
    """Saved beside the target and swapped in: a crash leaves the previous dataset whole."""
    atomic.replace_dir(target, lambda staging: dataset_dict.save_to_disk(str(staging)))


def push_to_hub(paths: ExportPaths, options: ExportOptions) -> str | None:
    """Publish the export folder only when a repo is named and its token is set; the token is never logged.

    The card's `configs` point the Hub at the JSONL files, so the folder is
    uploaded as it is, minus the arrow copy the Hub would not read.
    """
    if not options.hub_repo:
        return None
    token = os.environ.get(options.hub_token_env)
    if not token:
        raise ExportError(
            f"export.hub_repo is {options.hub_repo!r} but ${options.hub_token_env} is not set; export a "
            "write token in that variable, or remove export.hub_repo to export locally only."
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(options.hub_repo, repo_type="dataset", private=options.hub_private, exist_ok=True)
    api.upload_folder(
        repo_id=options.hub_repo,
        repo_type="dataset",
        folder_path=str(paths.root),
        ignore_patterns=["dataset/**", ".*"],
    )
    return options.hub_repo
