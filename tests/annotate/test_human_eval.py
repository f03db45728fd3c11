"""Blind pairwise human evaluation against the real argilla-server: push, reviewers pick, pull, report.

The answers are a recorded real evaluation (tests/fixtures/eval_sample, made
by tests/train/record_eval_sample.py: SmolLM2-135M with and without a LoRA
adapter); the test split they answer is re-exported here by the real split
and export stages.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from annotate.fetch import find_dataset, iter_rows
from core import atomic
from core.config import load_config
from core.layout import TrainPaths
from dsforge.cli import app
from tests.annotate.argilla_helpers import submit
from tests.annotate.review_server import SCHEMA_FILE
from tests.builder.license_records import reviewed_records
from tests.train.train_projects import export_dataset
from train.human_eval import load_comparison, pull_human, push_human

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "eval_sample"
EVAL = {"max_new_tokens": 40, "batch_size": 8, "probe_window": 128, "examples_shown": 2}


def _project(folder: Path, server, license_schema, **human: object) -> Path:
    """A project whose build holds the exported dataset and the recorded evaluation."""
    shutil.copy(SCHEMA_FILE, folder / "license_schema.py")
    records, _ = reviewed_records(license_schema, limit=12)
    export_dataset(records, folder / "build")
    paths = TrainPaths(folder / "build")
    for target in (paths.run_json, paths.metrics, paths.predictions, paths.report):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RECORDING / target.name, target)
    config = {
        "schema": "license_schema.py:LicenseTerm",
        "output": "build",
        "review": {
            "server": {"home": str(server.home), "port": server.options.server.port},
            "vectors": False,
            "batch_size": 3,
        },
        "eval": {**EVAL, "human": human},
    }
    path = folder / "dsforge.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    server.ensure_running()
    return path


def _server_rows(server, config) -> tuple[dict, list[dict]]:
    with server.http() as http:
        dataset = find_dataset(http, config.review.workspace, load_comparison(config).dataset)
        rows = list(iter_rows(http, dataset["id"]))
        settings = {
            part: http.get(f"/api/v1/datasets/{dataset['id']}/{part}").json()
            for part in ("fields", "questions", "metadata-properties")
        }
    settings["guidelines"] = dataset["guidelines"]
    return settings, rows


def test_blind_push_review_pull_unblinds_into_the_report(tmp_path, review_server, license_schema):
    config = load_config(
        _project(tmp_path, review_server, license_schema, dataset="human-loop", min_submitted=1)
    )
    predictions = {row["id"]: row for row in atomic.read_jsonl(TrainPaths(config.output_dir).predictions)}
    differing = [
        r for r in predictions.values() if " ".join(r["base"].split()) != " ".join(r["tuned"].split())
    ]
    assert len(differing) >= 4, "the recording should have several prompts the adapter answers differently"

    summary = push_human(config)
    assert summary["records"] == len(differing)
    assert summary["identical"] == len(predictions) - len(differing)

    # Blinding: nothing the reviewers can see names a model; the owner sees all they see, and more.
    settings, rows = _server_rows(review_server, config)
    card = json.loads(TrainPaths(config.output_dir).run_json.read_text("utf-8"))
    visible = json.dumps(settings) + json.dumps(
        [{k: r[k] for k in ("fields", "metadata", "external_id")} for r in rows]
    )
    for name in ("tuned", "base", "adapter", "smollm", "lora", card["base_model"]["ref"]):
        assert not re.search(rf"\b{re.escape(name)}\b", visible, re.I), name
    assert {tuple(sorted(r["fields"])) for r in rows} == {("answer_a", "answer_b", "prompt", "reference")}
    assert all(set(r["metadata"]) <= {"stratum", "template"} for r in rows)
    # Both orders occur, and each record shows exactly the two answers of its prompt.
    tuned_first = set()
    by_pair = {p.id: p for p in load_comparison(config).pairs}
    for row in rows:
        answers = by_pair[row["external_id"]].answers
        shown = (row["fields"]["answer_a"], row["fields"]["answer_b"])
        assert sorted(shown) == sorted(answers.values())
        tuned_first.add(shown[0] == answers["tuned"])
    assert tuned_first == {True, False}

    # A second push changes nothing: same records, same order, no duplicates.
    blinding = (config.output_dir / "eval" / "human" / summary["dataset"] / "blinding.json").read_text(
        "utf-8"
    )
    push_human(config)
    _, again = _server_rows(review_server, config)
    assert sorted((r["external_id"], r["fields"]["answer_a"]) for r in again) == sorted(
        (r["external_id"], r["fields"]["answer_a"]) for r in rows
    )
    assert (config.output_dir / "eval" / "human" / summary["dataset"] / "blinding.json").read_text(
        "utf-8"
    ) == blinding

    # annotator1 always picks the tuned model's answer, wherever it is shown.
    url, workspace, name = review_server.url, config.review.workspace, summary["dataset"]
    owner = review_server.user("dsforge").api_key
    pick_tuned = {
        r["external_id"]: {
            "preference": "A"
            if r["fields"]["answer_a"] == by_pair[r["external_id"]].answers["tuned"]
            else "B"
        }
        for r in rows
    }
    first = next(iter(pick_tuned))
    pick_tuned[first]["comment"] = "more precise"
    submit(url, owner, review_server.user("annotator1").api_key, name, workspace, pick_tuned)

    human = pull_human(config)
    stats = human["summary"]
    wins, ties = len(differing), len(predictions) - len(differing)
    assert stats["rates"]["win"]["count"] == wins and stats["rates"]["loss"]["count"] == 0
    assert stats["rates"]["tie"]["count"] == ties and stats["ties_by_reason"] == (
        {"identical": ties} if ties else {}
    )
    assert stats["preference"]["share"] == 1.0 and stats["pending"] == 0
    from scipy.stats import binomtest

    expected = binomtest(wins, wins, 0.5).proportion_ci(0.95, method="wilson")
    assert stats["preference"]["interval"] == pytest.approx([expected.low, expected.high])
    assert stats["preference"]["sign_test_p"] == pytest.approx(binomtest(wins, wins, 0.5).pvalue)
    assert human["reviewers"] == ["annotator1"]

    # The evaluation report carries it: metrics.json and report.md, next to the automatic metrics.
    paths = TrainPaths(config.output_dir)
    metrics = json.loads(paths.metrics.read_text("utf-8"))
    assert metrics["human"]["summary"] == json.loads(json.dumps(stats)) and metrics["overall"]["tuned"]
    report = paths.report.read_text("utf-8")
    assert "## Human evaluation (blind pairwise)" in report and "| metric | base | tuned | Δ |" in report
    assert f"| win (tuned better) | {wins} | 100% |" in report
    votes = {
        row.get("pair_id"): row for row in atomic.read_jsonl(paths.eval / "human" / name / "votes.jsonl")
    }
    assert votes[first]["votes"][0]["comment"] == "more precise"
    assert all(v["choice"] == "tuned" for row in votes.values() for v in row["votes"])
    # every prompt settled for one model is a held-out preference pair, the preferred answer chosen
    pairs = atomic.read_jsonl(paths.eval / "human" / name / "preference.jsonl")
    assert len(pairs) == wins == human["preference_pairs"]
    assert all(p["chosen_model"] == "tuned" and p["chosen"][0]["content"] == predictions[p["record_id"]]["tuned"]
               and p["rejected"][0]["content"] == predictions[p["record_id"]]["base"] for p in pairs)  # fmt: skip

    # annotator2 prefers the base answer everywhere but one tie: with two reviews required, every
    # pair is split evenly between the reviewers, so a tie; the base choices un-blind as "base".
    pick_base = {
        pid: {"preference": "B" if choice["preference"] == "A" else "A"} for pid, choice in pick_tuned.items()
    }
    pick_base[first] = {"preference": "tie"}
    submit(url, owner, review_server.user("annotator2").api_key, name, workspace, pick_base)
    config.eval.human.min_submitted = 2
    both = pull_human(config, write=False)
    assert both["summary"]["rates"]["win"]["count"] == 0
    assert both["summary"]["rates"]["tie"]["count"] == len(predictions)
    assert both["summary"]["ties_by_reason"] == {"split": wins, **({"identical": ties} if ties else {})}
    assert both["reviews_per_reviewer"] == {"annotator1": wins, "annotator2": wins}
    assert both["agreement"]["units"] == wins and both["agreement"]["percent"] == 0.0
    assert json.loads(paths.metrics.read_text("utf-8"))["human"]["reviewers"] == ["annotator1"]  # not written
    pull_human(config)
    assert not (paths.eval / "human" / name / "preference.jsonl").exists()  # every prompt a tie now
    second = {
        row["pair_id"]: next(v["choice"] for v in row["votes"] if v["reviewer"] == "annotator2")
        for row in atomic.read_jsonl(paths.eval / "human" / name / "votes.jsonl")
    }
    assert second == {pid: "tie" if pid == first else "base" for pid in pick_tuned}
    assert "Ties: " in paths.report.read_text("utf-8")

    # From the command line: status reads without writing; an argument without --human is refused.
    runner = CliRunner()
    status = runner.invoke(
        app, ["eval", "--human", "status", "-c", str(config.project_root / "dsforge.yaml")]
    )
    assert status.exit_code == 0, status.output
    assert "tuned vs base" in status.output and "win" in status.output
    refused = runner.invoke(app, ["eval", "pull", "-c", str(config.project_root / "dsforge.yaml")])
    assert refused.exit_code == 2 and "--human" in refused.output


def test_pull_before_push_a_changed_seed_and_a_lost_key_say_what_to_do(
    tmp_path, review_server, license_schema
):
    from core.errors import TrainError

    config = load_config(_project(tmp_path, review_server, license_schema, dataset="human-errors", seed=7))
    with pytest.raises(TrainError, match="dsforge eval --human"):
        pull_human(config)
    # The command evaluates first; the recorded evaluation is current, so its answers are reused
    # and no model is loaded (the recording has no adapter to load).
    assert (
        _current_fingerprint(config)
        == json.loads((RECORDING / "metrics.json").read_text("utf-8"))["fingerprint"]
    ), "the evaluation fingerprint changed: re-record with `python -m tests.train.record_eval_sample`"
    pushed = CliRunner().invoke(
        app, ["eval", "--human", "-c", str(tmp_path / "dsforge.yaml"), "--no-progress"]
    )
    assert pushed.exit_code == 0, pushed.output
    assert "pushed 8 answer pairs" in pushed.output
    config.eval.human.seed = 8
    with pytest.raises(TrainError, match="new dataset"):
        push_human(config)
    shutil.rmtree(config.output_dir / "eval" / "human")
    with pytest.raises(TrainError, match="blinding key"):
        push_human(config)


def _current_fingerprint(config) -> str:
    from train.data import load_splits
    from train.evaluate import _probe_text, eval_fingerprint
    from train.run_card import read_run_card

    paths = TrainPaths(config.output_dir)
    rows = [dict(row) for row in load_splits(paths.dataset)["test"]]
    return eval_fingerprint(
        read_run_card(paths.run_json), config.eval, rows, _probe_text(config.eval, config)
    )
