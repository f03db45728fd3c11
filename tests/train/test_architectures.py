"""The base architectures users pick train correctly: Qwen2, Llama, Mistral, Gemma, Gemma 2, Gemma 3, Phi-3.

Each runs as a tiny random checkpoint (tests/train/architectures.py) through the real paths:
the packing equivalence of tests/train/test_packing.py with a sliding window shorter than the
records and soft-capping where the architecture has them; LoRA training with packing, merged
into the base and reloaded; QLoRA with the fused LoRA layers; target modules by role.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from core.config import load_config
from core.errors import ConfigError
from core.layout import TrainPaths
from core.options.train import TrainOptions
from tests.train.architectures import ARCHITECTURES, SOFTCAP, WINDOW, WINDOWED, save_tiny_base
from tests.train.train_projects import write_project
from train.base_models import base_config
from train.data import conversational, load_splits
from train.loading import Hardware, load_model, load_tokenizer
from train.packing import VARLEN_ATTENTION, attention_implementation, register_varlen_attention
from train.target_modules import check_before_loading, linear_layers, skeleton
from train.trainer_setup import sft_config

CPU = Hardware("cpu", torch.float32, "cpu")
CUDA = Hardware("cuda", torch.bfloat16, "a GPU")
ALL = list(ARCHITECTURES)
LOGITS_ATOL = 1e-4


@pytest.fixture(scope="module")
def tiny_bases(tmp_path_factory, smollm_base):
    folder = tmp_path_factory.mktemp("architectures")
    return {name: save_tiny_base(name, smollm_base.path, folder / name) for name in ALL}


@pytest.fixture(scope="module")
def packed_batch(tmp_path_factory, license_records, repo_root, tiny_bases):
    """One padding-free batch of several license records, as trl's packing collator makes it."""
    from trl import SFTTrainer

    folder = tmp_path_factory.mktemp("packed")
    config = load_config(write_project(folder, license_records, repo_root, train={"base_model": "x"}))
    data = load_splits(TrainPaths(config.output_dir).dataset)
    path = tiny_bases["llama"]
    trainer = SFTTrainer(
        model=load_model(path, CPU, load_in_4bit=False, attn_implementation="sdpa"),
        args=sft_config(
            TrainOptions(packing="on", max_seq_len=512, batch_size=2, min_train_examples=0),
            CPU,
            folder / "ckpt",
            show_progress=False,
            liger_kernels=False,
        ),  # fmt: skip
        train_dataset=conversational(data["train"]),
        eval_dataset=conversational(data["validation"]),
        processing_class=load_tokenizer(path),
    )
    batch = next(iter(trainer.get_train_dataloader()))
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    records = list(zip(starts, starts[1:] + [batch["input_ids"].shape[1]]))
    assert len(records) >= 3 and max(end - start for start, end in records) > 4 * WINDOW
    return batch, records


def _load(path, **config_overrides):
    config = base_config(path)
    for key, value in config_overrides.items():
        setattr(config, key, value)
    choice = attention_implementation(True, CPU, config)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, config=config, dtype=torch.float32,
                                                 attn_implementation=choice.implementation)  # fmt: skip
    return model.eval(), choice


def _logits(model, batch, records):
    with torch.no_grad():
        together = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        alone = [model(input_ids=batch["input_ids"][:, s:e]).logits[0] for s, e in records]
    return together, alone


@pytest.mark.parametrize("arch", ALL)
def test_a_record_in_a_pack_has_the_logits_it_has_alone(arch, tiny_bases, packed_batch):
    batch, records = packed_batch
    model, choice = _load(tiny_bases[arch])
    assert choice.implementation == ("eager" if arch == "gemma2" else "sdpa")
    together, alone = _logits(model, batch, records)
    for (start, end), lone in zip(records, alone):
        torch.testing.assert_close(together[start:end], lone, atol=LOGITS_ATOL, rtol=0)


@pytest.mark.parametrize("arch", WINDOWED)
def test_the_window_and_the_soft_cap_really_change_the_logits_being_compared(arch, tiny_bases, packed_batch):
    """Else the equivalence above would hold whether or not the pack honoured them."""
    batch, records = packed_batch
    start, end = max(records, key=lambda r: r[1] - r[0])
    kept, _ = _load(tiny_bases[arch])
    unbounded, _ = _load(tiny_bases[arch], sliding_window=4096)
    with torch.no_grad():
        ids = batch["input_ids"][:, start:end]
        window_effect = (kept(input_ids=ids).logits - unbounded(input_ids=ids).logits).abs().max().item()
        assert window_effect > 100 * LOGITS_ATOL
        if arch == "gemma2":
            uncapped, _ = _load(tiny_bases[arch], attn_logit_softcapping=None)
            cap_effect = (kept(input_ids=ids).logits - uncapped(input_ids=ids).logits).abs().max().item()
            assert cap_effect > 100 * LOGITS_ATOL


