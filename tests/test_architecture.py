"""The package layers hold: dsforge → train → annotate → builder → schemas → core, no cycles.

The contract lives in pyproject.toml ([tool.importlinter]); `lint-imports` runs
it from a shell, this test runs it with the suite. A contract with the layers
reversed must break, so a pass means the real import graph was read.
"""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ["dsforge", "train", "annotate", "builder", "schemas", "core"]


def test_the_layer_contract_is_kept():
    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True) == 0


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
    assert lint_imports(config_filename=str(config), no_cache=True, no_logo=True) == 1

