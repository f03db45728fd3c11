"""Run cards already on disk read into the typed sections and write back byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from train.run_card import RunCard

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "eval_sample" / "run.json"


def test_an_old_run_card_round_trips_byte_for_byte():
    written = SAMPLE.read_text("utf-8")
    card = RunCard.model_validate_json(written)
    assert card.model_dump_json(indent=2) + "\n" == written
    assert card.hyperparameters.method is None and card.hyperparameters.trained_method == "lora"  # `mode` only
    assert card.dataset.replay is None and card.base_model.ref == "smollm2-135m"
    assert card.dataset["sizes"] == card.dataset.sizes  # mapping reads still work for scripts
    assert card.base_model.provenance["gguf"]["sha256"] == card.base_model["gguf"]["sha256"]


def test_sections_keep_their_keys_and_order_and_add_none():
    data = json.loads(SAMPLE.read_text("utf-8"))
    data["dataset"] = {"replay": {"records": 0, "ratio": 0.0}, "sizes": {"train": 1}, "note": "kept"}
    data["artifacts"] = {"model": "merged folder"}
    card = RunCard.model_validate(data)
    card.artifacts.loss_png = "loss.png"
    dumped = card.model_dump(mode="json")
    assert list(dumped["dataset"]) == ["replay", "sizes", "note"]
    assert list(dumped["dataset"]["replay"]) == ["records", "ratio"]
    assert dumped["artifacts"] == {"model": "merged folder", "loss_png": "loss.png"}


def test_a_merge_card_written_with_plain_dicts_reads_into_sections_and_back_unchanged():
    from train.merge import MergeCard

    run = json.loads(SAMPLE.read_text("utf-8"))
    written = {
        "kind": "adapter",
        "fingerprint": "merge-0123",
        "options": {"combination": "linear", "weights": None, "density": None,
                    "majority_sign_method": "total", "into_base": False, "seed": 42},
        "weights": [0.5, 0.5],
        "density": None,
        "base_model": run["base_model"],
        "inputs": [
            {"path": f"runs/{seed}/adapter", "weights_sha256": {"adapter_model.safetensors": "ab" * 32},
             "peft_type": "LORA", "r": 8, "source": "run", "fingerprint": f"run-{seed}",
             "dataset": {"fingerprint": "data-1", "path": "export/dataset", "sizes": {"train": 10}},
             "hyperparameters": {"mode": "lora", "lora_r": 8, "seed": seed, "steps": 2, "best_eval_loss": 1.5},
             "merged_from": []}
            for seed in (1, 2)
        ],
        "compute_dtype": "float32",
        "versions": {"peft": "0.0"},
        "created_at": "2026-12-05T00:00:00+00:00",
        "seconds": 1.0,
    }  # fmt: skip
    card = MergeCard.model_validate(written)
    assert card.base_model.ref == run["base_model"]["ref"] and card.inputs[1].hyperparameters.seed == 2
    assert card.inputs[0].dataset.sizes == {"train": 10} and card.inputs[0].hyperparameters["steps"] == 2
    assert json.loads(card.model_dump_json()) == written
    assert list(json.loads(card.model_dump_json())["inputs"][0]["hyperparameters"]) == list(
        written["inputs"][0]["hyperparameters"]
    )
