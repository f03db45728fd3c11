"""Replay mixes the configured share of the packaged general set into training only, and the report
shows the forgetting probe with and without it, warning with the number over the threshold."""

from __future__ import annotations

import json

import pytest

from core.config import load_config
from core.layout import TrainPaths
from tests.train.train_projects import one_cpu_thread, write_project
from train.data import load_splits
from train.evaluate import PROBE_FILE, evaluate
from train.forgetting import verdict
from train.recipe import train
from train.replay import REPLAY_FILE, mix_replay, read_set, replay_count


@pytest.fixture(scope="module")
def splits(tmp_path_factory, license_records, repo_root):
    folder = tmp_path_factory.mktemp("replay-data")
    write_project(folder, license_records, repo_root, train={})
    return load_splits(folder / "build" / "export" / "dataset")


def test_replay_mixes_the_exact_share_deterministically(splits):
    train_split = splits["train"]
    n = len(train_split)
    for ratio in (0.1, 0.25, 0.5):
        mixed, info = mix_replay(train_split, ratio, seed=7)
        replayed = [row for row in mixed if row["stratum"] == "general-replay"]
        assert len(replayed) == info["records"] == replay_count(n, ratio) == round(n * ratio / (1 - ratio))
        assert len(mixed) == n + len(replayed)
        assert abs(len(replayed) / len(mixed) - ratio) <= 1 / len(mixed)  # exact up to one record's rounding
        assert {r["id"] for r in mixed if r["stratum"] != "general-replay"} == set(train_split["id"])
    again, _ = mix_replay(train_split, 0.25, seed=7)
    assert again["id"] == mix_replay(train_split, 0.25, seed=7)[0]["id"]  # same seed, same mixture and order
    assert again["id"] != mix_replay(train_split, 0.25, seed=8)[0]["id"]
    unmixed, info = mix_replay(train_split, 0.0, seed=7)
    assert unmixed is train_split and info["records"] == 0


def test_replay_beyond_the_set_goes_through_it_again_with_distinct_ids(splits):
    set_size = len(read_set())
    big = splits["train"].select(
        [i % len(splits["train"]) for i in range(set_size)]
    )  # ratio 0.5: as many again
    mixed, info = mix_replay(big, 0.5, seed=1)
    replay_ids = [r["id"] for r in mixed if r["stratum"] == "general-replay"]
    assert info["repeated"] is False and len(set(replay_ids)) == set_size
    bigger = splits["train"].select([i % len(splits["train"]) for i in range(set_size + 10)])
    mixed, info = mix_replay(bigger, 0.5, seed=1)
    replay_ids = [r["id"] for r in mixed if r["stratum"] == "general-replay"]
    assert info["repeated"] is True and len(replay_ids) == len(set(replay_ids)) == set_size + 10


def test_the_replay_set_is_documented_and_shares_no_text_with_the_probe():
    rows = read_set()
    assert len(rows) == len({r["id"] for r in rows}) == 300
    assert all(r["instruction"] and r["input"] and r["output"] for r in rows)
    sources = (REPLAY_FILE.parent / "SOURCES.md").read_text("utf-8")
    assert "general_replay.jsonl" in sources and "public domain" in sources

    def shingles(text: str) -> set[tuple[str, ...]]:
        words = text.lower().split()
        return {tuple(words[i : i + 6]) for i in range(len(words) - 5)}

    probe = shingles(PROBE_FILE.read_text("utf-8"))
    assert not any(shingles(r["input"] + " " + r["output"]) & probe for r in rows)


def test_forgetting_over_the_threshold_is_warned_with_the_number():
    over = verdict(40.0, 41.0, 0.02)  # +2.5 %
    assert over["change"] == pytest.approx(0.025)
    assert (
        "+2.5%" in over["warning"]
        and "40.00 → 41.00" in over["warning"]
        and "train.replay" in over["warning"]
    )
    assert verdict(40.0, 40.4, 0.02)["warning"] is None  # +1.0 %
    assert verdict(40.0, 39.0, 0.0)["warning"] is None  # better is never forgetting


LORA = {
    "base_model": "smollm2-135m",
    "method": "lora",
    "max_steps": 1,
    "batch_size": 2,
    "gradient_accumulation_steps": 1,
    "warmup_ratio": 0.0,  # one step: a warmup would leave its learning rate at 0
    "eval_steps": 1,
    "max_seq_len": 96,
    "lora_r": 2,
    "target_modules": ["q_proj", "v_proj"],
    "learning_rate": 5e-3,
}


def test_replay_run_reports_the_probe_beside_the_run_without_replay(
    tmp_path, license_records, repo_root, smollm_base
):
    eval_ = {"max_examples": 1, "max_new_tokens": 4, "batch_size": 1, "probe_window": 16, "examples_shown": 1}
    eval_["probe_file"] = "probe.txt"  # a short probe: one window per model
    without = write_project(tmp_path / "off", license_records, repo_root, train=LORA, eval_=eval_)
    with_replay = write_project(
        tmp_path / "on",
        license_records,
        repo_root,
        train={**LORA, "replay": 0.25},
        # threshold 0: any rise of the probe perplexity is reported as forgetting
        eval_={
            **eval_,
            "forgetting_threshold": 0.0,
            "probe_adapters": [str(tmp_path / "off" / "build" / "train")],
        },
    )
    (tmp_path / "on" / "probe.txt").write_text(
        "The quick brown fox jumps over the lazy dog, and the dog does not mind at all.\n", "utf-8"
    )
    with one_cpu_thread():
        off_card = train(load_config(without), show_progress=False)
        config = load_config(with_replay)
        card = train(config, show_progress=False)
        result = evaluate(config, show_progress=False)

    paths = TrainPaths(config.output_dir)
    replay = card.dataset["replay"]
    n_train = card.dataset["sizes"]["train"]
    assert replay["records"] == replay_count(n_train, 0.25) and off_card.dataset["replay"]["records"] == 0
    assert card.fingerprint != off_card.fingerprint
    # Replay records reach training only: the splits on disk and the evaluated rows have none.
    data = load_splits(paths.dataset)
    replay_ids = {r["id"] for r in read_set()}
    for name in ("train", "validation", "test"):
        assert not replay_ids & set(data[name]["id"]) and "general-replay" not in data[name]["stratum"]
    predicted = [json.loads(line)["id"] for line in paths.predictions.read_text("utf-8").splitlines()]
    assert set(predicted) <= set(data["test"]["id"])

    forgetting = result["forgetting"]
    base_ppl = result["overall"]["base"]["probe_perplexity"]
    tuned_ppl = result["overall"]["tuned"]["probe_perplexity"]
    (other,) = forgetting["other_adapters"]
    assert other["replay"] == 0.0 and other["method"] == "lora" and other["probe_perplexity"] != tuned_ppl
    report = paths.report.read_text("utf-8")
    assert f"| this run | lora | 0.25 | 0.0 | 1 | {tuned_ppl:.3f} |" in report
    assert f"| `{other['adapter']}` | lora | 0.0 | 0.0 | 1 | {other['probe_perplexity']:.3f} |" in report
    assert f"mixed {replay['records']} general replay records" in report
    assert "- replay: " in paths.run_card.read_text("utf-8")
    if tuned_ppl > base_ppl:
        assert forgetting["warning"] and f"{tuned_ppl / base_ppl - 1:+.1%}" in forgetting["warning"]
        assert forgetting["warning"] in report
    else:
        assert forgetting["warning"] is None and "**Warning — forgetting" not in report
