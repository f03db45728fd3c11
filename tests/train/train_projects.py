"""Small real projects for the train tests: license records, split and exported by the real stages."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from builder.export import export_splits
from builder.split import split_records
from core.options.export import ExportOptions
from core.options.split import SplitOptions


# The smallest real training: SmolLM2 with LoRA on two projections, one record a step, no checkpointing.
# Each test overrides what it is about (steps, learning rate, lengths).
TINY_TRAIN = {
    "base_model": "smollm2-135m",
    "mode": "lora",
    "max_steps": 1,
    "batch_size": 1,
    "gradient_accumulation_steps": 1,
    "gradient_checkpointing": False,
    "eval_steps": 1,
    "max_seq_len": 96,
    "lora_r": 4,
    "target_modules": ["q_proj", "v_proj"],
    # These runs compare numbers (resumed vs straight, merged vs adapter, 1 vs 2 processes) at float32;
    # `auto` would train in bf16 on a CPU with AMX (tests/train/test_method_choice.py has that path).
    "compute_dtype": "float32",
    "packing": "off",
}


def export_dataset(records, output: Path, lineage: dict | None = None) -> Path:
    """`<output>/export/dataset` exactly as `dsforge split` + export write it."""
    splits, manifest = split_records(records, SplitOptions(), "kind")
    result = export_splits(splits, manifest, output, ExportOptions())
    if lineage is not None:
        (output / "export" / "lineage.json").write_text(json.dumps(lineage), "utf-8")
    return result.paths.dataset


def write_project(folder: Path, records, repo: Path, train: dict, eval_: dict | None = None) -> Path:
    """A project folder: the sample schema, a config and an exported dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "samples" / "license_schema.py", folder / "license_schema.py")
    config = {
        "input": "docs",
        "output": "build",
        "schema": "license_schema.py:LicenseTerm",
        "train": train,
        "eval": eval_ or {},
    }
    (folder / "dsforge.yaml").write_text(yaml.safe_dump(config), "utf-8")
    export_dataset(records, folder / "build", lineage={"records": len(records), "labels": "keyword rule"})
    return folder / "dsforge.yaml"


@contextmanager
def one_cpu_thread() -> Iterator[dict[str, str]]:
    """Torch on one thread, here and in the returned environment for subprocesses.

    On a two-core machine shared with the review server, two spinning threads run
    a small model several times slower than one.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield {**os.environ, "OMP_NUM_THREADS": "1"}
    finally:
        torch.set_num_threads(threads)
