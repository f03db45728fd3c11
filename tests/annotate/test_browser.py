"""An annotator reviews in the real Argilla web UI (Debian chromium + playwright-core); pull sees it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from annotate.pull import pull
from annotate.push import push
from core import atomic

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "annotate"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed: apt-get install -y chromium"
)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_annotator_corrects_a_record_in_the_web_ui(make_project, review_server, tmp_path):
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True, capture_output=True)
    config, records = make_project("browser", min_submitted=1)
    # The queue order is shuffled per annotator; keep one template so any first record takes this correction.
    explain = [r for r in records if r.template == "explain_clause"]
    atomic.write_jsonl(config.output_dir / "records.jsonl", explain)
    summary = push(config, show_progress=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "review_ui.png"
    correction = "You must keep the notices, as corrected in the browser."
    result = subprocess.run(
        ["node", "review_ui.mjs"],
        cwd=BROWSER_DIR,
        env={
            **os.environ,
            "REVIEW_URL": review_server.url,
            "REVIEW_USER": "annotator1",
            "REVIEW_PASSWORD": review_server.user("annotator1").password,
            "REVIEW_DATASET_ID": summary.dataset_id,
            "REVIEW_CORRECTION": correction,
            "REVIEW_SCREENSHOT": str(screenshot),
            "REVIEW_PROFILE": str(tmp_path / "chromium-profile"),
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert screenshot.stat().st_size > 10_000

    report = pull(config)
    approved = atomic.read_jsonl(config.output_dir / "review" / "approved.jsonl")
    assert report["annotators"]["annotator1"]["submitted"] == 1 and len(approved) == 1
    row = approved[0]
    assert row["output"] == correction and row["review"]["status"] == "corrected"
    assert row["review"]["reviewers"] == ["annotator1"]
    # The highlighted text the annotator saw is that record's grounded span.
    assert _squash(seen["mark"]) == _squash(row["spans"][0]["text"])
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)
