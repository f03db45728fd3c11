"""`dsforge export-model`: a LoRA adapter on SmolLM2 written as a GGUF LoRA that the embedded llama.cpp
loads on the packaged base GGUF and that answers as transformers does with the adapter; what GGUF LoRA
cannot express is refused with the fix."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from core.errors import TrainError
from train.gguf_lora import export_lora_gguf

PROMPTS = ["The capital of France is", "def add(a, b):", "Once upon a time"]
COMPARED_TOKENS = 3


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, smollm_base):
    """A LoRA on every linear layer with B drawn non-zero (seeded): the adapter changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("lora") / "train" / "adapter"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(smollm_base.path, dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False)
    )
    peft_model.save_pretrained(folder)
    return folder, peft_model


def _greedy_hf(model, tokenizer) -> list[str]:
    import torch

    answers = []
    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=COMPARED_TOKENS, do_sample=False)
        answers.append(tokenizer.decode(out[0, ids.shape[1] :]))
    return answers


def _greedy_llama_cpp(lora_path) -> list[str]:
    import xllamacpp

    from builder import model_store

    params = xllamacpp.CommonParams()
    params.model.path = str(model_store.resolve_gguf("smollm2-135m"))
    params.n_ctx = 256
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    params.verbosity = -1
    if lora_path is not None:
        info = xllamacpp.CommonAdapterLoraInfo()
        info.path, info.scale = str(lora_path), 1.0
        params.lora_adapters = [info]
    server = xllamacpp.Server(params)
    answers = []
    for prompt in PROMPTS:
        request = {"prompt": prompt, "max_tokens": COMPARED_TOKENS, "temperature": 0.0}
        answers.append(server.handle_completions(request)["choices"][0]["text"])
    return answers


def test_the_gguf_lora_answers_as_the_adapter_does_on_the_packaged_base(adapter, smollm_base, tmp_path):
    """The base GGUF is Q4_1 and transformers runs its dequantised weights, so long greedy answers drift on
    near-ties (the bases alone part after a few tokens): the first three tokens are compared, and the
    adapter must change them for the comparison to mean anything."""
    from transformers import AutoTokenizer

    folder, peft_model = adapter
    config = json.loads((smollm_base.path / "config.json").read_text("utf-8"))
    written = export_lora_gguf(folder, config, tmp_path / "a.gguf", {"dsforge.run_fingerprint": "run-x"})
    assert written["architecture"] == "llama" and written["tensors"] == 7 * config["num_hidden_layers"]

    tokenizer = AutoTokenizer.from_pretrained(smollm_base.path)
    tuned_hf = _greedy_hf(peft_model, tokenizer)
    with peft_model.disable_adapter():
        base_hf = _greedy_hf(peft_model, tokenizer)
    assert tuned_hf != base_hf  # the adapter changes the answers
    assert _greedy_llama_cpp(tmp_path / "a.gguf") == tuned_hf
    assert _greedy_llama_cpp(None) == base_hf

    import gguf

    reader = gguf.GGUFReader(tmp_path / "a.gguf")
    fields = {name: field for name, field in reader.fields.items()}
    assert bytes(fields["adapter.type"].parts[-1]).decode() == "lora"
    assert bytes(fields["dsforge.run_fingerprint"].parts[-1]).decode() == "run-x"
    assert float(fields["adapter.lora.alpha"].parts[-1][0]) == 8.0


def test_export_model_command_writes_lora_modelfile_and_card(adapter, tmp_path, repo_root):
    import shutil

    from dsforge.cli import app

    folder, _ = adapter
    project = tmp_path / "p"
    shutil.copytree(folder, project / "build" / "train" / "adapter")
    (project / "build" / "train" / "run.json").write_text(
        json.dumps(
            {
                "fingerprint": "run-abc",
                "base_model": {"ref": "smollm2-135m"},
                "dataset": {"fingerprint": "data-1"},
            }
        )
    )
    (project / "dsforge.yaml").write_text(yaml.safe_dump({"output": "build", "schema": "s.py:S"}))
    shutil.copy(repo_root / "samples" / "license_schema.py", project / "s.py")
    args = ["export-model", "-c", str(project / "dsforge.yaml")]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    out = project / "build" / "model-export"
    modelfile = (out / "Modelfile").read_text("utf-8")
    assert modelfile.startswith("FROM /") and "ADAPTER ./train-lora.gguf" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile  # SmolLM2's chat template is ChatML
    card = (out / "MODEL_CARD.md").read_text("utf-8")
    assert "run-abc" in card and "data-1" in card and (out / "train-lora.gguf").is_file()

    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "exists; pass --force" in again.output
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0


