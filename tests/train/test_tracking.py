"""`train.report_to`: a real training run logged to TensorBoard and a local MLflow store, read back
with each tracker's own reader — losses per step and the run's lineage as parameters."""

from __future__ import annotations

import json

import pytest

from core.config import load_config
from core.errors import ConfigError
from core.layout import TrainPaths
from core.options.train import TrainOptions
from tests.train.train_projects import TINY_TRAIN, one_cpu_thread, write_project
from train import tracking
from train.recipe import train

LINEAGE = {
    "dsforge_version": "0.1.0",
    "schema": {"name": "LicenseTerm"},
    "dataset": {"sizes": {"train": 40, "validation": 5, "test": 5}},
    "build": {
        "report_sha256": "ab" * 32,
        "model": {"model_id": "dsforge-gguf:qwen2.5-coder-1.5b", "sha256": "cd" * 32},
    },
    "review": {
        "reviewed": True,
        "report": {"mode": "argilla"},
        "reviewers": ["ana", "ben"],
        "mean_agreement": 0.8,
    },
}


def test_report_to_reads_none_one_name_or_a_list():
    assert TrainOptions().report_to == []
    assert TrainOptions(report_to="none").report_to == []
    assert TrainOptions(report_to="mlflow").report_to == ["mlflow"]
    assert TrainOptions(report_to=["tensorboard", "mlflow", "mlflow"]).report_to == ["mlflow", "tensorboard"]
    with pytest.raises(ValueError, match="tensorboard"):
        TrainOptions(report_to="comet")


def test_a_tracker_that_is_not_installed_names_what_to_install(monkeypatch):
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(
        tracking.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name)
    )
    with pytest.raises(ConfigError, match=r"wandb.*dsforge\[tracking\].*pip install wandb"):
        tracking.require_trackers(["mlflow", "wandb"])
    tracking.require_trackers(["mlflow", "tensorboard"])  # both installed with the test extras


def test_lineage_becomes_flat_parameters_and_a_server_address_loses_its_credentials():
    params = tracking.lineage_params("run-1", "data-2", "smollm2-135m", LINEAGE)
    assert params["dsforge.run_fingerprint"] == "run-1" and params["dsforge.dataset_fingerprint"] == "data-2"
    assert params["dsforge.reviewers"] == "ana,ben" and params["dsforge.review_mode"] == "argilla"
    assert params["dsforge.extraction_model_sha256"] == "cd" * 32
    assert params["dsforge.dataset_sizes"] == "train=40,validation=5,test=5"
    assert all(isinstance(v, str) for v in params.values())
    assert set(tracking.lineage_params("run-1", "data-2", "b", None)) == {
        "dsforge.run_fingerprint", "dsforge.dataset_fingerprint", "dsforge.base_model"}  # fmt: skip
    assert (
        tracking._without_credentials("https://me:s3cret@mlflow.example:5000/x")
        == "https://mlflow.example:5000/x"
    )


def test_a_run_is_logged_to_tensorboard_and_mlflow_with_its_lineage(
    tmp_path, license_records, repo_root, smollm_base, monkeypatch
):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    options = {**TINY_TRAIN, "max_steps": 2, "logging_steps": 1, "report_to": ["tensorboard", "mlflow"]}
    config_path = write_project(tmp_path / "p", license_records, repo_root, train=options)
    paths = TrainPaths(tmp_path / "p" / "build")
    paths.lineage.write_text(json.dumps(LINEAGE), "utf-8")
    with one_cpu_thread():
        card = train(load_config(config_path), show_progress=False)

    assert card.artifacts.tracking["tensorboard"] == str(paths.tracking / "tensorboard")
    store = card.artifacts.tracking["mlflow"]
    assert store == (paths.tracking / "mlruns").resolve().as_uri()
    assert f"mlflow `{store}`" in paths.run_card.read_text("utf-8")

    client = MlflowClient(tracking_uri=store)
    runs = [run for exp in client.search_experiments() for run in client.search_runs([exp.experiment_id])]
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["dsforge.run_fingerprint"] == card.fingerprint
    assert run.data.params["dsforge.reviewers"] == "ana,ben"
    assert run.data.tags["dsforge.run_fingerprint"] == card.fingerprint
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2]
    assert [m.value for m in losses] == pytest.approx([e["loss"] for e in card.log_history if "loss" in e])
    assert client.get_metric_history(run.info.run_id, "eval_loss")

    board = EventAccumulator(
        str(next((paths.tracking / "tensorboard").rglob("events.out.tfevents.*")).parent)
    )
    board.Reload()
    assert [e.step for e in board.Scalars("train/loss")] == [1, 2]
    lineage_text = board.Tensors("dsforge/lineage/text_summary")[0].tensor_proto.string_val[0].decode()
    assert card.fingerprint in lineage_text and "ana,ben" in lineage_text

    # the trackers do not change what is trained: the same run without them is the same run
    again = load_config(config_path)
    again.train = again.train.model_copy(update={"report_to": []})
    assert train(again, show_progress=False).fingerprint == card.fingerprint  # complete: nothing redone
