"""Model output faults, injected per chunk into a real build served by the recorded 1.5B.

Each faulty chunk must end as a reject with its own reason while the other
chunks of its document, and the other documents, are kept; only calls that
can succeed on a second try are retried. Every completion is cached, an
unparseable one too (at temperature 0 the model would repeat it), while a call
that raised leaves nothing behind: a healthy rerun asks for exactly those chunks.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from builder.clean import clean_documents
from builder.ingest import ingest_folder
from builder.llm_cache import prompt_sha256
from builder.pipeline import BuildSummary, build
from builder.providers.replay import load_recording
from core.config import load_config
from core.options.clean import CleanOptions
from core.options.ingest import IngestOptions
from tests.builder.faulty_provider import (
    PREFIX,
    FaultyLanguageModel,
    chunk_of,
    edited,
    not_json,
    raises,
    replaced_by,
    truncated,
)
from tests.builder.replay_project import RECORDING, SAMPLES, make_project

BACKOFF_S = 0.05
RETRIES = 2
HALLUCINATED = {
    "clause": "The licensee may sell the author's house to pay for support.",
    "clause_attributes": {"kind": "permission", "summary": "You may sell the author's house."},
}
WRONG_TYPES = {"kind": 3, "summary": None}
ILL_SHAPED = json.dumps({"extractions": [{"clause": ["FillerP4", "licensee"], "clause_attributes": {}}]})

# Marker in a chunk's text → the fault that chunk gets.
FAULTS = {
    "FillerP1": not_json,
    "NTP License": raises(TimeoutError, times=1),
    "FillerP2": raises(RuntimeError),
    "zlib License": edited(WRONG_TYPES, [HALLUCINATED]),
    "MIT No Attribution": raises(TimeoutError),
    "FillerP3": truncated,
    "FillerP4": replaced_by(ILL_SHAPED),
}
RAISED = ["FillerP2", "MIT No Attribution"]
UNPARSEABLE = ["FillerP1", "FillerP3", "FillerP4"]
HEALTHY = ["MIT License", "NTP License", "ISC License", "zlib License"]


def filler(marker: str) -> str:
    """One sentence just under max_char_buffer (1200): langextract gives it a chunk of its own."""
    words = itertools.cycle(("licensee", "shall", "keep", "every", "notice", "intact"))
    text = marker
    while len(text) < 1190:
        text += " " + next(words)
    return text + "."


@dataclass
class Run:
    """One build's report, artifacts and provider attempts, kept before the next build overwrites them."""

    summary: BuildSummary
    attempts: list[tuple[str, float]]
    artifacts: dict[str, list[dict[str, Any]]]
    cached: set[str]

    def prompts(self, marker: str) -> list[str]:
        return [prompt for prompt, _ in self.attempts if marker in chunk_of(prompt)]

    def times(self, marker: str) -> list[float]:
        return [at for prompt, at in self.attempts if marker in chunk_of(prompt)]

    def rows(self, name: str) -> list[dict[str, Any]]:
        return self.artifacts[name]


@dataclass
class Runs:
    faulty: Run
    healthy: Run
    again: Run

    def recorded_clauses(self, marker: str) -> list[str]:
        """The evidence of every item the recording holds for the chunk holding `marker`."""
        [prompt] = set(self.faulty.prompts(marker))
        output = load_recording(RECORDING)[prompt_sha256(prompt)]
        return [item["clause"] for item in json.loads(output)["extractions"]]


def _licenses() -> dict[str, str]:
    """Cleaned sample texts: exactly what the recorded prompts hold."""
    names = ["isc.txt", "mit-0.md", "mit.txt", "ntp.txt"]
    ingested = ingest_folder(SAMPLES / "docs", IngestOptions(include=names))
    return {doc.source: doc.text for doc in clean_documents(ingested.documents, CleanOptions()).documents}


def _run(config_path: Path) -> Run:
    summary = build(load_config(config_path), show_progress=False)
    artifacts = {
        name: [json.loads(line) for line in (summary.paths.root / name).read_text("utf-8").splitlines()]
        for name in ("documents.jsonl", "items.jsonl", "rejects.jsonl")
    }
    with sqlite3.connect(summary.paths.cache) as db:
        cached = {row[0] for row in db.execute("SELECT prompt_sha256 FROM completions")}
    return Run(summary, list(FaultyLanguageModel.attempts), artifacts, cached)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    text = _licenses()
    documents = {
        "combined.txt": "\n\n".join([text["mit.txt"], filler("FillerP1"), text["ntp.txt"]]).encode(),
        "isc_extra.txt": "\n\n".join([text["isc.txt"], filler("FillerP2")]).encode(),
        "zlib.pdf": (SAMPLES / "docs" / "zlib.pdf").read_bytes(),
        "mit0_extra.txt": "\n\n".join([text["mit-0.md"], filler("FillerP3")]).encode(),
        "filler.txt": filler("FillerP4").encode(),
    }
    config_path = make_project(
        tmp_path_factory.mktemp("faults"),
        documents=documents,
        provider=PREFIX,
        extraction={"retry_backoff_s": BACKOFF_S, "retries": RETRIES},
    )
    try:
        FaultyLanguageModel.reset(FAULTS)
        faulty = _run(config_path)
        FaultyLanguageModel.reset()
        healthy = _run(config_path)
        FaultyLanguageModel.reset()
        again = _run(config_path)
    finally:
        FaultyLanguageModel.reset()
    return Runs(faulty=faulty, healthy=healthy, again=again)


