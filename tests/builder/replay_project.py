"""A project folder of real sample documents whose model is a recording of the real 1.5B."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
FIXTURES = REPO / "tests" / "fixtures"
RECORDING = FIXTURES / "replay" / "license_qwen15b.jsonl"
# txt, md, pdf, and an exact copy (isc_copy.md) that cleaning must drop.
SUBSET = ["isc.txt", "isc_copy.md", "mit-0.md", "mit.txt", "ntp.txt", "zlib.pdf"]
KEPT_DOCUMENTS = 5


def make_project(root: Path, recording: Path = RECORDING, **provider_params) -> Path:
    """A project folder with real sample documents and the sample schema."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    for name in SUBSET:
        shutil.copy(SAMPLES / "docs" / name, docs / name)
    shutil.copy(SAMPLES / "license_schema.py", root / "license_schema.py")
    sample = yaml.safe_load((SAMPLES / "dsforge.yaml").read_text())
    sample["provider"] = {"model_id": f"dsforge-replay:{recording}", "params": provider_params}
    sample["extraction"]["retry_backoff_s"] = 0
    (root / "dsforge.yaml").write_text(yaml.safe_dump(sample))
    return root / "dsforge.yaml"
