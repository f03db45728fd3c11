"""Fixtures of the train tests: real license records and the real SmolLM2-135M weights."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def license_records(license_schema):
    from tests.builder.license_records import reviewed_records

    records, _ = reviewed_records(license_schema, limit=12)
    return records


@pytest.fixture(scope="session")
def smollm_base(repo_root):
    """SmolLM2-135M converted once from its packaged GGUF (cached across runs)."""
    from train.base_models import resolve_base_model

    return resolve_base_model("smollm2-135m", repo_root)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of trainings: on a shared two-core machine, more threads only contend."""
    from tests.train.train_projects import one_cpu_thread

    with one_cpu_thread():
        yield


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A two-layer random Qwen2 (hidden 64, vocabulary 300) saved once: layer-level tests need no real weights."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    folder = tmp_path_factory.mktemp("tiny-qwen2")
    config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, use_cache=False)  # fmt: skip
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(folder)
    return folder
