"""`extraction.also_chunk_at`: the documents read again at other chunk sizes, the union of grounded items
kept. Served from a recording of the real 1.5B on the sample documents at 600 and 1200 characters."""

from __future__ import annotations

import shutil

from builder.pipeline import build
from core import atomic
from core.config import load_config
from tests.builder.replay_project import FIXTURES, make_project

CHUNKS = FIXTURES / "replay" / "license_qwen15b_chunks.jsonl"


def _build(root, **extraction):
    config = load_config(make_project(root, recording=CHUNKS, extraction=extraction))
    return config, build(config, show_progress=False)


def _items(summary) -> dict[str, dict]:
    return {row["id"]: row for row in atomic.read_jsonl(summary.paths.root / "items.jsonl")}


def test_two_chunk_sizes_keep_the_union_of_what_each_finds(tmp_path):
    _, small = _build(tmp_path / "600", max_char_buffer=600, also_chunk_at=[])
    _, large = _build(tmp_path / "1200", max_char_buffer=1200, also_chunk_at=[])
    config, both = _build(tmp_path / "both", max_char_buffer=600, also_chunk_at=[1200, 600, 1200])
    union = {**_items(small), **_items(large)}
    found = _items(both)
    assert set(found) == set(union)
    assert len(found) > max(len(_items(small)), len(_items(large)))  # each size finds what the other cuts
    documents = {row["id"]: row["text"] for row in atomic.read_jsonl(both.paths.root / "documents.jsonl")}
    assert all(documents[i["span"]["doc_id"]][i["span"]["start"] : i["span"]["end"]] == i["span"]["text"]
               for i in found.values())  # fmt: skip
    extraction = both.report["extraction"]
    assert extraction["chunks"] == small.report["extraction"]["chunks"] + large.report["extraction"]["chunks"]

    rerun = build(config, show_progress=False)
    assert rerun.report["extraction"]["llm_calls"] == 0 and _items(rerun) == found


def test_each_pass_is_cached_as_a_build_at_its_size_alone(tmp_path):
    """Switching a project from 1200 to 600 + 1200 asks only for the 600 pass."""
    _, large = _build(tmp_path / "p", max_char_buffer=1200, also_chunk_at=[])
    config = load_config(make_project(tmp_path / "q", recording=CHUNKS,
                                      extraction={"max_char_buffer": 600, "also_chunk_at": [1200]}))  # fmt: skip
    cache = config.output_dir / "cache" / "completions.sqlite"
    cache.parent.mkdir(parents=True)
    shutil.copy(large.paths.root / "cache" / "completions.sqlite", cache)
    both = build(config, show_progress=False)
    small_only = both.report["extraction"]["chunks"] - large.report["extraction"]["chunks"]
    assert both.report["extraction"]["llm_calls"] == small_only
    assert both.report["extraction"]["cache_hits"] == large.report["extraction"]["chunks"]


def test_a_document_that_fits_one_chunk_at_every_size_is_asked_once(tmp_path):
    """Under 600 characters both sizes cut the same one chunk: one request, not two (unrecorded here, so the
    request fails and is counted as asked)."""
    short = b"Permission to use this file is granted to anyone, provided this notice is kept.\n"
    extraction = {"max_char_buffer": 600, "also_chunk_at": [1200], "retries": 0}
    config = load_config(
        make_project(tmp_path, recording=CHUNKS, documents={"short.txt": short}, extraction=extraction)
    )
    summary = build(config, show_progress=False)
    assert summary.report["extraction"]["chunks"] == 1
