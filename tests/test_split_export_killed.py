"""`dsforge split` + `dsforge export` killed with SIGKILL at a random file, then run again.

A reader never sees half a file (every write goes through core.atomic or a
staged folder swap), and the rerun writes exactly the bytes of a clean run.
"""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core import atomic
from dsforge.cli import app
from tests.builder.license_records import reviewed_records
from tests.faults import kill_when

REPO = Path(__file__).resolve().parent.parent
WRITERS = (
    "builder/split.py",
    "builder/export.py",
    "builder/lineage.py",
    "builder/card.py",
    "dsforge/split_commands.py",
)
STAGING = ("export/dataset.tmp/", "export/dataset.old/")  # the dataset folder's swap: partial by design


def make_project(root: Path, schema) -> Path:
    records, documents = reviewed_records(schema, limit=30)
    root.mkdir(parents=True, exist_ok=True)
    (root / "license_schema.py").write_text(
        (REPO / "samples" / "license_schema.py").read_text("utf-8"), "utf-8"
    )
    (root / "dsforge.yaml").write_text("output: build\nschema: license_schema.py:LicenseTerm\n", "utf-8")
    atomic.write_jsonl(root / "build" / "documents.jsonl", documents)
    atomic.write_jsonl(root / "build" / "review" / "approved.jsonl", records)
    return root / "dsforge.yaml"


def outputs(build: Path) -> dict[str, bytes]:
    """What split and export wrote, as readers see it: hidden temp files left by a kill excluded."""
    return {
        str(path.relative_to(build)): path.read_bytes()
        for folder in (build / "splits", build / "export")
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(build).parts)
    }


def split_and_export(config: Path) -> None:
    for stage in ("split", "export"):
        result = CliRunner().invoke(app, [stage, "-c", str(config)])
        assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, license_schema) -> tuple[dict[str, bytes], list[str]]:
    """The bytes of an uninterrupted run, and its files in the order they were written."""
    config = make_project(tmp_path_factory.mktemp("clean"), license_schema)
    split_and_export(config)
    build = config.parent / "build"
    written = sorted(outputs(build), key=lambda rel: (build / rel).stat().st_mtime_ns)
    return outputs(build), written


def test_killed_at_a_random_file_then_rerun_writes_the_clean_bytes(tmp_path, clean_run, license_schema):
    clean, written = clean_run
    # Any file written before the dataset folder: the process still has work left when it appears.
    target = random.choice(
        written[: next(i for i, rel in enumerate(written) if rel.startswith("export/dataset/"))]
    )
    config = make_project(tmp_path, license_schema)
    build = tmp_path / "build"
    stages = " && ".join(
        f"{sys.executable} -m dsforge {stage} -c {config}" for stage in ("split", "export")
    )
    process = subprocess.Popen(
        ["sh", "-c", stages],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kill_when(process, (build / target).exists, timeout_s=120)

    left = {rel: data for rel, data in outputs(build).items() if not rel.startswith(STAGING)}
    assert target in left
    torn = [rel for rel, data in left.items() if data != clean[rel]]
    assert not torn, f"killed after {target}: {torn} differ from a clean run"
    if "splits/manifest.json" in left:  # a manifest on disk means its splits are complete
        assert {"splits/train.jsonl", "splits/validation.jsonl", "splits/test.jsonl"} <= set(left)

    split_and_export(config)
    assert outputs(build) == clean, f"killed after {target}"


def test_split_and_export_write_only_through_atomic_or_a_staged_folder():
    problems = []
    for name in WRITERS:
        tree = ast.parse((REPO / name).read_text("utf-8"))
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        for function in functions:
            for node in ast.walk(function):
                if not isinstance(node, ast.Call) or not isinstance(node.func, (ast.Attribute, ast.Name)):
                    continue
                if isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "atomic":
                    continue
                called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                mode = node.args[1] if called == "open" and len(node.args) > 1 else None
                mode = mode or next((k.value for k in node.keywords if k.arg == "mode"), None)
                if called in {
                    "write_text",
                    "write_bytes",
                    "dump",
                    "to_json",
                    "to_csv",
                    "to_parquet",
                    "copy",
                    "copyfile",
                }:
                    problems.append(f"{name}:{node.lineno} {called}")
                elif (
                    called == "open" and isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax+")
                ):
                    problems.append(f"{name}:{node.lineno} open(..., {mode.value!r})")
                elif called == "save_to_disk" and function.name != "save_dataset_dict":
                    problems.append(f"{name}:{node.lineno} save_to_disk outside the staged swap")
    assert not problems, problems