def test_chunks_are_the_recorded_ones_and_fillers_and_retries_are_not_counted_as_chunks(runs: Runs) -> None:
    chunks = {chunk_of(prompt) for prompt, _ in runs.faulty.attempts}
    assert len(chunks) == runs.faulty.summary.report["extraction"]["chunks"] == 9
    for marker in FAULTS.keys() | set(HEALTHY):
        assert len({chunk_of(p) for p in runs.faulty.prompts(marker)}) == 1, marker
    recording = load_recording(RECORDING)
    assert sum(prompt_sha256(p) in recording for p in {p for p, _ in runs.faulty.attempts}) == 5


def test_each_faulty_chunk_is_rejected_with_its_reason_and_the_rest_is_kept(runs: Runs) -> None:
    report = runs.faulty.summary.report
    assert report["extraction"]["rejects"] == {
        "parse_error": 3,
        "provider_error": 2,
        "ungrounded": 1,
        "invalid": 1,
    }
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for reject in runs.faulty.rows("rejects.jsonl"):
        by_reason.setdefault(reject["reason"], []).append(reject)
    parse_details = sorted(r["detail"] for r in by_reason["parse_error"])
    assert any("cut short" in d for d in parse_details)
    assert any("Extraction text must be a string" in d for d in parse_details)
    assert any("Failed to parse JSON" in d and "cannot extract" in d for d in parse_details)
    assert sorted(r["detail"].split(":")[0] for r in by_reason["provider_error"]) == [
        "RuntimeError",
        "TimeoutError",
    ]
    recorded = {marker: runs.recorded_clauses(marker) for marker in HEALTHY}
    [ungrounded] = by_reason["ungrounded"]
    assert ungrounded["extraction_text"] == HALLUCINATED["clause"]
    [invalid] = by_reason["invalid"]
    assert invalid["extraction_text"] == recorded["zlib License"][0]
    assert "kind" in invalid["detail"] and "summary" in invalid["detail"]

    # Every other recorded item of the healthy chunks is kept, wherever its neighbours failed.
    expected = Counter(clause for clauses in recorded.values() for clause in clauses)
    expected[recorded["zlib License"][0]] -= 1
    items = runs.faulty.rows("items.jsonl")
    assert Counter(item["span"]["text"] for item in items) == +expected
    sources = {doc["id"]: doc["source"] for doc in runs.faulty.rows("documents.jsonl")}
    assert {sources[item["span"]["doc_id"]] for item in items} == {
        "combined.txt",
        "isc_extra.txt",
        "zlib.pdf",
    }
    combined = next(
        doc["text"] for doc in runs.faulty.rows("documents.jsonl") if doc["source"] == "combined.txt"
    )
    starts = sorted(
        item["span"]["start"] for item in items if sources[item["span"]["doc_id"]] == "combined.txt"
    )
    # Items on both sides of the unparseable middle chunk.
    assert starts[0] < combined.index("FillerP1") < combined.index("NTP License") <= starts[-1]
    assert report["documents"]["after_cleaning"] == 5
    assert report["records"]["kept"] > 0


def test_only_failed_calls_are_retried_with_backoff(runs: Runs) -> None:
    calls = {marker: len(runs.faulty.prompts(marker)) for marker in FAULTS.keys() | set(HEALTHY)}
    # A raising chunk: its batch attempt, then 1 + RETRIES isolated attempts.
    assert calls == {
        "FillerP1": 1,
        "NTP License": 2,
        "FillerP2": 2 + RETRIES,
        "zlib License": 1,
        "MIT No Attribution": 2 + RETRIES,
        "FillerP3": 1,
        "FillerP4": 1,
        "MIT License": 1,
        "ISC License": 1,
    }
    for marker in ("FillerP2", "MIT No Attribution"):
        isolated = runs.faulty.times(marker)[1:]
        gaps = [later - earlier for earlier, later in itertools.pairwise(isolated)]
        assert gaps[0] >= BACKOFF_S and gaps[1] >= 2 * BACKOFF_S, (marker, gaps)
    assert runs.faulty.summary.report["extraction"]["failed_chunks"] == 2


def test_every_completion_is_cached_and_a_raised_call_is_not(runs: Runs) -> None:
    answered = {prompt_sha256(p) for marker in HEALTHY + UNPARSEABLE for p in runs.faulty.prompts(marker)}
    assert runs.faulty.cached == answered


def test_a_healthy_rerun_asks_only_for_the_chunks_whose_call_raised(runs: Runs) -> None:
    raised = {p for marker in RAISED for p in runs.faulty.prompts(marker)}
    asked = [prompt for prompt, _ in runs.healthy.attempts]
    assert sorted(asked) == sorted(raised)
    ext = runs.healthy.summary.report["extraction"]
    assert (ext["llm_calls"], ext["cache_hits"], ext["failed_chunks"]) == (len(RAISED), 7, 0)
    # Cached answers replay their faults: unparseable chunks and zlib's two bad items stay rejected.
    assert ext["rejects"] == {"parse_error": len(UNPARSEABLE), "ungrounded": 1, "invalid": 1}
    assert ext["items"] > runs.faulty.summary.report["extraction"]["items"]
    again = runs.again.summary.report["extraction"]
    assert (again["llm_calls"], again["cache_hits"], runs.again.attempts) == (0, 9, [])
