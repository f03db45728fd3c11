"""`dsforge run`: one command from documents to an evaluated adapter, and a rerun that redoes nothing."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from builder.model_store import is_installed
from dsforge.cli import app
from tests.builder.replay_project import make_project

pytestmark = pytest.mark.skipif(
    not is_installed("smollm2-135m"), reason="run `dsforge models fetch smollm2-135m`"
)


def test_one_shot_run_writes_records_splits_adapter_and_report_then_resumes(tmp_path):
    config_path = make_project(tmp_path)
    config = yaml.safe_load(config_path.read_text())
    # The defaults (method, packing, batch, dtype: auto) on the packaged small base, two steps.
    config["train"] = {"base_model": "smollm2-135m", "max_steps": 2, "max_seq_len": 256, "eval_steps": 1,
                       "min_train_examples": 0}  # fmt: skip
    config["eval"] = {"max_examples": 3, "max_new_tokens": 12, "batch_size": 3}
    config_path.write_text(yaml.safe_dump(config))

    first = CliRunner().invoke(
        app, ["run", "-c", str(config_path), "--auto-accept", "--no-progress", "--export", "gguf"]
    )
    assert first.exit_code == 0, first.output
    build = tmp_path / "build"
    approved = [json.loads(line) for line in (build / "review" / "approved.jsonl").read_text().splitlines()]
    assert approved and all(row["review"]["auto"] for row in approved)
    manifest = json.loads((build / "splits" / "manifest.json").read_text())
    docs_by_split = {
        name: {row["doc_id"] for row in approved if row["id"] in set(ids)}
        for name, ids in manifest["splits"].items()
    }
    assert not (docs_by_split["train"] & docs_by_split["test"])
    assert (build / "export" / "lineage.json").is_file()
    run_card = json.loads((build / "train" / "run.json").read_text())
    assert run_card["steps"] == 2
    assert run_card["hyperparameters"]["method"] == "lora"  # auto on a CPU that holds the base
    assert run_card["memory_policy"]["method_choice"].startswith("auto: LoRA on the CPU")
    assert (build / "train" / "adapter" / "adapter_config.json").is_file()
    metrics = json.loads((build / "eval" / "metrics.json").read_text())
    assert set(metrics["overall"]) == {"base", "tuned"}
    assert (build / "eval" / "report.md").is_file()
    # --export gguf ends the chain with a model llama.cpp and Ollama run, carrying the run's fingerprint
    assert (build / "model-export" / "train-lora.gguf").is_file()
    assert run_card["fingerprint"] in (build / "model-export" / "MODEL_CARD.md").read_text()

    adapter_mtime = (build / "train" / "adapter" / "adapter_config.json").stat().st_mtime_ns
    second = CliRunner().invoke(app, ["run", "-c", str(config_path), "--auto-accept", "--no-progress"])
    assert second.exit_code == 0, second.output
    report = json.loads((build / "report.json").read_text())
    assert report["extraction"]["llm_calls"] == 0
    assert (build / "train" / "adapter" / "adapter_config.json").stat().st_mtime_ns == adapter_mtime
