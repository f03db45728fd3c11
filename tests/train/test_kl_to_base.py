"""`train.kl_to_base` holds the tuned model near the base on general text: the same run with the
term drifts less from the base on the forgetting probe than without it, on real SmolLM2 weights."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.errors import TrainError
from core.options.train import TrainOptions
from tests.train.train_projects import one_cpu_thread, write_project
from train.evaluate import PROBE_FILE
from train.kl_to_base import general_sequences, token_kl
from train.recipe import train
from train.replay import read_set

# A learning rate high enough for a few steps to move the model off the base on general text.
LORA = {
    "base_model": "smollm2-135m",
    "method": "lora",
    "max_steps": 3,
    "batch_size": 2,
    "gradient_accumulation_steps": 1,
    "warmup_ratio": 0.0,
    "eval_steps": 100,  # past max_steps: no validation pass or checkpoint, only the adapter at the end
    "logging_steps": 1,
    "max_seq_len": 96,
    "lora_r": 4,
    "target_modules": ["q_proj", "v_proj", "down_proj"],
    "learning_rate": 1e-2,
}


def test_token_kl_is_zero_for_the_same_distribution_and_grows_apart():
    import torch

    logits = torch.randn(1, 5, 11)
    assert token_kl(logits, logits).item() == pytest.approx(0.0, abs=1e-6)
    near, far = (
        token_kl(logits, logits + 0.1 * torch.randn(1, 5, 11)),
        token_kl(logits, torch.randn(1, 5, 11)),
    )
    assert 0 < near.item() < far.item()


def test_general_sequences_are_chat_formatted_seeded_and_go_round(smollm_base):
    from train.loading import load_tokenizer

    tokenizer = load_tokenizer(smollm_base.path)
    n = len(read_set())
    first = general_sequences(tokenizer, 64, seed=3)
    one_round = [next(first) for _ in range(n)]
    assert all(len(ids) <= 64 for ids in one_round)
    assert [next(general_sequences(tokenizer, 64, seed=3)) for _ in range(1)] == one_round[:1]
    assert next(general_sequences(tokenizer, 64, seed=4)) != one_round[0] or n == 1
    assert next(first) in one_round  # the second round reuses the set in a new order
    text = tokenizer.decode(one_round[0])
    assert "user" in text and "assistant" in text  # the chat template's turns, as training formats records


def test_kl_to_base_is_refused_where_it_does_not_apply():
    with pytest.raises(ValueError, match="kl_to_base regularises SFT"):
        TrainOptions(objective="dpo", kl_to_base=0.5)
    with pytest.raises(ValueError):
        TrainOptions(kl_to_base=-1)


def test_kl_to_base_is_refused_in_several_processes(tmp_path, license_records, repo_root, monkeypatch):
    from train import distributed

    config = load_config(
        write_project(tmp_path, license_records, repo_root, train={**LORA, "kl_to_base": 1.0})
    )
    monkeypatch.setattr(distributed, "processes", lambda: 2)
    with pytest.raises(TrainError, match="kl_to_base runs in one process"):
        train(config, show_progress=False)


def test_kl_to_base_keeps_the_probe_nearer_the_base(tmp_path, license_records, repo_root, smollm_base):
    with one_cpu_thread():
        cards = {
            weight: train(
                load_config(
                    write_project(
                        tmp_path / str(weight),
                        license_records,
                        repo_root,
                        train={**LORA, "kl_to_base": weight},
                    )
                ),
                show_progress=False,
            )
            for weight in (0.0, 5.0)
        }
        drift = {weight: probe_kl(smollm_base.path, card.artifacts.adapter) for weight, card in cards.items()}

    without, with_kl = cards[0.0], cards[5.0]
    assert with_kl.fingerprint != without.fingerprint and with_kl.hyperparameters.kl_to_base == 5.0
    logged = [e["kl_to_base"] for e in with_kl.log_history if "kl_to_base" in e]
    assert len(logged) == with_kl.steps and logged[0] == pytest.approx(0.0, abs=1e-6)  # B = 0: tuned = base
    assert not any("kl_to_base" in e for e in without.log_history)
    # The term's whole point: the tuned model's next-token distribution on unseen general prose stays nearer the base.
    assert drift[0.0] > 0 and drift[5.0] < 0.7 * drift[0.0], drift


def probe_kl(base_path, adapter) -> float:
    """Mean KL(base ‖ tuned) over the forgetting probe's first 96 tokens."""
    import torch
    from peft import PeftModel

    from train.loading import load_model, load_tokenizer, pick_hardware

    tokenizer = load_tokenizer(base_path)
    model = load_model(base_path, pick_hardware("float32"), load_in_4bit=False, for_training=False)
    model = PeftModel.from_pretrained(model, adapter).eval()
    ids = torch.tensor([tokenizer(PROBE_FILE.read_text("utf-8"))["input_ids"][:96]])
    with torch.no_grad():
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        return token_kl(base, model(input_ids=ids).logits).item()
