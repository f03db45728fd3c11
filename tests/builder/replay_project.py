"""A project folder of real sample documents whose model is a recording of the real 1.5B."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
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


def kill_build_after(config_path: Path, cache: Path, completions: int = 3) -> int:
    """Run `dsforge build` in a subprocess, kill -9 it once `completions` are cached; how many were."""
    cmd = [sys.executable, "-m", "dsforge", "build", "-c", str(config_path), "--no-progress"]
    process = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and cached_completions(cache) < completions:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return cached_completions(cache)


def cached_completions(cache: Path) -> int:
    """Rows in a completion cache (0 while it does not exist or is being created)."""
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(cache, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.Error:
        return 0
