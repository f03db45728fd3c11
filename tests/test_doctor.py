"""`dsforge doctor` reads the machine and the config, and each ✗ names the command that fixes it."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from builder.model_store import is_installed
from core.config import load_config
from dsforge.cli import app
from dsforge.doctor import run_checks

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "dsforge.yaml"


def by_name(config_path: Path) -> dict:
    return {check.name: check for check in run_checks(load_config(config_path))}


def test_the_samples_are_ready_to_build():
    checks = by_name(SAMPLES)
    assert checks["schema"].ok and "LicenseTerm" in checks["schema"].detail
    assert checks["documents"].ok and "30 file(s)" in checks["documents"].detail
    assert checks["extraction model"].ok is is_installed("qwen2.5-coder-1.5b")
    assert checks["disk"].ok
    assert checks["ray"].ok is None and not checks["ray"].needed  # build.engine: local
    base = checks["training base"]
    assert base.ok or (base.ok is None and "fetches it on first use" in base.detail)


def test_every_missing_part_is_named_with_its_fix(tmp_path, monkeypatch):
    (tmp_path / "schema.py").write_text("this is not python\n", "utf-8")
    config = {
        "schema": "schema.py:Missing",
        "input": "documents",
        "provider": {"model_id": "gemini-2.5-flash", "api_key_env": "DSFORGE_TEST_NO_SUCH_KEY"},
        "train": {"base_model": "models/absent"},
    }
    path = tmp_path / "dsforge.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    monkeypatch.delenv("DSFORGE_TEST_NO_SUCH_KEY", raising=False)

    checks = by_name(path)
    assert checks["schema"].ok is False
    assert checks["documents"].ok is False and checks["documents"].fix.startswith("mkdir")
    model = checks["extraction model"]
    assert model.ok is False and model.fix == "export DSFORGE_TEST_NO_SUCH_KEY=…"
    assert checks["training base"].ok is False and "train.base_model" in checks["training base"].fix

    result = CliRunner().invoke(app, ["doctor", "-c", str(path)])
    assert result.exit_code == 1
    assert "DSFORGE_TEST_NO_SUCH_KEY" in result.output.replace("\n", "")


def test_a_packaged_model_that_is_not_installed_says_how_to_fetch_it(tmp_path, monkeypatch):
    import builder.model_store as store

    monkeypatch.setattr(store, "is_installed", lambda name: False)  # as on a machine before set-up
    (tmp_path / "docs").mkdir()
    path = tmp_path / "dsforge.yaml"
    path.write_text(yaml.safe_dump({"schema": "s.py:S", "provider": {"model_id": "dsforge-gguf:smollm2-135m"}}))
    checks = by_name(path)
    assert checks["extraction model"].ok is False
    assert checks["extraction model"].fix == "dsforge models fetch smollm2-135m"
    base = checks["training base"]  # the training base is fetched by `dsforge train` itself
    assert base.ok is None and not base.needed and base.fix == "dsforge models fetch qwen2.5-coder-0.5b"
