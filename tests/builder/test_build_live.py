"""The live path: the real llama.cpp runtime and real GGUF weights through the whole build.

SmolLM2-135M is far too small to extract well; this proves the wiring (provider
registry, constrained decoding, grounding checks, cache) on real inference.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from builder.model_store import is_installed
from builder.pipeline import build
from core.config import load_config

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not is_installed("smollm2-135m"), reason="run `dsforge models fetch smollm2-135m`")


def test_live_build_with_llama_cpp_then_a_free_rerun(tmp_path):
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "samples" / "docs" / "mit.txt", tmp_path / "docs" / "mit.txt")
    shutil.copy(REPO / "samples" / "license_schema.py", tmp_path / "license_schema.py")
    config_data = yaml.safe_load((REPO / "samples" / "dsforge.yaml").read_text())
    config_data["provider"] = {
        "model_id": "dsforge-gguf:smollm2-135m",
        "params": {"n_ctx": 2048, "max_tokens": 160, "temperature": 0.0},
    }
    config_data["extraction"] = {"max_char_buffer": 600, "batch_length": 2, "retries": 0}
    (tmp_path / "dsforge.yaml").write_text(yaml.safe_dump(config_data))
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

    second = build(config, show_progress=False)
    assert second.report["extraction"]["llm_calls"] == 0
    assert second.paths.records.read_bytes() == first.paths.records.read_bytes()
