"""The 4-bit QLoRA path on CPU (bitsandbytes' CPU backend) and the guardrails around it."""

from __future__ import annotations

import pytest
import torch

from core.config import load_config
from core.errors import TrainError
from core.layout import TrainPaths
from core.options.train import TrainOptions
from tests.train.train_projects import write_project
from train.data import load_splits
from train.data_checks import data_warnings
from train.loading import Hardware, check_chat_template, check_quantised_dtype, load_model, load_tokenizer
from train.merge import read_merge_card
from train.recipe import train
from train.run_card import read_run_card

CPU = Hardware("cpu", torch.float32, "cpu")


def test_qlora_trains_a_step_on_a_4bit_nf4_base(tmp_path, license_records, repo_root, smollm_base):
    config_path = write_project(
        tmp_path,
        license_records,
        repo_root,
        train={
            "base_model": "smollm2-135m",
            "mode": "qlora",
            "max_steps": 1,
            "batch_size": 1,
            "gradient_accumulation_steps": 1,
            "eval_steps": 1,
            "max_seq_len": 96,
            "lora_r": 4,
            "target_modules": ["q_proj", "v_proj"],
            "merge": True,
        },
    )
    config = load_config(config_path)
    card = train(config, show_progress=False)
    assert card.steps == 1 and card.status == "complete"
    assert card.memory_policy["quantisation"] == "4-bit NF4, double quantisation"
    assert card.memory_policy["checkpoint"] == "reentrant"  # one process keeping nothing: the lighter kind
    assert card.hyperparameters["optimizer"] == "adamw_torch"  # paged 8-bit AdamW is CUDA-only
    paths = TrainPaths(config.output_dir)
    assert (paths.adapter / "adapter_model.safetensors").is_file()

    # train.merge: the adapter folded into the dequantised base, with the lineage `dsforge merge` writes.
    merged = read_merge_card(paths.merged)
    assert merged is not None and merged.kind == "model" and merged.options.into_base
    assert [(i.source, i.fingerprint, i.path) for i in merged.inputs] == [
        ("run", card.fingerprint, str(paths.adapter.resolve()))
    ]
    assert (paths.merged / "config.json").is_file() and not (paths.merged / "adapter_config.json").exists()
    assert read_run_card(paths.run_json).artifacts.merged == str(paths.merged) == card.artifacts.merged


def test_4bit_loading_quantises_linear_layers_with_double_quant(smollm_base):
    import bitsandbytes as bnb

    model = load_model(smollm_base.path, CPU, load_in_4bit=True, for_training=False)
    linear4 = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert linear4
    state = linear4[0].weight.quant_state
    assert state.quant_type == "nf4"
    assert state.nested  # double quantisation: the scales are quantised too


def test_fp16_compute_with_4bit_is_refused():
    with pytest.raises(TrainError, match="bfloat16"):
        check_quantised_dtype(torch.float16, load_in_4bit=True)
    check_quantised_dtype(torch.float16, load_in_4bit=False)


def test_missing_chat_template_is_refused(smollm_base):
    tokenizer = load_tokenizer(smollm_base.path)
    assert "PROBE-ANSWER" in check_chat_template(tokenizer)
    tokenizer.chat_template = None
    with pytest.raises(TrainError, match="chat template"):
        check_chat_template(tokenizer)


def test_tiny_datasets_and_truncation_are_warned_about(tmp_path, license_records, repo_root, smollm_base):
    write_project(tmp_path, license_records, repo_root, train={})
    data = load_splits(tmp_path / "build" / "export" / "dataset")
    warnings = data_warnings(data, TrainOptions(max_seq_len=80), load_tokenizer(smollm_base.path))
    assert any("training records" in w for w in warnings)
    assert any("max_seq_len=80" in w for w in warnings)


def test_a_max_seq_len_that_leaves_no_answer_is_refused(tmp_path, license_records, repo_root, smollm_base):
    write_project(tmp_path, license_records, repo_root, train={})
    data = load_splits(tmp_path / "build" / "export" / "dataset")
    with pytest.raises(TrainError, match="max_seq_len=16"):
        data_warnings(data, TrainOptions(max_seq_len=16), load_tokenizer(smollm_base.path))
