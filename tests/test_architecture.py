"""The package layers hold: dsforge → train → annotate → builder → schemas → core, no cycles.

The contracts live in pyproject.toml ([tool.importlinter]); this test runs
`lint-imports` with the suite, in its own process: in-process, import-linter's
logging setup switches off every logger already created (transformers' among
them) for the rest of the session. A contract with the layers reversed must
break, so a pass means the real import graph was read.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["dsforge", "train", "annotate", "builder", "schemas", "core"]


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "lint-imports"), "--config", str(config), "--no-cache", "--no-logo"]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_layer_contract_is_kept():
    result = lint_imports(REPO / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_a_reversed_contract_breaks(tmp_path):
    config = tmp_path / "reversed.toml"
    config.write_text(
        "[tool.importlinter]\n"
        f"root_packages = {PACKAGES!r}\n"
        "[[tool.importlinter.contracts]]\n"
        'name = "reversed"\ntype = "layers"\n'
        f"layers = {list(reversed(PACKAGES))!r}\n".replace("'", '"'),
        "utf-8",
    )
    result = lint_imports(config)
    assert result.returncode == 1 and "0 kept, 1 broken" in result.stdout, result.stdout + result.stderr

