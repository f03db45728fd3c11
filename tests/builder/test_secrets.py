"""A provider key reaches the provider and nothing else: no artifact, log line or message holds it."""

from __future__ import annotations

import logging

import pytest
import yaml

from builder.pipeline import build
from core.config import load_config
from core.errors import ConfigError
from tests.builder.replay_project import make_project

SECRET = "sk-planted-7f3a9c1e5b2d4680"


def test_a_planted_key_appears_in_no_artifact_or_log(tmp_path, monkeypatch, caplog, capfd):
    config_path = make_project(tmp_path)
    data = yaml.safe_load(config_path.read_text())
    data["provider"]["api_key_env"] = "DSFORGE_TEST_PROVIDER_KEY"
    config_path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("DSFORGE_TEST_PROVIDER_KEY", SECRET)
    caplog.set_level(logging.DEBUG)

    summary = build(load_config(config_path), show_progress=False)

    assert summary.report["records"]["kept"] > 0
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(written) > 10
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), f"{path} holds the key"
    out, err = capfd.readouterr()
    assert SECRET not in caplog.text + out + err


def test_a_missing_key_variable_is_named_without_guessing(tmp_path, monkeypatch):
    config_path = make_project(tmp_path)
    data = yaml.safe_load(config_path.read_text())
    data["provider"]["api_key_env"] = "DSFORGE_TEST_UNSET_KEY"
    config_path.write_text(yaml.safe_dump(data))
    monkeypatch.delenv("DSFORGE_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError, match="DSFORGE_TEST_UNSET_KEY"):
        build(load_config(config_path), show_progress=False)
