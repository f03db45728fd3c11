"""Every artifact path is named once, in core/layout.py, and `dsforge run` calls stage functions only.

A stage that joins a file name of its own onto the output folder is how two
stages end up disagreeing on where approved records live; the scan below finds
any name core/layout.py declares being joined again elsewhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

from core.layout import ProjectLayout, SplitPaths, TrainPaths, run_card_beside

REPO = Path(__file__).resolve().parent.parent
STAGE_PACKAGES = ("schemas", "builder", "annotate", "train", "dsforge")


def joined_names(tree: ast.AST) -> set[str]:
    """String literals on the right of a `/`: the names a module joins onto paths."""
    return {
        node.right.value
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div)
        and isinstance(node.right, ast.Constant)
        and isinstance(node.right.value, str)
    }


def test_no_stage_joins_a_name_the_layout_declares():
    declared = joined_names(ast.parse((REPO / "core" / "layout.py").read_text("utf-8")))
    assert {"approved.jsonl", "manifest.json", "records.jsonl", "metrics.json"} <= declared
    offenders = []
    for package in STAGE_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            again = joined_names(ast.parse(path.read_text("utf-8"))) & declared
            offenders += [f"{path.relative_to(REPO)}: {name!r}" for name in sorted(again)]
    assert not offenders, "declare these paths in core/layout.py and use them from there:\n" + "\n".join(
        offenders
    )


def test_one_stage_reads_what_the_previous_one_wrote(tmp_path):
    layout = ProjectLayout(tmp_path)
    assert SplitPaths(tmp_path).approved == layout.review.approved
    assert layout.train.dataset == layout.export.dataset
    assert layout.train.lineage == layout.export.lineage
    assert run_card_beside(layout.train.adapter) == layout.train.run_json
    other = TrainPaths(tmp_path).with_eval("eval-merged")
    assert (
        other.adapter == layout.train.adapter and other.metrics == tmp_path / "eval-merged" / "metrics.json"
    )
    assert layout.cross_validation(3).fold(0).parent == layout.cross_validation(3).root


def test_dsforge_run_imports_stage_functions_not_commands():
    tree = ast.parse((REPO / "dsforge" / "run_command.py").read_text("utf-8"))
    imported = {
        (node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    commands = sorted(
        f"{module}.{name}"
        for module, name in imported
        if module.startswith("dsforge.") and (name.endswith("_command") or name.startswith("review_"))
    )
    assert not commands, f"`dsforge run` calls CLI commands {commands}; call the stage functions instead"
    stages = {name for _, name in imported}
    assert {
        "run_build",
        "auto_approve",
        "run_split",
        "run_export",
        "evaluate",
        "push",
        "pull",
        "serve",
    } <= stages
