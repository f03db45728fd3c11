"""Python code shipped inside a model folder never runs, whatever its config asks for."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import transformers

from core.errors import TrainError
from train.loading import Hardware, load_model, load_tokenizer


def test_a_model_folder_asking_to_run_its_code_is_refused_without_running_it(
    smollm_base, tmp_path, monkeypatch
):
    folder, ran = tmp_path / "custom-arch", tmp_path / "model code ran"
    shutil.copytree(smollm_base.path, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((folder / "config.json").read_text("utf-8"))
    config.update(
        model_type="custom-arch",
        auto_map={"AutoConfig": "custom.Config", "AutoModelForCausalLM": "custom.Model"},
    )
    (folder / "config.json").write_text(json.dumps(config), "utf-8")
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    tokenizer_config.pop("tokenizer_class", None)
    tokenizer_config["auto_map"] = {"AutoTokenizer": ["custom.Tokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), "utf-8")
    (folder / "custom.py").write_text(f"open({str(ran)!r}, 'w').close()\n", "utf-8")

    seen: list[dict] = []
    for auto in (transformers.AutoTokenizer, transformers.AutoModelForCausalLM):
        real = auto.from_pretrained

        def record(*args, _real=real, **kwargs):
            seen.append(kwargs)
            return _real(*args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", record)

    with pytest.raises(TrainError, match="never runs"):
        load_tokenizer(folder)
    with pytest.raises(TrainError, match="never runs"):
        load_model(folder, Hardware("cpu", torch.float32, "cpu"), load_in_4bit=False)

    assert not ran.exists()
    # Explicitly False: left unset, transformers asks on a terminal whether to run the code.
    assert [kwargs.get("trust_remote_code", "unset") for kwargs in seen] == [False, False]
