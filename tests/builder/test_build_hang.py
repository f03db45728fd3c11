"""A provider call that hangs without raising is cut at extraction.timeout_s and retried for its chunk alone.

The provider really blocks (for minutes, far past the timeout); the build must
finish in a bounded time, reject only the chunk that never answered, keep the
chunk that hung once and answered on its retry, and keep the neighbours of the
hung chunk in the same batch. A healthy rerun asks again only for the rejected chunk.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from builder.llm_cache import prompt_sha256
from builder.pipeline import BuildSummary, build
from builder.providers.replay import load_recording
from tests.builder.faulty_provider import PREFIX, FaultyLanguageModel, chunk_of, hangs
from tests.builder.replay_project import RECORDING, SAMPLES, make_project
from tests.builder.test_build_model_faults import _licenses, filler

TIMEOUT_S = 0.5
RETRIES = 2
HANG_S = 300.0
FAULTS = {"HangAlways": hangs(HANG_S), "ISC License": hangs(HANG_S, times=1)}


@dataclass
class Run:
    summary: BuildSummary
    wall_s: float
    attempts: list[str]
    items: list[dict[str, Any]]
    rejects: list[dict[str, Any]]

    def calls(self, marker: str) -> int:
        return sum(marker in chunk_of(prompt) for prompt in self.attempts)


def _run(config_path: Path) -> Run:
    started = time.monotonic()
    summary = build(load_config(config_path), show_progress=False)
    wall = time.monotonic() - started
    rows = {
        name: [json.loads(line) for line in (summary.paths.root / name).read_text("utf-8").splitlines()]
        for name in ("items.jsonl", "rejects.jsonl")
    }
    attempts = [prompt for prompt, _ in FaultyLanguageModel.attempts]
    return Run(summary, wall, attempts, rows["items.jsonl"], rows["rejects.jsonl"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    text = _licenses()
    documents = {
        # One batch of three chunks; the middle one never answers.
        "combined.txt": "\n\n".join([text["mit.txt"], filler("HangAlways"), text["ntp.txt"]]).encode(),
        "isc.txt": text["isc.txt"].encode(),
        "zlib.pdf": (SAMPLES / "docs" / "zlib.pdf").read_bytes(),
    }
    config_path = make_project(
        tmp_path_factory.mktemp("hang"),
        documents=documents,
        provider=PREFIX,
        extraction={"timeout_s": TIMEOUT_S, "retries": RETRIES, "retry_backoff_s": 0.05},
    )
    try:
        FaultyLanguageModel.reset(FAULTS)
        hung = _run(config_path)
        FaultyLanguageModel.reset()
        healthy = _run(config_path)
    finally:
        FaultyLanguageModel.reset()
    return hung, healthy


def test_the_build_finishes_long_before_the_hang_would_end(runs: tuple[Run, Run]) -> None:
    hung, _ = runs
    # Six silent calls of TIMEOUT_S each, plus backoff: seconds, not the HANG_S a call blocks.
    assert hung.wall_s < HANG_S / 5
    assert hung.summary.report["extraction"]["chunks"] == 5


def test_a_silent_chunk_is_retried_alone_then_rejected_and_the_rest_is_kept(runs: tuple[Run, Run]) -> None:
    hung, _ = runs
    assert hung.calls("HangAlways") == 2 + RETRIES  # its batch call, then 1 + RETRIES calls of its own
    assert hung.calls("ISC License") == 2  # hung once, answered on the first retry
    assert hung.calls("NTP License") == 1  # queued behind the hung chunk, asked alone once
    assert hung.calls("MIT License") == 1
    [reject] = [r for r in hung.rejects if r["reason"] == "provider_error"]
    assert reject["detail"].startswith("CallTimeoutError: no answer within 0.5 s")
    assert hung.summary.report["extraction"]["failed_chunks"] == 1

    recording = load_recording(RECORDING)
    recorded = Counter(
        item["clause"]
        for prompt in set(hung.attempts)
        if "HangAlways" not in chunk_of(prompt) and prompt_sha256(prompt) in recording
        for item in json.loads(recording[prompt_sha256(prompt)])["extractions"]
    )
    kept = Counter(item["span"]["text"] for item in hung.items)
    # Every item the model gave for the answered chunks is kept or rejected on its own merits.
    others = Counter(r["extraction_text"] for r in hung.rejects if r["reason"] != "provider_error")
    assert kept + others == recorded
    assert kept


def test_a_healthy_rerun_asks_only_for_the_rejected_chunk(runs: tuple[Run, Run]) -> None:
    hung, healthy = runs
    assert [chunk_of(p) for p in healthy.attempts] == [filler("HangAlways")]
    ext = healthy.summary.report["extraction"]
    assert (ext["llm_calls"], ext["cache_hits"], ext["failed_chunks"]) == (1, 4, 0)
    assert Counter(i["span"]["text"] for i in healthy.items) == Counter(i["span"]["text"] for i in hung.items)
