"""`dsforge eval --cv 2` on CPU: document-disjoint folds, real training and evaluation per fold."""

from __future__ import annotations

import json
import statistics

import pytest

from core.config import load_config
from core.errors import TrainError
from core.layout import SPLITS, TrainPaths
from tests.train.train_projects import TINY_TRAIN, write_project
from train.crossval import cross_validate, plan_folds
from train.evaluate import PROBE_FILE

TINY = {**TINY_TRAIN, "learning_rate": 1e-3}
EVAL = {"max_examples": 2, "max_new_tokens": 6, "batch_size": 2, "probe_window": 64, "examples_shown": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory, license_records, repo_root, smollm_base):
    folder = tmp_path_factory.mktemp("cv")
    # A two-window forgetting probe: the folds score it like the packaged one, in a fraction of the time.
    (folder / "probe.txt").write_text(PROBE_FILE.read_text("utf-8")[:600], "utf-8")
    config = load_config(write_project(folder, license_records, repo_root, TINY, {**EVAL, "probe_file": "probe.txt"}))
    return config, cross_validate(config, 2, show_progress=False)


def test_folds_are_document_disjoint_and_cover_every_record(cv_run):
    config, summary = cv_run
    folds = summary["folds"]
    assert len(folds) == 2
    tests = [set(f["documents"]["test"]) for f in folds]
    assert not tests[0] & tests[1]
    assert len(tests[0] | tests[1]) == summary["documents"]
    assert sum(f["records"]["test"] for f in folds) == summary["records"]
    for fold in folds:
        docs = [set(fold["documents"][s]) for s in SPLITS]
        assert all(docs) and not (docs[0] & docs[1] or docs[0] & docs[2] or docs[1] & docs[2])
        # What the fold trained and was tested on, read back from its own exported dataset.
        from datasets import load_from_disk

        data = load_from_disk(
            str(TrainPaths(config.output_dir / "cv" / "k2" / f"fold-{fold['fold']}").dataset)
        )
        assert set(data["train"]["doc_id"]).isdisjoint(data["test"]["doc_id"])
        assert set(data["test"]["doc_id"]) == set(fold["documents"]["test"])


def test_each_fold_is_evaluated_and_the_summary_is_their_mean_and_std(cv_run):
    config, summary = cv_run
    root = config.output_dir / "cv" / "k2"
    per_fold = [json.loads((root / f"fold-{i}" / "eval" / "metrics.json").read_text("utf-8")) for i in (0, 1)]
    for metrics in per_fold:
        assert metrics["n_test"] == 2
        assert (root / f"fold-{per_fold.index(metrics)}" / "eval" / "report.md").is_file()
    for metric in ("rouge_l", "token_f1", "perplexity", "probe_perplexity"):
        for model in ("base", "tuned"):
            values = [m["overall"][model][metric] for m in per_fold]
            stats = summary["summary"][metric][model]
            assert stats["mean"] == pytest.approx(statistics.fmean(values))
            assert stats["std"] == pytest.approx(statistics.stdev(values))
        deltas = [m["overall"]["tuned"][metric] - m["overall"]["base"][metric] for m in per_fold]
        assert summary["summary"][metric]["delta"]["mean"] == pytest.approx(statistics.fmean(deltas))
        interval = summary["summary"][metric]["interval"]  # paired over the folds
        assert interval["n"] == 2 and interval["delta"] == pytest.approx(statistics.fmean(deltas))
        assert min(deltas) - 1e-9 <= interval["low"] <= interval["high"] <= max(deltas) + 1e-9
    assert json.loads((root / "cv.json").read_text("utf-8"))["summary"] == summary["summary"]
    report = (root / "report.md").read_text("utf-8")
    assert "| metric | base | tuned | Δ (tuned − base) | 95 % interval of Δ over folds |" in report
    assert " ± " in report


def test_a_rerun_trains_and_evaluates_nothing(cv_run):
    config, summary = cv_run
    root = config.output_dir / "cv" / "k2"
    watched = [
        path
        for i in (0, 1)
        for path in (
            root / f"fold-{i}" / "train" / "run.json",
            root / f"fold-{i}" / "eval" / "metrics.json",
            root / f"fold-{i}" / "export" / "dataset" / "dataset_dict.json",
        )
    ]
    before = {p: p.stat().st_mtime_ns for p in watched}
    again = cross_validate(config, 2, show_progress=False)
    assert {p: p.stat().st_mtime_ns for p in watched} == before
    assert [f["run_fingerprint"] for f in again["folds"]] == [f["run_fingerprint"] for f in summary["folds"]]
    assert again["summary"] == summary["summary"]


def test_too_few_documents_for_k_is_refused():
    with pytest.raises(TrainError, match="at least 4 source documents"):
        plan_folds(["d1", "d1", "d2", "d3"], ["a"] * 4, 3, 0, 0.1)
