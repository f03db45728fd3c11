"""The live path: the real llama.cpp runtime and real GGUF weights through the whole build.

SmolLM2-135M is far too small to extract well; this proves the wiring (provider
registry, constrained decoding, grounding checks, cache) on real inference.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from builder.llm_cache import CompletionCache
from builder.model_store import is_installed
from builder.pipeline import build
from builder.recall_pass import NONE_OF_THESE
from core.config import load_config

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not is_installed("smollm2-135m"), reason="run `dsforge models fetch smollm2-135m`")


def _live_project(tmp_path: Path) -> dict:
    """mit.txt and the sample schema, SmolLM2 on llama.cpp; the config's data, also written to dsforge.yaml."""
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "samples" / "docs" / "mit.txt", tmp_path / "docs" / "mit.txt")
    shutil.copy(REPO / "samples" / "license_schema.py", tmp_path / "license_schema.py")
    config_data = yaml.safe_load((REPO / "samples" / "dsforge.yaml").read_text())
    config_data["provider"] = {
        "model_id": "dsforge-gguf:smollm2-135m",
        "params": {"n_ctx": 2048, "max_tokens": 160, "temperature": 0.0},
    }
    config_data["extraction"] = {"max_char_buffer": 600, "also_chunk_at": [], "batch_length": 2, "retries": 0}
    (tmp_path / "dsforge.yaml").write_text(yaml.safe_dump(config_data))
    return config_data


def test_live_build_with_llama_cpp_then_a_free_rerun(tmp_path):
    _live_project(tmp_path)
    config = load_config(tmp_path / "dsforge.yaml")

    first = build(config, show_progress=False)
    ext = first.report["extraction"]
    assert ext["chunks"] >= 2
    assert ext["llm_calls"] == ext["chunks"]
    assert ext["failed_chunks"] == 0
    assert first.report["constrained_decoding"] is True
    assert first.report["model"]["sha256"]
    # Whatever the small model says, only exact, re-checked spans survive.
    assert ext["grounded_rechecked"] == ext["items"]
    assert sum(ext["rejects"].values()) + ext["items"] > 0
    # the task and examples every chunk shares are evaluated once: later calls reuse them from llama.cpp's cache
    tokens = ext["tokens"]
    assert tokens["cached_prompt_tokens"] > 0 and tokens["completion_tokens"] > 0
    assert tokens["evaluated_prompt_tokens_per_call"] < tokens["prompt_tokens"] / ext["llm_calls"]
    assert "reused from the server's cache" in first.paths.report_md.read_text("utf-8")

    second = build(config, show_progress=False)
    assert second.report["extraction"]["llm_calls"] == 0
    assert second.paths.records.read_bytes() == first.paths.records.read_bytes()


def test_live_second_pass_decodes_only_the_missing_kinds(tmp_path):
    """The focused pass on real llama.cpp: its schema, narrowed per call, is what the decoder obeys."""
    config_data = _live_project(tmp_path)
    one_pass = build(load_config(tmp_path / "dsforge.yaml"), show_progress=False)
    cache = CompletionCache(one_pass.paths.cache)
    first_outputs = {row["prompt_sha256"] for row in cache.export_rows()}
    cache.close()
    found = {json.loads(line)["attributes"]["kind"] for line in one_pass.paths.items.read_text().splitlines()}
    missing = {"permission", "obligation", "condition", "limitation"} - found
    assert missing, "the small model leaves some kind unfound"

    config_data["extraction"]["recall_pass"] = True
    (tmp_path / "dsforge.yaml").write_text(yaml.safe_dump(config_data))
    two_pass = build(load_config(tmp_path / "dsforge.yaml"), show_progress=False)
    ext = two_pass.report["extraction"]
    assert ext["llm_calls"] > 0 and ext["failed_chunks"] == 0
    assert ext["grounded_rechecked"] == ext["items"]
    cache = CompletionCache(two_pass.paths.cache)
    second_outputs = [row["output"] for row in cache.export_rows() if row["prompt_sha256"] not in first_outputs]
    cache.close()
    assert len(second_outputs) == ext["llm_calls"]
    # max_tokens may cut an answer short: read every kind the decoder finished writing
    kinds = {kind for output in second_outputs for kind in re.findall(r'"kind":\s*"([^"]*)"', output)}
    assert kinds and kinds <= missing | {NONE_OF_THESE}