def test_what_gguf_lora_cannot_express_is_refused(adapter, smollm_base, tmp_path):
    folder, _ = adapter
    config = json.loads((smollm_base.path / "config.json").read_text("utf-8"))
    with pytest.raises(TrainError, match=r"architectures .* this base is 'gemma2'.*Merge"):
        export_lora_gguf(folder, {**config, "model_type": "gemma2"}, tmp_path / "x.gguf")
    dora = tmp_path / "dora"
    dora.mkdir()
    settings = json.loads((folder / "adapter_config.json").read_text())
    (dora / "adapter_config.json").write_text(json.dumps({**settings, "use_dora": True}))
    with pytest.raises(TrainError, match="DoRA"):
        export_lora_gguf(dora, config, tmp_path / "x.gguf")
    (dora / "adapter_config.json").write_text(json.dumps({**settings, "peft_type": "PREFIX_TUNING"}))
    with pytest.raises(TrainError, match="PREFIX_TUNING adapter; GGUF adapters are LoRA only"):
        export_lora_gguf(dora, config, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_a_merged_gguf_answers_as_the_merged_model_and_carries_the_base_tokenizer(
    adapter, tmp_path, repo_root, smollm_base
):
    """F16 holds the merged floats to 1e-3: the greedy answers match for 8 tokens. The CLI writes it with a
    Modelfile FROM the merged file."""
    import shutil

    import gguf
    import xllamacpp
    from transformers import AutoTokenizer

    from builder import model_store
    from dsforge.cli import app

    folder, peft_model = adapter
    project = tmp_path / "p"
    shutil.copytree(folder, project / "build" / "train" / "adapter")
    (project / "build" / "train" / "run.json").write_text(json.dumps({"base_model": {"ref": "smollm2-135m"}}))
    (project / "dsforge.yaml").write_text(yaml.safe_dump({"output": "build", "schema": "s.py:S"}))
    shutil.copy(repo_root / "samples" / "license_schema.py", project / "s.py")
    result = CliRunner().invoke(app, ["export-model", "-c", str(project / "dsforge.yaml"), "--merged", "f16"])
    assert result.exit_code == 0, result.output
    out = project / "build" / "model-export"
    exported = out / "train-merged-f16.gguf"
    assert (out / "Modelfile").read_text("utf-8").startswith("FROM ./train-merged-f16.gguf\n")

    base = gguf.GGUFReader(str(model_store.resolve_gguf("smollm2-135m")))
    ours = gguf.GGUFReader(str(exported))
    for key in (
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
        "tokenizer.chat_template",
        "llama.block_count",
    ):
        assert ours.fields[key].contents() == base.fields[key].contents()
    assert [t.name for t in ours.tensors] == [t.name for t in base.tensors]

    import torch

    tokenizer = AutoTokenizer.from_pretrained(smollm_base.path)
    merged_answers = []  # the adapter applied by peft: what merging it into the weights computes

    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out_ids = peft_model.generate(ids, max_new_tokens=8, do_sample=False)
        merged_answers.append(tokenizer.decode(out_ids[0, ids.shape[1] :]))
    params = xllamacpp.CommonParams()
    params.model.path, params.n_ctx, params.verbosity = str(exported), 256, -1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    server = xllamacpp.Server(params)
    answers = [
        server.handle_completions({"prompt": p, "max_tokens": 8, "temperature": 0.0})["choices"][0]["text"]
        for p in PROMPTS
    ]
    assert answers == merged_answers

    refused = CliRunner().invoke(app, ["export-model", "-c", str(project / "dsforge.yaml"), "--merged", "q4"])
    assert refused.exit_code != 0 and "merged GGUF types are ['f16', 'q8_0']" in refused.output
