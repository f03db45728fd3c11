"""`dsforge merge` on CPU: two real SmolLM2-135M adapters of different seeds, fused and folded in."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from typer.testing import CliRunner

from core.config import load_config
from core.errors import TrainError
from core.layout import TrainPaths
from dsforge.cli import app
from tests.train.train_projects import TINY_TRAIN, write_project
from train.data import load_splits, prompt_messages
from train.evaluate import PROBE_FILE, evaluate
from train.loading import Hardware, load_model, load_tokenizer
from train.merge import MergeOptions, merge, read_merge_card
from train.recipe import train
from train.run_card import read_run_card

CPU = Hardware("cpu", torch.float32, "cpu")
# A high learning rate so two steps move the adapters well away from zero.
TINY = {**TINY_TRAIN, "max_steps": 2, "eval_steps": 2, "logging_steps": 1, "learning_rate": 1e-2, "warmup_ratio": 0.0}
EVAL = {"max_examples": 2, "max_new_tokens": 8, "batch_size": 2, "probe_window": 128, "examples_shown": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, license_records, repo_root, smollm_base):
    """Two adapters trained on the same data with different seeds, each in its own project."""
    configs = []
    for seed in (1, 2):
        folder = tmp_path_factory.mktemp(f"seed{seed}")
        (folder / "probe.txt").write_text(PROBE_FILE.read_text("utf-8")[:600], "utf-8")  # a short probe: quicker
        config = load_config(write_project(folder, license_records, repo_root, {**TINY, "seed": seed},
                                           {**EVAL, "probe_file": "probe.txt"}))  # fmt: skip
        train(config, show_progress=False)
        configs.append(config)
    return configs


@pytest.fixture(scope="module")
def merged(adapters, tmp_path_factory):
    paths = [TrainPaths(c.output_dir).adapter for c in adapters]
    out = tmp_path_factory.mktemp("merges") / "ties"
    card = merge(paths, out, MergeOptions(combination="ties", density=0.7))
    return paths, out, card


def _prompt_ids(config, tokenizer):
    row = load_splits(TrainPaths(config.output_dir).dataset)["test"][0]
    text = tokenizer.apply_chat_template(prompt_messages(row), tokenize=False, add_generation_prompt=True)
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]


def _logits(model, ids):
    with torch.inference_mode():
        return model(input_ids=ids).logits.float()


def test_merged_adapter_differs_from_both_inputs_and_loads_back(adapters, merged, smollm_base):
    (a, b), out, card = merged
    tokenizer = load_tokenizer(smollm_base.path)
    ids = _prompt_ids(adapters[0], tokenizer)
    model = PeftModel.from_pretrained(load_model(smollm_base.path, CPU, False, False), a, adapter_name="a")
    model.load_adapter(b, adapter_name="b")
    model.load_adapter(out, adapter_name="merged")  # read back from disk
    logits = {}
    for name in ("a", "b", "merged"):
        model.set_adapter(name)
        logits[name] = _logits(model, ids)
    with model.disable_adapter():
        logits["base"] = _logits(model, ids)

    def gap(x, y):
        return (logits[x] - logits[y]).abs().max().item()

    assert gap("a", "b") > 1e-2  # the seeds gave different adapters
    assert gap("merged", "a") > 1e-3 and gap("merged", "b") > 1e-3 and gap("merged", "base") > 1e-3
    assert model.peft_config["merged"].r == 4


def test_merge_card_records_every_inputs_lineage(adapters, merged, smollm_base):
    (a, b), out, card = merged
    saved = read_merge_card(out)
    assert saved == card and card.kind == "adapter" and card.density == 0.7 and card.weights == [1.0, 1.0]
    for item, config in zip(card.inputs, adapters, strict=True):
        run = read_run_card(TrainPaths(config.output_dir).run_json)
        assert item.source == "run" and item.fingerprint == run.fingerprint
        assert item.dataset["fingerprint"] == run.dataset["fingerprint"]
        assert item.hyperparameters["seed"] == run.hyperparameters["seed"]
        assert item.weights_sha256["adapter_model.safetensors"]
    assert [i.hyperparameters["seed"] for i in card.inputs] == [1, 2]
    assert card.base_model["gguf"]["sha256"] == smollm_base.provenance["gguf"]["sha256"]
    readme = (out / "README.md").read_text("utf-8")
    assert str(a.resolve()) in readme and str(b.resolve()) in readme and "ties" in readme
    assert json.loads((out / "adapter_config.json").read_text("utf-8"))["peft_type"] == "LORA"

    before = (out / "merge.json").stat().st_mtime_ns
    again = merge([a, b], out, MergeOptions(combination="ties", density=0.7))
    assert again.fingerprint == card.fingerprint
    assert (out / "merge.json").stat().st_mtime_ns == before  # already done: not redone


def test_eval_runs_on_the_merged_adapter(adapters, merged):
    _, out, card = merged
    config = adapters[0]
    config.eval = config.eval.model_copy(update={"tuned_path": out})
    try:
        result = evaluate(config, show_progress=False)
    finally:
        config.eval = config.eval.model_copy(update={"tuned_path": None})
    report = config.output_dir / "eval-ties" / "report.md"
    assert result["run_fingerprint"] == card.fingerprint and result["n_test"] == 2
    assert result["overall"]["tuned"]["perplexity"] != result["overall"]["base"]["perplexity"]
    assert result["tuned_model"]["kind"] == "adapter"
    text = report.read_text("utf-8")
    assert "| metric | base | tuned | Δ |" in text and str(out) in text
    # A merge trained nothing: the report names its inputs, not a run card of zero steps.
    assert "## Merge" in text and "## Run card" not in text and "0 steps" not in text
    assert all(f"| `{TrainPaths(a.output_dir).adapter}` |" in text for a in adapters)
    assert not TrainPaths(config.output_dir).report.exists()  # the project's own eval is left alone


def test_into_base_gives_a_full_model_with_the_adapters_logits(adapters, merged, smollm_base, tmp_path):
    _, out, card = merged
    full = tmp_path / "full"
    result = CliRunner().invoke(app, ["merge", str(out), "--out", str(full), "--into-base"])
    assert result.exit_code == 0, result.output
    saved = read_merge_card(full)
    assert saved.kind == "model" and saved.inputs[0].source == "merge"
    assert [i["fingerprint"] for i in saved.inputs[0].merged_from] == [i.fingerprint for i in card.inputs]
    assert not (full / "adapter_config.json").exists() and (full / "config.json").is_file()

    tokenizer = load_tokenizer(full)
    ids = _prompt_ids(adapters[0], tokenizer)
    reloaded = load_model(full, CPU, load_in_4bit=False, for_training=False)  # trust_remote_code=False
    on_base = PeftModel.from_pretrained(load_model(smollm_base.path, CPU, False, False), out)
    expected, got = _logits(on_base, ids), _logits(reloaded, ids)
    assert torch.allclose(got, expected, atol=1e-3, rtol=1e-4), (got - expected).abs().max()

    evaluated = CliRunner().invoke(
        app,
        ["eval", "-c", str(adapters[1].project_root / "dsforge.yaml"), "--model", str(full), "--no-progress"],
    )
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads((adapters[1].output_dir / "eval-full" / "metrics.json").read_text("utf-8"))
    assert metrics["tuned_model"]["kind"] == "model" and metrics["run_fingerprint"] == saved.fingerprint
    assert metrics["overall"]["tuned"]["perplexity"] != metrics["overall"]["base"]["perplexity"]


def test_bad_merges_are_refused_with_the_fix(merged, tmp_path):
    (a, b), _, _ = merged
    with pytest.raises(TrainError, match="--into-base"):
        merge([a], tmp_path / "x", MergeOptions())
    with pytest.raises(TrainError, match="one weight per adapter"):
        merge([a, b], tmp_path / "x", MergeOptions(weights=[1.0]))
    with pytest.raises(TrainError, match="not an adapter folder"):
        merge([a, tmp_path], tmp_path / "x", MergeOptions())
    with pytest.raises(TrainError, match="one of the inputs"):
        merge([a, b], a, MergeOptions())
    with pytest.raises(ValueError, match="density"):
        MergeOptions(combination="linear", density=0.5)
    assert not (tmp_path / "x").exists()


def test_dare_drops_are_repeatable_with_their_seed(merged, tmp_path):
    (a, b), _, _ = merged

    def weights(seed: int, name: str) -> tuple:
        merge([a, b], tmp_path / name, MergeOptions(combination="dare_linear", density=0.5, seed=seed))
        return read_merge_card(tmp_path / name), _sha256(tmp_path / name / "adapter_model.safetensors")

    (first, same), (second, again), (_, other) = weights(1, "one"), weights(1, "two"), weights(2, "three")
    assert same == again and same != other  # random drops, but the seed fixes them
    assert first.fingerprint == second.fingerprint and first.density == 0.5


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failed_train_merge_takes_the_run_card_with_it(tmp_path):
    """`train.merge` reads the run card, so the card is written first; a failed merge must not leave
    a finished-looking run that the next `dsforge train` would skip instead of merging."""
    from core.options.train import TrainOptions
    from train.plan import plan
    from train.recipe import merge_into_base

    paths = TrainPaths(tmp_path)
    paths.root.mkdir(parents=True)
    paths.run_json.write_text("{}", "utf-8")
    paths.run_card.write_text("# Run card\n", "utf-8")
    with pytest.raises(TrainError, match="not an adapter folder"):  # no adapter was saved
        merge_into_base(paths, plan(TrainOptions(merge=True), CPU, [], tokenizer=None), tmp_path)
    assert not paths.run_json.exists() and not paths.run_card.exists() and not paths.merged.exists()
