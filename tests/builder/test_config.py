from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from core.config import load_config
from core.errors import ConfigError, PathEscapeError
from dsforge.cli import app


def _write(folder: Path, data: dict) -> Path:
    path = folder / "dsforge.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_init_writes_a_config_that_loads(tmp_path):
    result = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "dsforge.yaml")
    assert config.schema_ref == "schema.py:KeyStatement"
    assert config.provider.model_id == "dsforge-gguf:qwen2.5-coder-1.5b"
    assert config.input_dir == (tmp_path / "docs").resolve()
    again = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert again.exit_code == 2 and "never overwrites" in again.output.replace("\n", "")


def test_unknown_keys_and_wrong_types_name_the_key(tmp_path):
    path = _write(
        tmp_path,
        {"schema": "s.py:S", "extraction": {"max_char_bufer": 10, "batch_length": "many"}, "clean": {"lowercase": 3}},
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "extraction.max_char_bufer: unknown key" in message
    assert "extraction.batch_length" in message and "many" in message
    assert "clean.lowercase" in message


def test_missing_schema_and_missing_file_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="schema: required"):
        load_config(_write(tmp_path, {"input": "docs"}))
    with pytest.raises(ConfigError, match="dsforge init"):
        load_config(tmp_path / "nope.yaml")


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    path = _write(tmp_path, {"schema": "s.py:S", "extraction": {"max_char_buffer": 900}})
    monkeypatch.setenv("DSFORGE_EXTRACTION__MAX_CHAR_BUFFER", "700")
    monkeypatch.setenv("DSFORGE_PROVIDER__MODEL_ID", "gemini-2.5-flash")
    config = load_config(path)
    assert config.extraction.max_char_buffer == 700
    assert config.provider.model_id == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("provider", "extraction", "in_flight"),
    [({}, {}, 1),  # the embedded model: one slot
     ({"model_id": "openai-compat:qwen", "base_url": "http://h/v1"}, {}, 8),  # a server: a window of 8
     ({"params": {"n_parallel": 3}}, {}, 3),  # the embedded model's own slots
     ({"model_id": "openai-compat:qwen"}, {"max_workers": 64}, 64)],  # a number is kept
)  # fmt: skip
def test_max_workers_auto_is_what_the_provider_takes(tmp_path, provider, extraction, in_flight):
    config = load_config(_write(tmp_path, {"schema": "s.py:S", "provider": provider, "extraction": extraction}))
    assert config.extraction.max_workers == config.extraction.requests_in_flight() == in_flight


def test_secrets_in_the_file_are_refused_without_echoing_them(tmp_path):
    path = _write(tmp_path, {"schema": "s.py:S", "provider": {"params": {"api_key": "sk-planted-secret-123"}}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "api_key_env" in str(info.value)
    assert "sk-planted-secret-123" not in str(info.value)


def test_paths_cannot_leave_the_project_folder(tmp_path):
    config = load_config(_write(tmp_path, {"schema": "s.py:S", "input": "../../etc"}))
    with pytest.raises(PathEscapeError):
        _ = config.input_dir


def test_cli_reports_config_errors_with_exit_code_2(tmp_path):
    path = _write(tmp_path, {"schema": "s.py:S", "bogus": 1})
    result = CliRunner().invoke(app, ["build", "-c", str(path)])
    assert result.exit_code == 2
    assert "bogus: unknown key" in result.output
