"""Base models resolve offline to plain safetensors folders."""

from __future__ import annotations

import json

import pytest

from builder.model_store import CATALOGUE
from core.errors import ConfigError
from train.base_models import CONVERSION_RECORD, resolve_base_model


def test_catalogued_gguf_is_converted_once_with_its_hashes(smollm_base, repo_root):
    record = json.loads((smollm_base.path / CONVERSION_RECORD).read_text("utf-8"))
    assert record["gguf_sha256"] == CATALOGUE["smollm2-135m"].sha256
    assert smollm_base.provenance["gguf"]["sha256"] == CATALOGUE["smollm2-135m"].sha256
    weights = record["weights_sha256"]
    assert set(weights) == {p.name for p in smollm_base.path.glob("*.safetensors")}
    config = json.loads((smollm_base.path / "config.json").read_text("utf-8"))
    assert "quantization_config" not in config
    assert (smollm_base.path / "tokenizer_config.json").is_file()

    again = resolve_base_model("smollm2-135m", repo_root)
    assert again.path == smollm_base.path
    assert (again.path / CONVERSION_RECORD).stat().st_mtime_ns == (
        smollm_base.path / CONVERSION_RECORD
    ).stat().st_mtime_ns


def test_local_folder_is_used_as_is(smollm_base, tmp_path):
    resolved = resolve_base_model(str(smollm_base.path), tmp_path)
    assert resolved.path == smollm_base.path
    assert resolved.provenance["source"] == "local folder"
    assert all(len(digest) == 64 for digest in resolved.provenance["weights"].values())


def test_unknown_reference_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="catalogued"):
        resolve_base_model("no-such-model", tmp_path)
