"""`dsforge run` without --auto-accept: build, serve, push to the real review server, stop until reviewed."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from dsforge.cli import app
from dsforge.run_command import NOT_YET_REVIEWED
from tests.builder.replay_project import make_project


def test_run_pushes_for_review_and_stops_until_something_is_approved(tmp_path, review_server):
    config_path = make_project(tmp_path)
    config = yaml.safe_load(config_path.read_text())
    config["review"] = {
        "server": {"home": str(review_server.home), "port": review_server.options.server.port},
        "dataset": "run-stops-for-review",
        "vectors": False,
        "batch_size": 50,
    }
    config_path.write_text(yaml.safe_dump(config))
    review_server.ensure_running()

    result = CliRunner().invoke(app, ["run", "-c", str(config_path), "--no-progress"])
    said = result.output.replace("\n", " ")
    assert result.exit_code == NOT_YET_REVIEWED, result.output
    assert "0 of" in said and "items approved so far" in said and "already running" in said
    build = tmp_path / "build"
    items = (build / "items.jsonl").read_text("utf-8").splitlines()
    pushed = json.loads((build / "review" / "push.json").read_text("utf-8"))
    # The default: each item once, and one record per document for what the model missed.
    assert pushed["unit"] == "item" and pushed["records"] == len(items) > 0 and pushed["windows"] > 0
    report = json.loads((build / "review" / "review_report.json").read_text("utf-8"))
    n = len(items)
    assert report["approved"] == 0 and report["gate"]["why"] == f"items held back {n}: {n} not reviewed yet"
    assert not (build / "splits").exists()  # nothing unreviewed reaches the splits
