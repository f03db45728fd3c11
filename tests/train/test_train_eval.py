"""A tiny real run on CPU: SmolLM2-135M, a few LoRA steps, then base-vs-tuned evaluation."""

from __future__ import annotations

import json

import pytest

from core.config import load_config
from core.layout import TrainPaths
from tests.train.train_projects import write_project
from train.evaluate import evaluate
from train.recipe import train
from train.run_card import RunCard


@pytest.fixture(scope="module")
def trained(tmp_path_factory, license_records, repo_root, smollm_base):
    config_path = write_project(
        tmp_path_factory.mktemp("tiny"),
        license_records,
        repo_root,
        train={
            "base_model": "smollm2-135m",
            "mode": "lora",
            "max_steps": 3,
            "batch_size": 2,
            "gradient_accumulation_steps": 1,
            "eval_steps": 2,
            "logging_steps": 1,
            "max_seq_len": 128,
            "lora_r": 8,
        },
        eval_={
            "max_examples": 4,
            "max_new_tokens": 12,
            "batch_size": 4,
            "probe_window": 128,
            "examples_shown": 2,
        },
    )
    config = load_config(config_path)
    return config, train(config, show_progress=False)


def test_training_writes_adapter_run_card_and_curves(trained):
    config, card = trained
    paths = TrainPaths(config.output_dir)
    assert (paths.adapter / "adapter_config.json").is_file()
    assert (paths.adapter / "adapter_model.safetensors").is_file()
    assert paths.loss_png.read_bytes().startswith(b"\x89PNG")
    saved = RunCard.model_validate_json(paths.run_json.read_text("utf-8"))
    assert saved.status == "complete" and saved.steps == 3
    assert saved.best_eval_loss is not None and saved.best_checkpoint is not None
    assert saved.train_tokens > 0 and saved.tokens_per_second > 0
    assert saved.peak_memory["peak_rss_gib"] > 0
    assert saved.dataset["lineage"]["labels"] == "keyword rule"
    assert saved.dataset["sizes"]["train"] > 0
    assert saved.versions["trl"] != "not installed" and saved.versions["peft"] != "not installed"
    assert saved.base_model["gguf"]["sha256"]
    assert any("training records" in w for w in saved.warnings)  # tiny dataset warned about
    markdown = paths.run_card.read_text("utf-8")
    assert "Dataset lineage" in markdown and "tokens/s" in markdown


def test_training_again_is_a_no_op(trained):
    config, card = trained
    before = TrainPaths(config.output_dir).run_json.stat().st_mtime_ns
    again = train(config, show_progress=False)
    assert again.fingerprint == card.fingerprint and again.finished_at == card.finished_at
    assert TrainPaths(config.output_dir).run_json.stat().st_mtime_ns == before


def test_eval_compares_base_and_tuned_and_writes_report(trained):
    config, _ = trained
    paths = TrainPaths(config.output_dir)
    result = evaluate(config, show_progress=False)
    assert result["n_test"] == 4
    for name in ("base", "tuned"):
        stats = result["overall"][name]
        assert 0.0 <= stats["rouge_l"] <= 1.0 and 0.0 <= stats["token_f1"] <= 1.0
        assert stats["perplexity"] > 1.0 and stats["probe_perplexity"] > 1.0
    assert result["delta"]["rouge_l"] == pytest.approx(
        result["overall"]["tuned"]["rouge_l"] - result["overall"]["base"]["rouge_l"]
    )
    # The adapter changed the model: its reference perplexity differs from the base's.
    assert result["overall"]["tuned"]["perplexity"] != result["overall"]["base"]["perplexity"]
    assert set(result["by_stratum"]) == {row["stratum"] for row in _test_rows(paths)[:4]}
    report = paths.report.read_text("utf-8")
    assert "| metric | base | tuned | Δ | 95 % interval of Δ |" in report and "Forgetting probe" in report
    assert "Best answers" in report and "Run card" in report
    for png in ("metrics.png", "strata.png", "loss.png"):
        assert (paths.eval / png).read_bytes().startswith(b"\x89PNG")
    rows = [json.loads(line) for line in paths.predictions.read_text("utf-8").splitlines()]
    assert len(rows) == 4 and all("base" in r and "tuned" in r for r in rows)

    before = paths.metrics.stat().st_mtime_ns
    assert evaluate(config, show_progress=False)["fingerprint"] == result["fingerprint"]
    assert paths.metrics.stat().st_mtime_ns == before


def _test_rows(paths):
    from datasets import load_from_disk

    return list(load_from_disk(str(paths.dataset))["test"])


def test_an_evaluation_scored_by_an_older_release_is_scored_again_without_generating(trained, monkeypatch):
    from transformers.generation.utils import GenerationMixin

    config, _ = trained
    paths = TrainPaths(config.output_dir)
    evaluate(config, show_progress=False)
    old = json.loads(paths.metrics.read_text("utf-8"))
    for key in ("scoring", "intervals", "verdict", "fields"):
        old.pop(key, None)
    old["human"] = {"kept": "the reviewers' choices of these answers"}
    paths.metrics.write_text(json.dumps(old), "utf-8")

    def no_generation(*args, **kwargs):
        raise AssertionError("the cached answers should have been reused")

    monkeypatch.setattr(GenerationMixin, "generate", no_generation)
    monkeypatch.setattr("train.report.human_section", lambda human: [])  # the stand-in has no real tallies
    result = evaluate(config, show_progress=False)
    assert result["fingerprint"] == old["fingerprint"] and result["scoring"] >= 2
    assert "rouge_l" in result["intervals"] and result["verdict"]
    assert result["human"] == old["human"]
    assert "## Verdict" in paths.report.read_text("utf-8")
