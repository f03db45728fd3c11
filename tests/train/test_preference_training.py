"""`train.objective: dpo` on the packaged SmolLM2: pairs exported from corrected records train an adapter
that prefers the reviewers' answers — the log-probability margin chosen − rejected moves the right way,
measured apart from TRL with the saved adapter — and the SFT run beside it is left alone."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.errors import TrainError
from core.layout import TrainPaths
from core.options.train import TrainOptions
from schemas.types import Review
from tests.train.train_projects import TINY_TRAIN, export_dataset, write_project
from train.data import prompt_messages
from train.preference_data import load_preference_splits
from train.recipe import train

DPO = {
    **TINY_TRAIN,
    "objective": "dpo",
    "start_from": "base",
    "max_steps": 8,
    "batch_size": 1,
    "max_seq_len": 128,
    "learning_rate": 1e-2,
    "warmup_ratio": 0.0,
    "eval_steps": 8,
}


def _corrected(records):
    """Every classify_clause record as a correction of a wrong kind (the model had said another one)."""
    kinds = ["permission", "obligation", "condition", "limitation"]
    out = []
    for record in records:
        if record.template == "classify_clause":
            wrong = next(k for k in kinds if k not in record.output)
            original = record.output.replace(next(k for k in kinds if k in record.output), wrong)
            review = Review(status="corrected", reviewers=["ana"], original_output=original)
            record = record.model_copy(update={"review": review})
        out.append(record)
    return out


def _margins(model, tokenizer, pairs) -> list[float]:
    """log p(chosen | prompt) − log p(rejected | prompt) per pair, summed over the answer's tokens."""
    import torch

    margins = []
    for row in pairs:
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        scores = []
        for answer in (row["chosen"][0]["content"], row["rejected"][0]["content"]):
            head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, :-1].float()
            logp = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
            scores.append(float(logp[len(head) - 1 :].sum()))
        margins.append(scores[0] - scores[1])
    return margins


def test_dpo_moves_the_margin_towards_the_reviewers_answers(
    tmp_path, license_records, repo_root, smollm_base
):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config_path = write_project(tmp_path / "p", license_records, repo_root, train=DPO)
    export_dataset(_corrected(license_records), tmp_path / "p" / "build")
    config = load_config(config_path)
    card = train(
        config, show_progress=False
    )  # both cores: the heaviest step of the CPU tests (2 models' passes)

    paths = TrainPaths(config.output_dir, objective="dpo")
    assert paths.root.name == "train-dpo" and (paths.adapter / "adapter_config.json").is_file()
    assert not (paths.adapter / "ref").exists()  # TRL's frozen reference copy is not saved
    assert not TrainPaths(config.output_dir).adapter.exists()  # no SFT run was touched or made
    assert card.preference["started_from"] == "base" and card.dataset["sizes"]["train"] > 0
    assert "objective: dpo" in paths.run_card.read_text("utf-8")

    pairs = load_preference_splits(paths.preference)["train"].select(range(8))  # 8 of the 37: CPU time
    tokenizer = AutoTokenizer.from_pretrained(smollm_base.path)
    base = AutoModelForCausalLM.from_pretrained(smollm_base.path, dtype=torch.float32)
    before = _margins(base, tokenizer, pairs)
    tuned = PeftModel.from_pretrained(base, str(paths.adapter))
    after = _margins(tuned, tokenizer, pairs)
    gained = [a - b for a, b in zip(after, before, strict=True)]
    # 8 steps of one pair: the reviewers' answers became likelier than the originals, by nats, on most pairs
    assert sum(gained) / len(gained) > 1.0
    assert sum(g > 0 for g in gained) >= 2 / 3 * len(gained)
    # the pairs' prompts are the SFT records' prompts, rendered the same way
    assert (
        pairs[0]["prompt"][0]["content"]
        == prompt_messages(next(r for r in license_records if r.id == pairs[0]["id"]).alpaca())[0]["content"]
    )

    if card.preference["held_out"] is not None:
        held = card.preference["held_out"]
        assert held["pairs"] > 0 and 0.0 <= held["accuracy"] <= 1.0


def test_a_preference_run_without_pairs_or_without_its_sft_adapter_says_what_to_do(
    tmp_path, license_records, repo_root
):
    config = load_config(write_project(tmp_path / "p", license_records, repo_root, train=DPO))
    with pytest.raises(TrainError, match=r"no preference pairs at .*preference/train.jsonl.*correct"):
        train(config, show_progress=False)
    export_dataset(_corrected(license_records), tmp_path / "p" / "build")
    config.train = config.train.model_copy(update={"start_from": "sft"})
    with pytest.raises(TrainError, match=r"start_from is sft but there is no SFT adapter"):
        train(config, show_progress=False)
    with pytest.raises(ValueError, match=r"objective kto needs batch_size 2 or more"):
        TrainOptions(objective="kto", batch_size=1)


def test_a_preference_row_is_two_sequences_for_the_fitted_batch_and_the_row_count(monkeypatch, smollm_base):
    """On a GPU, `batch_size: auto` fits pairs (chosen and rejected through the model) at half the SFT rows."""
    import types

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer

    from train.fit import fit_batch
    from train.loading import Hardware
    from train.plan import _packed_rows

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (60 * 2**30, 80 * 2**30))
    gpu = Hardware("cuda", torch.bfloat16, "test GPU")
    model = types.SimpleNamespace(config=types.SimpleNamespace(hidden_size=896, num_hidden_layers=24))
    sft = fit_batch(TrainOptions(), gpu, model, packed_rows=None)
    dpo = fit_batch(TrainOptions(objective="dpo"), gpu, model, packed_rows=None)
    assert dpo.rows_that_fit == {name: rows // 2 for name, rows in sft.rows_that_fit.items()}

    tokenizer = AutoTokenizer.from_pretrained(smollm_base.path)
    message = [{"role": "user", "content": "word " * 300}]
    answer = [{"role": "assistant", "content": "yes"}]
    pairs = Dataset.from_list([{"prompt": message, "chosen": answer, "rejected": answer}] * 4)
    rows = _packed_rows(pairs, TrainOptions(objective="dpo", max_seq_len=1024), tokenizer)
    assert rows == 3  # 8 sequences of ~330 tokens in rows of 1024


@pytest.mark.parametrize("objective", ["kto", "orpo"])
def test_kto_and_orpo_train_on_the_same_pairs(objective, tmp_path, license_records, repo_root, smollm_base):
    """A step each through TRL's trainer: the adapter lands in train-<objective>/ with a card."""
    batch = 2 if objective == "kto" else 1  # KTO's KL estimate pairs answers within a batch
    options = {**DPO, "objective": objective, "max_steps": 1, "eval_steps": 1, "batch_size": batch}
    config_path = write_project(tmp_path / "p", license_records, repo_root, train=options)
    export_dataset(_corrected(license_records), tmp_path / "p" / "build")
    card = train(load_config(config_path), show_progress=False)
    paths = TrainPaths(load_config(config_path).output_dir, objective=objective)
    assert paths.root.name == f"train-{objective}" and (paths.adapter / "adapter_config.json").is_file()
    assert card.steps == 1 and card.preference["objective"] == objective
    assert card.preference["held_out"]["pairs"] > 0 and card.preference["held_out"]["loss"] is not None
