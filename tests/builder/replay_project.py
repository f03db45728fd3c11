"""A project folder of real sample documents whose model is a recording of the real 1.5B."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
FIXTURES = REPO / "tests" / "fixtures"
RECORDING = FIXTURES / "replay" / "license_qwen15b.jsonl"
# txt, md, pdf, and an exact copy (isc_copy.md) that cleaning must drop.
SUBSET = ["isc.txt", "isc_copy.md", "mit-0.md", "mit.txt", "ntp.txt", "zlib.pdf"]
KEPT_DOCUMENTS = 5


def make_project(
    root: Path,
    recording: Path = RECORDING,
    documents: Mapping[str, bytes] | None = None,
    provider: str = "dsforge-replay:",
    extraction: Mapping[str, Any] | None = None,
    **provider_params: Any,
) -> Path:
    """A project folder with the sample schema and `documents` (default: the sample SUBSET) in docs/."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    if documents is None:
        for name in SUBSET:
            shutil.copy(SAMPLES / "docs" / name, docs / name)
    for name, data in (documents or {}).items():
        (docs / name).write_bytes(data)
    shutil.copy(SAMPLES / "license_schema.py", root / "license_schema.py")
    sample = yaml.safe_load((SAMPLES / "dsforge.yaml").read_text())
    sample["provider"] = {"model_id": f"{provider}{recording}", "params": provider_params}
    sample["extraction"].update({"retry_backoff_s": 0, **(extraction or {})})
    (root / "dsforge.yaml").write_text(yaml.safe_dump(sample))
    return root / "dsforge.yaml"
