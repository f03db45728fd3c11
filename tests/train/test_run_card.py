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
