"""A metric, an export format, a provider, a clean step and a training method added from outside dsforge,
each in one place.

`tests/extension/acme_extension.py` registers all five the way a user would;
each test shows its addition reaching the real outputs: the export through the
`dsforge` command finding it as an installed `dsforge.plugins` entry point, the
provider serving a real build (and built by the judge through the same table),
the clean step in a real build's cleaning report (imported, and installed as a
`dsforge.clean_steps` entry point), the metric in metrics.json,
predictions.jsonl, report.md and the `dsforge eval` table after a real tiny
training run, the training method in the options, the trainer's peft config,
the run card and the evaluation report (imported, and installed as a
`dsforge.train_methods` entry point).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from builder.pipeline import build
from core.config import load_config
from tests.builder.license_records import reviewed_records
from tests.builder.replay_project import RECORDING, SAMPLES, make_project
from tests.test_split_export_killed import make_project as make_split_project

REPO = Path(__file__).resolve().parent.parent
EXTENSION = "tests.extension.acme_extension"


@pytest.fixture(scope="module")
def acme():
    """The extension imported (once: its classes must stay the registered ones), unregistered at the end."""
    from builder.clean import unregister_step
    from builder.export_formats import unregister_export_format
    from core.options.methods import unregister_method
    from train.metrics import unregister_metric

    yield importlib.import_module(EXTENSION)
    unregister_metric("length_ratio")
    unregister_export_format("plaintext")
    unregister_method("acme_lora")
    unregister_step("strip_acme_banner")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


PLUGIN = f"[dsforge.plugins]\nacme = {EXTENSION}\n"


def installed_as_entry_point(root: Path, entry_points: str = PLUGIN) -> dict[str, str]:
    """An environment whose Python sees the extension as an installed distribution's plugin(s)."""
    dist = root / "site" / "acme_dsforge_extension-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-dsforge-extension\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(entry_points)
    path = os.pathsep.join([str(root / "site"), str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_an_installed_export_format_is_written_hashed_and_on_the_card(tmp_path, license_schema):
    config = make_split_project(tmp_path / "project", license_schema)
    env = installed_as_entry_point(tmp_path)
    for stage in ("split", "export"):
        done = subprocess.run(
            [sys.executable, "-m", "dsforge", stage, "-c", str(config)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    export = config.parent / "build" / "export"
    lineage = json.loads((export / "lineage.json").read_text("utf-8"))
    for split, size in lineage["dataset"]["sizes"].items():
        rows = _jsonl(export / "plaintext" / f"{split}.jsonl")
        alpaca = _jsonl(export / "alpaca" / f"{split}.jsonl")
        assert len(rows) == len(alpaca) == size
        for row, a in zip(rows, alpaca, strict=True):
            assert row["text"].startswith(a["instruction"]) and row["text"].endswith(a["output"])
        assert f"plaintext/{split}.jsonl" in lineage["files"]
    card = (export / "README.md").read_text("utf-8")
    assert "`plaintext/<split>.jsonl` (`text`: prompt and answer in one string)" in card
    header = yaml.safe_load(card.split("---")[1])
    assert "plaintext" in {config["config_name"] for config in header["configs"]}


def test_a_registered_provider_serves_the_build_and_the_judge(tmp_path, acme):
    config = load_config(make_project(tmp_path, provider=acme.PREFIX))
    served = acme.AcmeRecordedModel.served
    summary = build(config, show_progress=False)
    assert acme.AcmeRecordedModel.served > served
    assert summary.report["records"]["kept"] > 0
    model = summary.report["model"]
    assert model["model_id"] == f"{acme.PREFIX}{RECORDING}"
    assert model["recording_sha256"] == acme.recording_provenance(model["model_id"])["recording_sha256"]
    records = _jsonl(summary.paths.records)
    assert {record["model"] for record in records} == {model["model_id"]}

    # The judge builds its model through the same table: the recording has no grading prompts.
    from core.options.train import JudgeOptions
    from train.judge import judge_outputs

    row = {key: records[0][key] for key in ("instruction", "input", "output")}
    options = JudgeOptions(enabled=True, model_id=model["model_id"])
    with pytest.raises(acme.NotRecordedError):
        judge_outputs(options, config.provider, [row], ["an answer"])


def stamped_project(root: Path, banner: str) -> Path:
    """The replay project plus a copy of mit.txt under ACME's stamp, named to sort after the original."""
    config = make_project(root)
    original = (SAMPLES / "docs" / "mit.txt").read_bytes()
    (root / "docs" / "zz_mit_stamped.txt").write_bytes(f"{banner}\n\n".encode() + original)
    return config


def assert_the_stamp_was_cleaned(report: dict, banner: str) -> None:
    """The step ran on the stamped copy only, before dedup: the copy is then an exact duplicate of mit.txt."""
    steps = {step["name"]: step for step in report["cleaning"]["steps"]}
    assert steps["strip_acme_banner"]["documents_changed"] == 1
    assert steps["strip_acme_banner"]["chars_removed"] == len(banner) + 2
    dropped = {drop["source"]: drop for drop in report["cleaning"]["dropped"]}
    assert dropped["zz_mit_stamped.txt"]["reason"] == "exact_duplicate"
    assert dropped["zz_mit_stamped.txt"]["duplicate_of_source"] == "mit.txt"


def test_a_registered_clean_step_reaches_the_build_report(tmp_path, acme):
    summary = build(load_config(stamped_project(tmp_path, acme.BANNER)), show_progress=False)
    assert_the_stamp_was_cleaned(summary.report, acme.BANNER)
    assert summary.report["records"]["kept"] > 0  # the other prompts are the recorded ones


def test_an_installed_clean_step_reaches_the_build_report(tmp_path, acme):
    config = stamped_project(tmp_path / "project", acme.BANNER)
    entry = f"[dsforge.clean_steps]\nstrip_acme_banner = {EXTENSION}:make_strip_banner\n"
    done = subprocess.run(
        [sys.executable, "-m", "dsforge", "build", "-c", str(config), "--no-progress"],
        cwd=REPO, env=installed_as_entry_point(tmp_path, entry), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((config.parent / "build" / "report.json").read_text("utf-8"))
    assert_the_stamp_was_cleaned(report, acme.BANNER)


def test_a_registered_metric_reaches_every_eval_output(tmp_path, acme, license_schema):
    from core.layout import TrainPaths
    from dsforge.cli import app
    from tests.train.train_projects import one_cpu_thread, write_project
    from train.base_models import resolve_base_model

    resolve_base_model("smollm2-135m", REPO)
    records, _ = reviewed_records(license_schema, limit=12)
    config_path = write_project(
        tmp_path, records, REPO,
        train={"base_model": "smollm2-135m", "mode": "lora", "max_steps": 1, "batch_size": 2,
               "gradient_accumulation_steps": 1, "eval_steps": 1, "max_seq_len": 96, "lora_r": 4},
        eval_={"max_examples": 2, "max_new_tokens": 8, "batch_size": 2, "examples_shown": 1,
               "probe_file": "probe.txt"},  # a short forgetting probe: the metric, not the probe, is tested here
    )  # fmt: skip
    (tmp_path / "probe.txt").write_text("The quick brown fox jumps over the lazy dog, again and again.\n", "utf-8")
    with one_cpu_thread():
        for stage in ("train", "eval"):
            result = CliRunner().invoke(app, [stage, "-c", str(config_path), "--no-progress"])
            assert result.exit_code == 0, result.output
    assert "length_ratio" in result.output  # the `dsforge eval` table

    paths = TrainPaths(load_config(config_path).output_dir)
    metrics = json.loads(paths.metrics.read_text("utf-8"))
    predictions = _jsonl(paths.predictions)
    for name in ("base", "tuned"):
        expected = [acme.length_ratio(p[name], p["output"]) for p in predictions]
        assert [p[f"{name}_scores"]["length_ratio"] for p in predictions] == expected
        assert metrics["overall"][name]["length_ratio"] == pytest.approx(sum(expected) / len(expected))
    assert "| answer length / reference length |" in paths.report.read_text("utf-8")


def test_a_registered_training_method_reaches_options_trainer_card_and_report(acme):
    """One `register_method` row: validated, defaulted and checked by the options, built into a peft config,
    worded by the run card and the report."""
    from core.options.methods import TrainingMethod, register_method, unregister_method
    from core.options.train import TrainOptions
    from train.methods import peft_config
    from train.report import render
    from train.run_card import RunCard, render_markdown

    opts = TrainOptions(method="acme_lora", lora_r=8, merge=True)
    assert (opts.learning_rate, opts.mode) == (5e-4, "lora")  # the row's rate; not a 4-bit base
    config = peft_config(opts, None, Path("."))
    assert type(config).__name__ == "LoraConfig" and config.r == 8

    sample = REPO / "tests" / "fixtures" / "eval_sample"
    written = json.loads((sample / "run.json").read_text("utf-8"))
    written["hyperparameters"] = {**opts.model_dump(mode="json"), "optimizer": "adamw_torch"}
    card = RunCard.model_validate(written)
    assert "- method: acme_lora r=8 alpha=32 dropout=0.05 targets=all-linear" in render_markdown(card)
    report = render(json.loads((sample / "metrics.json").read_text("utf-8")), card)
    assert f"adapter: acme_lora r=8, {card.steps} steps" in report  # the LoRA family shows its rank

    register_method(TrainingMethod("acme_prompt", 1e-2, "train.methods:prompt_config", "{method} (acme)",
                                   unmergeable_because="adds virtual tokens, not weights"))  # fmt: skip
    try:
        with pytest.raises(ValueError, match="acme_prompt tuning adds virtual tokens, not weights"):
            TrainOptions(method="acme_prompt", merge=True)
    finally:
        unregister_method("acme_prompt")
    with pytest.raises(ValueError, match=r"train.method 'acme_prompt' is unknown; known: qlora, lora, dora"):
        TrainOptions(method="acme_prompt")


def test_an_installed_training_method_is_found_by_the_options(tmp_path):
    """A `dsforge.train_methods` entry point naming a TrainingMethod row: a fresh Python finds it by name."""
    entry = f"[dsforge.train_methods]\nacme_lora = {EXTENSION}:ACME_LORA\n"
    script = (
        "from core.options.methods import method_names\n"
        "from core.options.train import TrainOptions\n"
        "opts = TrainOptions(method='acme_lora')\n"
        "print(opts.learning_rate, opts.mode, opts.training_method.lora_family, method_names()[-1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO, env=installed_as_entry_point(tmp_path, entry), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.0005", "lora", "True", "acme_lora"]


def test_a_registered_build_engine_runs_the_build_and_an_unknown_one_is_refused(tmp_path):
    from builder.engines import ENGINES, run_build
    from core.registry import UnknownNameError

    engines_used = []

    def logging_engine(config, show_progress=True):
        engines_used.append(config.build.engine)
        return build(config, show_progress=show_progress)

    ENGINES.register("logging", logging_engine)
    try:
        config = load_config(make_project(tmp_path))
        config.build.engine = "logging"
        summary = run_build(config, show_progress=False)
        assert engines_used == ["logging"] and summary.report["records"]["kept"] > 0
        config.build.engine = "warp"
        with pytest.raises(UnknownNameError, match="warp.*local.*ray"):
            run_build(config, show_progress=False)
    finally:
        ENGINES.unregister("logging")
