"""One window of requests across documents: the same bytes at any concurrency, failures per chunk, resume.

The model is the recording of the real 1.5B on the sample documents (tests/builder/replay_project.py),
answered with a per-prompt delay so that concurrent requests finish out of order; the live server
path is tested in test_openai_compat.py.
"""

from __future__ import annotations

import json
import time

import pytest

from builder.caching_model import CachingModel
from builder.extract import extract_documents
from builder.language_model import create_language_model
from builder.llm_cache import CompletionCache
from builder.pipeline import build
from builder.providers.replay import ReplayLanguageModel
from core.config import load_config
from schemas.types import Document
from tests.builder.replay_project import RECORDING, kill_build_after, make_project
from tests.builder.test_build_replay import _first_prompt_of, _rows

OUTPUTS = ("items.jsonl", "rejects.jsonl", "records.jsonl", "extractions.jsonl")


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory):
    """The sequential path (max_workers 1): the reference every concurrent build must equal byte for byte."""
    config = load_config(make_project(tmp_path_factory.mktemp("sequential")))
    return build(config, show_progress=False)


@pytest.mark.parametrize("workers", [4, 16])
def test_outputs_are_the_same_bytes_at_any_concurrency(workers, one_at_a_time, tmp_path):
    config = load_config(
        make_project(tmp_path, extraction={"max_workers": workers}, latency_s=0.01, jitter_s=0.05)
    )
    summary = build(config, show_progress=False)
    for name in OUTPUTS:
        assert (summary.paths.root / name).read_bytes() == (one_at_a_time.paths.root / name).read_bytes(), (
            name
        )
    ours, reference = summary.report["extraction"], one_at_a_time.report["extraction"]
    assert ours["chunks"] == ours["llm_calls"] == reference["chunks"] == reference["llm_calls"]
    assert ours["items"] == reference["items"] and ours["rejects"] == reference["rejects"]


def test_one_window_holds_chunks_of_several_documents(one_at_a_time, tmp_path, license_schema):
    config = load_config(make_project(tmp_path, extraction={"max_workers": 4}))
    documents = [Document(**row) for row in _rows(one_at_a_time.paths.root / "documents.jsonl")]
    config = config.model_copy(
        update={"provider": config.provider.model_copy(update={"params": {"latency_s": 0.2}})}
    )
    replay = create_language_model(config.provider, license_schema).model  # set up as the build sets it up
    assert isinstance(replay, ReplayLanguageModel)
    cache = CompletionCache(tmp_path / "cache.sqlite")
    fingerprint = {
        "model_id": "window-test",
        "schema": license_schema.fingerprint(),
        **config.extraction.fingerprint(),
    }
    model = CachingModel(replay, cache, fingerprint=fingerprint, retries=0)
    result = extract_documents(documents, license_schema, model, config.extraction, model_name="window-test")
    chunks = one_at_a_time.report["extraction"]["chunks"]
    assert result.chunks == chunks == model.stats.calls == replay.served

    per_document = []  # each document alone, from the cache now: how many chunks it is
    for document in documents:
        alone = CachingModel(replay, cache, fingerprint=fingerprint, retries=0)
        per_document.append(
            extract_documents([document], license_schema, alone, config.extraction, "window-test").chunks
        )
    cache.close()
    assert sum(per_document) == chunks and replay.served == chunks  # the second round asked nothing
    # Four requests at once, more than any one document has: several documents were in flight together.
    assert max(per_document) < replay.peak_in_flight == 4


def test_a_failing_chunk_costs_that_chunk_alone_and_reads_the_same_in_any_order(one_at_a_time, tmp_path):
    missing = _first_prompt_of(one_at_a_time)
    broken = tmp_path / "recording.jsonl"
    broken.write_text(
        "".join(json.dumps(r) + "\n" for r in _rows(RECORDING) if r["prompt_sha256"] != missing)
    )
    runs = {}
    for workers in (1, 4):
        config = load_config(make_project(tmp_path / f"w{workers}", recording=broken, jitter_s=0.05,
                                          extraction={"max_workers": workers, "retries": 1}))  # fmt: skip
        runs[workers] = build(config, show_progress=False)
    for summary in runs.values():
        ext = summary.report["extraction"]
        assert ext["failed_chunks"] == 1 and ext["rejects"].get("provider_error") == 1
        assert ext["items"] < one_at_a_time.report["extraction"]["items"] + 1
    for name in OUTPUTS:
        assert (runs[4].paths.root / name).read_bytes() == (runs[1].paths.root / name).read_bytes(), name


def test_kill_minus_nine_mid_window_then_rerun_asks_only_for_what_is_missing(one_at_a_time, tmp_path):
    config_path = make_project(tmp_path / "project", latency_s=0.4, extraction={"max_workers": 4})
    done_before_kill = kill_build_after(
        config_path, tmp_path / "project" / "build" / "cache" / "completions.sqlite"
    )
    chunks = one_at_a_time.report["extraction"]["chunks"]
    assert 3 <= done_before_kill < chunks

    rerun = build(load_config(config_path), show_progress=False)
    assert rerun.report["extraction"]["llm_calls"] == chunks - done_before_kill  # nothing asked twice
    for name in OUTPUTS:
        assert (rerun.paths.root / name).read_bytes() == (one_at_a_time.paths.root / name).read_bytes(), name


def test_a_stopped_window_starts_no_new_request(one_at_a_time, tmp_path, license_schema):
    """Ctrl-C after the first document: the queued documents are cancelled, not worked through."""
    config = load_config(make_project(tmp_path, extraction={"max_workers": 2}))
    documents = [Document(**row) for row in _rows(one_at_a_time.paths.root / "documents.jsonl")] * 4
    config = config.model_copy(
        update={"provider": config.provider.model_copy(update={"params": {"latency_s": 0.1}})}
    )
    replay = create_language_model(config.provider, license_schema).model
    cache = CompletionCache(tmp_path / "cache.sqlite")
    fingerprint = {
        "model_id": "stop-test",
        "schema": license_schema.fingerprint(),
        **config.extraction.fingerprint(),
    }
    model = CachingModel(replay, cache, fingerprint=fingerprint, retries=0)

    def interrupt(document):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_documents(
            documents, license_schema, model, config.extraction, "stop-test", on_document=interrupt
        )
    served_at_stop = replay.served
    time.sleep(0.5)  # the requests in flight (at most the window's 2) finish; nothing queued starts
    assert replay.served <= served_at_stop + config.extraction.max_workers
    # a stop that worked through the queue would have asked for every distinct chunk
    assert replay.served < one_at_a_time.report["extraction"]["chunks"]
    cache.close()
