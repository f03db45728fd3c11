"""LeanSFTTrainer keeps transformers' answers while skipping its per-step module walks."""

from __future__ import annotations

import pytest
import torch

from train.lean_trainer import LeanSFTTrainer


@pytest.fixture(scope="module")
def lean_trainer(tiny_checkpoint, smollm_base, tmp_path_factory):
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    tokenizer = AutoTokenizer.from_pretrained(smollm_base.path)  # its pad token; ids stay under 300
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    data = Dataset.from_list([{"input_ids": list(range(1, 20 + i))} for i in range(4)])
    args = SFTConfig(output_dir=str(tmp_path_factory.mktemp("lean")), report_to="none", max_steps=1,
                     include_num_input_tokens_seen="non_padding", use_cpu=True, max_grad_norm=0.5)  # fmt: skip
    return LeanSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)


def test_flops_count_is_transformers_count(lean_trainer):
    from transformers import Trainer

    inputs = {"input_ids": torch.ones(2, 33, dtype=torch.long)}
    expected = Trainer.floating_point_ops(lean_trainer, inputs)
    assert expected > 0
    assert lean_trainer.floating_point_ops(inputs) == expected
    assert lean_trainer.floating_point_ops(inputs) == expected  # the cached count


def test_padding_free_batches_count_their_length_and_padded_ones_their_mask(lean_trainer):
    state = lean_trainer.state
    before = state.num_input_tokens_seen
    lean_trainer._track_num_input_tokens({"input_ids": torch.ones(1, 37, dtype=torch.long),
                                          "position_ids": torch.arange(37)[None]})  # fmt: skip
    assert state.num_input_tokens_seen == before + 37
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    lean_trainer._track_num_input_tokens({"input_ids": torch.ones(2, 5, dtype=torch.long), "attention_mask": mask})
    assert state.num_input_tokens_seen == before + 37 + 8  # transformers' own count of the mask


def test_clip_and_zero_grad_touch_only_what_trains(lean_trainer):
    model = lean_trainer.model
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert 0 < len(trainable) < len(list(model.parameters()))
    torch.manual_seed(0)
    for p in trainable:
        p.grad = torch.randn_like(p)
    expected_grads = [p.grad.clone() for p in trainable]
    reference = _with_grads([g.clone() for g in expected_grads])  # torch's clip over the same gradients
    expected_norm = torch.nn.utils.clip_grad_norm_(reference, 0.5)
    expected_grads = [p.grad for p in reference]
    norm = lean_trainer._clip_grad_norm(model)
    assert norm.item() == pytest.approx(expected_norm.item(), rel=1e-6)
    for p, g in zip(trainable, expected_grads, strict=True):
        assert torch.allclose(p.grad, g, rtol=1e-6, atol=0)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def _with_grads(grads):
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros_like(g))
        p.grad = g
        params.append(p)
    return params


def test_train_mode_is_set_once_and_again_after_eval(lean_trainer, monkeypatch):
    model = lean_trainer.model
    inner = model.get_base_model().model.layers[0].mlp
    calls = []
    original = type(inner).train
    monkeypatch.setattr(inner, "train", lambda mode=True: (calls.append(mode), original(inner, mode))[1])
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train()
    model.train()
    assert calls == [False, True]  # the two repeats walked nothing
    model.eval()
    model.train()
    assert calls == [False, True, False, True] and all(m.training for m in model.modules())
