"""Record a real base-vs-tuned evaluation for the human-evaluation tests.

SmolLM2-135M gets a short LoRA run on the license records, then `dsforge eval`
answers all eight test prompts with the adapter off and on. The run card,
metrics, predictions and report are copied to tests/fixtures/eval_sample/; the
tests re-export the same dataset with the real split and export stages, so the
recording lines up with it record for record.

    PYTHONPATH=. .venv/bin/python -m tests.train.record_eval_sample
    PYTHONPATH=. .venv/bin/python -m tests.train.record_eval_sample --rescore

`--rescore` keeps the recorded answers and perplexities and scores them again with the
current metrics (field-level scores, similarity, intervals): the adapter is not kept, so
nothing is generated again.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from builder.schema_loader import load_schema
from core.config import load_config
from core.layout import TrainPaths
from tests.builder.license_records import reviewed_records
from tests.train.train_projects import one_cpu_thread, write_project
from train.evaluate import SCORING_VERSION, ModelOutputs, evaluate, prediction_rows, score
from train.recipe import train

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "eval_sample"
TRAIN = {
    "base_model": "smollm2-135m",
    "mode": "lora",
    "max_steps": 24,
    "learning_rate": 1e-3,
    "batch_size": 4,
    "gradient_accumulation_steps": 1,
    "eval_steps": 8,
    "logging_steps": 2,
    "max_seq_len": 192,
    "lora_r": 8,
}
EVAL = {"max_new_tokens": 40, "batch_size": 8, "probe_window": 128, "examples_shown": 2}


def record() -> Path:
    schema = load_schema("samples/license_schema.py:LicenseTerm", REPO)
    records, _ = reviewed_records(schema, limit=12)
    with tempfile.TemporaryDirectory() as tmp, one_cpu_thread():
        config = load_config(write_project(Path(tmp) / "project", records, REPO, TRAIN, EVAL))
        train(config, show_progress=False)
        evaluate(config, show_progress=False)
        paths = TrainPaths(config.output_dir)
        FIXTURE.mkdir(parents=True, exist_ok=True)
        for source in (paths.run_json, paths.metrics, paths.predictions, paths.report):
            shutil.copy(source, FIXTURE / source.name)
    return FIXTURE


def recorded_outputs(schema: Any, folder: Path) -> tuple[list[dict[str, Any]], dict[str, ModelOutputs]]:
    """The test split re-exported under `folder` by the real stages, and the recorded outputs of both models."""
    from core import atomic
    from tests.train.train_projects import export_dataset
    from train.data import load_splits

    records, _ = reviewed_records(schema, limit=12)
    rows = [dict(row) for row in load_splits(export_dataset(records, folder / "build"))["test"]]
    answers = {r["id"]: r for r in atomic.read_jsonl(FIXTURE / "predictions.jsonl")}
    old = json.loads((FIXTURE / "metrics.json").read_text("utf-8"))
    outputs = {
        name: ModelOutputs(
            predictions=[answers[r["id"]][name] for r in rows],
            reference_perplexity=old["overall"][name]["perplexity"],
            reference_tokens=old["tokens"][name]["reference"],
            probe_perplexity=old["overall"][name]["probe_perplexity"],
            probe_tokens=old["tokens"][name]["probe"],
        )
        for name in ("base", "tuned")
    }
    return rows, outputs


def rescore() -> Path:
    """Score the recorded answers with today's metrics; rewrite metrics.json, predictions.jsonl, report.md."""
    from core import atomic
    from core.options.train import EvalOptions
    from train.report import render
    from train.run_card import RunCard

    schema = load_schema("samples/license_schema.py:LicenseTerm", REPO)
    old = json.loads((FIXTURE / "metrics.json").read_text("utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        rows, outputs = recorded_outputs(schema, Path(tmp))
    result = score(rows, outputs, schema, EvalOptions(**EVAL))
    result["scoring"] = SCORING_VERSION
    # What scoring does not compute is kept as recorded: the ids, decoding, probe and forgetting verdict.
    for key in ("fingerprint", "run_fingerprint", "loading", "probe", "forgetting"):
        if key in old:
            result[key] = old[key]
    card = RunCard.model_validate(json.loads((FIXTURE / "run.json").read_text("utf-8")))
    atomic.write_json(FIXTURE / "metrics.json", result)
    atomic.write_jsonl(FIXTURE / "predictions.jsonl", prediction_rows(rows, outputs, schema))
    atomic.write_text(FIXTURE / "report.md", render(result, card))
    return FIXTURE


if __name__ == "__main__":
    print(rescore() if "--rescore" in sys.argv[1:] else record())
