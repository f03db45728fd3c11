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


def _browse(script: str, review_server, tmp_path: Path, settings: dict[str, str]) -> dict:
    """Run a browser script as annotator1 in a fresh profile; its last stdout line is JSON."""
    result = subprocess.run(
        ["node", script],
        cwd=BROWSER_DIR,
        env={
            **os.environ,
            "REVIEW_URL": review_server.url,
            "REVIEW_USER": "annotator1",
            "REVIEW_PASSWORD": review_server.user("annotator1").password,
            "REVIEW_PROFILE": str(tmp_path / "chromium-profile"),
            **settings,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_annotator_corrects_a_record_in_the_web_ui(make_project, review_server, tmp_path):
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True, capture_output=True)
    config, records = make_project("browser", min_submitted=1)
    # Keep one template so the first record in the queue is an explain_clause record that takes this correction.
    explain = [r for r in records if r.template == "explain_clause"]
    atomic.write_jsonl(config.output_dir / "records.jsonl", explain)
    summary = push(config, show_progress=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "review_ui.png"
    correction = "You must keep the notices, as corrected in the browser."
    seen = _browse("review_ui.mjs", review_server, tmp_path, {
        "REVIEW_DATASET_ID": summary.dataset_id,
        "REVIEW_CORRECTION": correction,
        "REVIEW_SCREENSHOT": str(screenshot),
    })  # fmt: skip
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


MISSED_ISC = 'THE SOFTWARE IS PROVIDED "AS IS" AND ISC DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE'


def test_annotator_reviews_items_and_marks_a_missed_clause_in_the_web_ui(make_project, review_server, tmp_path):
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True, capture_output=True)
    config, _ = make_project("browser-items", unit="item", min_submitted=1)
    summary = push(config, show_progress=False)
    with review_server.http() as http:
        missed_id = next(
            d["id"] for d in http.get("/api/v1/me/datasets").json()["items"] if d["name"] == summary.missed_dataset
        )
    correction = "You may use, copy, change and share it, paid or not."
    seen = _browse("review_items_ui.mjs", review_server, tmp_path, {
        "REVIEW_ITEMS_ID": summary.dataset_id,
        "REVIEW_MISSED_ID": missed_id,
        "REVIEW_CORRECTION": correction,
        "REVIEW_MISSED_TEXT": MISSED_ISC,
        "REVIEW_MISSED_LABEL": "limitation",
        "REVIEW_SHOTS": str(ARTIFACTS),
    })  # fmt: skip

    report = pull(config)
    reviewed = {row["span"]["text"]: row for row in atomic.read_jsonl(config.output_dir / "review" / "reviewed_items.jsonl")}
    # The queue follows the document: the ISC license's permission, then its condition.
    first, second = reviewed[_unsquash(seen["first_mark"], reviewed)], reviewed[_unsquash(seen["second_mark"], reviewed)]
    assert first["span"]["text"].startswith("Permission to use") and second["span"]["text"].startswith("provided that")
    assert first["review"]["status"] == "corrected" and first["attributes"]["summary"] == correction
    assert first["attributes"]["kind"] == "permission"  # the suggested label, submitted unchanged
    assert second["review"]["status"] == "rejected"
    added = reviewed[MISSED_ISC]
    assert added["source"] == "reviewer" and added["attributes"] == {"kind": "limitation"}
    assert report["measured"]["overall"]["added"] == 1 and report["measured"]["checked_documents"] == 1
    approved = atomic.read_jsonl(config.output_dir / "review" / "approved.jsonl")
    assert {row["meta"]["item_id"] for row in approved} == {first["id"]}
    assert (ARTIFACTS / "review_item.png").stat().st_size > 10_000
    assert (ARTIFACTS / "review_missed.png").stat().st_size > 10_000
    (ARTIFACTS / "review_items_timings.json").write_text(json.dumps(seen["timings_ms"]), "utf-8")
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def _unsquash(shown: str, texts: dict[str, dict]) -> str:
    """The item text whose characters, spaces aside, are what the page highlighted."""
    return next(text for text in texts if _squash(text) == _squash(shown))