# Gemma 2 soft-caps, so it never gets the varlen attention (the CUDA choice test below).
@pytest.mark.parametrize("arch", [name for name in WINDOWED if name != "gemma2"])
def test_the_varlen_attention_s_unpacked_path_keeps_the_window(arch, tiny_bases):
    """Unpacked (padded) batches under `dsforge_varlen` go through SDPA with a mask built here, window included."""
    register_varlen_attention()
    path = tiny_bases[arch]
    from transformers import AutoModelForCausalLM

    varlen = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation=VARLEN_ATTENTION
    )
    reference = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    torch.manual_seed(1)
    ids = torch.randint(5, 1000, (2, 5 * WINDOW))
    mask = torch.ones_like(ids)
    mask[1, : 2 * WINDOW] = 0  # left padding on the second row
    with torch.no_grad():
        got = varlen.eval()(input_ids=ids, attention_mask=mask).logits
        want = reference.eval()(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(got[0], want[0], atol=LOGITS_ATOL, rtol=0)
    torch.testing.assert_close(got[1, 2 * WINDOW :], want[1, 2 * WINDOW :], atol=LOGITS_ATOL, rtol=0)


@pytest.mark.parametrize("arch", ALL)
def test_the_cuda_choice_honours_the_architecture_or_falls_back(arch, tiny_bases, monkeypatch):
    import train.packing as packing

    monkeypatch.setattr(packing, "varlen_available", lambda: True)
    config = base_config(tiny_bases[arch])
    choice = attention_implementation(True, CUDA, config)
    if arch == "gemma2":  # no varlen kernel soft-caps: eager with the per-record mask, and the card says why
        assert choice.implementation == "eager"
        assert f"soft-caps attention logits at {SOFTCAP:g}" in choice.reason
    else:
        assert choice.implementation == VARLEN_ATTENTION
        assert (f"sliding window of {WINDOW} tokens kept" in choice.reason) == (arch in WINDOWED)


def _train_project(tmp_path, records, repo_root, base, **train):
    options = {"base_model": str(base), "max_steps": 2, "batch_size": 2, "gradient_accumulation_steps": 1,
               "eval_steps": 2, "max_seq_len": 256, "lora_r": 4, "lora_dropout": 0.0, "packing": "on",
               "compute_dtype": "float32", "gradient_checkpointing": False, **train}  # fmt: skip
    return load_config(write_project(tmp_path, records, repo_root, train=options))


@pytest.mark.parametrize("arch", ALL)
def test_lora_trains_packed_merges_into_the_base_and_reloads(arch, tiny_bases, tmp_path, license_records,
                                                              repo_root, one_torch_thread):  # fmt: skip
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from train.recipe import train

    config = _train_project(tmp_path, license_records, repo_root, tiny_bases[arch], method="lora",
                            target_modules="all-linear", merge=True, learning_rate=1e-2)  # fmt: skip
    card = train(config, show_progress=False)
    assert card.status == "complete" and card.steps == 2 and math.isfinite(card.final_train_loss)
    assert "per-record attention" in card.memory_policy["packing"]
    assert ("eager attention" if arch == "gemma2" else "SDPA") in card.memory_policy["attention"]

    paths = TrainPaths(config.output_dir)
    ids = torch.tensor([list(range(10, 10 + 3 * WINDOW))])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(tiny_bases[arch], dtype=torch.float32)
        before = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, paths.adapter).eval()(input_ids=ids).logits
        merged = (
            AutoModelForCausalLM.from_pretrained(paths.merged, dtype=torch.float32)
            .eval()(input_ids=ids)
            .logits
        )
    assert (adapted - before).abs().max() > 100 * LOGITS_ATOL  # the adapter changed something
    torch.testing.assert_close(merged, adapted, atol=LOGITS_ATOL, rtol=0)


@pytest.mark.parametrize("arch", ALL)
def test_qlora_trains_with_the_fused_lora_layers(arch, tiny_bases, tmp_path, license_records, repo_root,
                                                 one_torch_thread):  # fmt: skip
    from train.recipe import train

    config = _train_project(tmp_path, license_records, repo_root, tiny_bases[arch], method="qlora",
                            fused_lora="on", target_modules="mlp")  # fmt: skip
    card = train(config, show_progress=False)
    assert card.status == "complete" and card.steps == 2 and math.isfinite(card.final_train_loss)
    assert "one autograd node each" in card.memory_policy.get("fused_lora", "")  # the fused layers ran
    adapter = json.loads((TrainPaths(config.output_dir).adapter / "adapter_config.json").read_text("utf-8"))
    mlp = {"phi3": {"gate_up_proj", "down_proj"}}.get(arch, {"gate_proj", "up_proj", "down_proj"})
    assert set(adapter["target_modules"]) == mlp


def test_roles_name_each_architecture_s_own_layers(tiny_bases):
    phi3 = linear_layers(skeleton(base_config(tiny_bases["phi3"])))
    assert phi3["attention"] == ["o_proj", "qkv_proj"] and phi3["mlp"] == ["down_proj", "gate_up_proj"]
    llama = linear_layers(skeleton(base_config(tiny_bases["llama"])))
    assert llama["attention"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert llama["mlp"] == ["down_proj", "gate_proj", "up_proj"]
    assert "lm_head" not in llama["all-linear"]
    assert check_before_loading(["q_proj", "v_proj"], base_config(tiny_bases["mistral"])) == [
        "q_proj",
        "v_proj",
    ]


def test_another_architecture_s_layer_names_fail_before_the_weights_load(tiny_bases, tmp_path, license_records,
                                                                          repo_root, monkeypatch):  # fmt: skip
    import train.recipe as recipe

    def must_not_load(*args, **kwargs):
        raise AssertionError("weights were loaded before the target modules were checked")

    monkeypatch.setattr(recipe, "load_model", must_not_load)
    config = _train_project(tmp_path, license_records, repo_root, tiny_bases["phi3"], method="lora",
                            target_modules=["q_proj", "v_proj"])  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        recipe.train(config, show_progress=False)
    message = str(caught.value)
    assert "q_proj, v_proj, which the phi3 architecture does not have" in message
    assert "attention = o_proj, qkv_proj" in message and "mlp = down_proj, gate_up_proj" in message


def test_a_role_is_a_valid_option_and_an_unknown_word_is_not():
    assert TrainOptions(target_modules="attention").target_modules == "attention"
    with pytest.raises(ValueError):
        TrainOptions(target_modules="everything")
