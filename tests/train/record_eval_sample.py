"""Record a real base-vs-tuned evaluation for the human-evaluation tests.

SmolLM2-135M gets a short LoRA run on the license records, then `dsforge eval`
answers all eight test prompts with the adapter off and on. The run card,
metrics, predictions and report are copied to tests/fixtures/eval_sample/; the
tests re-export the same dataset with the real split and export stages, so the
recording lines up with it record for record.

    PYTHONPATH=. .venv/bin/python -m tests.train.record_eval_sample
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from builder.schema_loader import load_schema
from core.config import load_config
from core.layout import TrainPaths
from tests.builder.license_records import reviewed_records
from tests.train.train_projects import one_cpu_thread, write_project
from train.evaluate import evaluate
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


if __name__ == "__main__":
    print(record())
