"""Every `train.method` trains a step on SmolLM2-135M, saves, loads back through `dsforge eval` and generates."""

from __future__ import annotations

import json

import pytest

from core.config import load_config
from core.layout import TrainPaths
from core.options.train import TrainOptions
from schemas.types import content_id
from tests.train.train_projects import one_cpu_thread, write_project
from train.base_models import resolve_base_model
from train.evaluate import evaluate
from train.recipe import run_fingerprint, train

PEFT_TYPES = {
    "lora": "LORA",
    "dora": "LORA",
    "ia3": "IA3",
    "prefix": "PREFIX_TUNING",
    "prompt": "PROMPT_TUNING",
}
VIRTUAL = 4
R = 2


def expected_trainable(method: str, config: dict) -> int:
    """Trainable parameters from the architecture alone (rank R on q_proj and v_proj for the LoRA family)."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    kv = config["num_key_value_heads"] * hidden // config["num_attention_heads"]
    lora = layers * R * ((hidden + hidden) + (hidden + kv))  # r * (in + out) for q and v
    return {
        "lora": lora,
        "dora": lora + layers * (hidden + kv),  # plus one magnitude per output feature
        "ia3": layers * (kv + kv + config["intermediate_size"]),  # k and v outputs, down_proj inputs
        "prefix": VIRTUAL * layers * 2 * kv,  # a key and a value vector per layer and virtual token
        "prompt": VIRTUAL * hidden,  # one input embedding per virtual token
    }[method]


@pytest.mark.parametrize("method", list(PEFT_TYPES))
def test_method_trains_saves_loads_and_generates(method, tmp_path, license_records, repo_root, smollm_base):
    probe = tmp_path / "probe.txt"
    probe.write_text(
        "The quick brown fox jumps over the lazy dog, and the dog does not mind at all.\n", "utf-8"
    )
    train_opts = {
        "base_model": "smollm2-135m",
        "method": method,
        "max_steps": 1,
        "batch_size": 1,
        "gradient_accumulation_steps": 1,
        "warmup_ratio": 0.0,  # one step: a warmup would leave its learning rate at 0
        "eval_steps": 1,
        "max_seq_len": 96,
        "lora_r": R,
        "num_virtual_tokens": VIRTUAL,
        "compute_dtype": "float32",  # one step's change is below bf16's resolution
        "packing": "off",
    }
    if method != "ia3":  # IA³ keeps peft's per-architecture layers (k, v, down_proj)
        train_opts["target_modules"] = ["q_proj", "v_proj"]
    config_path = write_project(
        tmp_path,
        license_records,
        repo_root,
        train=train_opts,
        eval_={
            "max_examples": 2,
            "max_new_tokens": 4,
            "batch_size": 2,
            "probe_file": str(probe),
            "probe_window": 16,
            "examples_shown": 1,
        },
    )
    config = load_config(config_path)
    with one_cpu_thread():
        card = train(config, show_progress=False)
        result = evaluate(config, show_progress=False)

    paths = TrainPaths(config.output_dir)
    adapter_config = json.loads((paths.adapter / "adapter_config.json").read_text("utf-8"))
    assert adapter_config["peft_type"] == PEFT_TYPES[method]
    assert adapter_config.get("use_dora", False) == (method == "dora")
    model_config = json.loads((smollm_base.path / "config.json").read_text("utf-8"))
    trainable = int(card.memory_policy["trainable_parameters"].split()[0])
    assert trainable == expected_trainable(method, model_config)
    assert card.hyperparameters["method"] == method and card.memory_policy["method"] == method
    assert f"- method: {method}" in paths.run_card.read_text("utf-8")

    # Loaded back by eval, the adapter changes the model: scores differ from the base's.
    base, tuned = result["overall"]["base"], result["overall"]["tuned"]
    assert tuned["perplexity"] != base["perplexity"]
    assert tuned["probe_perplexity"] != base["probe_perplexity"]
    rows = [json.loads(line) for line in paths.predictions.read_text("utf-8").splitlines()]
    assert len(rows) == 2 and all(isinstance(r["tuned"], str) for r in rows)
    assert any(r["tuned"] for r in rows)  # generated something
    change = result["forgetting"]["change"]
    assert change == pytest.approx(tuned["probe_perplexity"] / base["probe_perplexity"] - 1)
    assert (result["forgetting"]["warning"] is not None) == (change > 0.02)


def test_method_defaults_and_old_configs():
    default = TrainOptions()  # auto: chosen from the hardware when training starts
    assert (default.method, default.mode, default.learning_rate) == ("auto", "qlora", 2e-4)
    with pytest.warns(FutureWarning, match="train.mode is deprecated; write `method: lora`"):
        assert TrainOptions(mode="lora").method == "lora"
    assert TrainOptions(method="dora").mode == "lora"  # only qlora loads the base in 4-bit
    assert TrainOptions(method="ia3").learning_rate == 3e-3  # per-method default...
    assert TrainOptions(method="ia3", learning_rate=1e-4).learning_rate == 1e-4  # ...unless set
    assert TrainOptions(method="prefix").gradient_checkpointing is False
    with pytest.raises(ValueError, match="drop train.mode"):
        TrainOptions(method="dora", mode="qlora")
    with pytest.raises(ValueError, match="cannot be merged"):
        TrainOptions(method="prompt", merge=True)
    with pytest.raises(ValueError, match="gradient checkpointing"):
        TrainOptions(method="prefix", gradient_checkpointing=True)


def test_an_old_config_keeps_its_run_fingerprint(repo_root, smollm_base):
    """A finished run of a config written before `method`, `replay`, `fused_lora` or `compile_layers: auto`
    existed is not retrained."""
    base = resolve_base_model("smollm2-135m", repo_root)
    opts = TrainOptions(mode="lora", max_steps=3)
    new_fields = {"method", "num_virtual_tokens", "prompt_init_text", "replay", "distributed", "fused_lora",
                  "checkpoint_keep", "checkpoint_reentrant", "checkpoint_layers", "offload_activations",
                  "objective", "beta", "start_from", "report_to", "kl_to_base", "gpu_memory_gib"}  # fmt: skip
    old_dump = opts.model_dump(mode="json", exclude={"merge", "min_train_examples"} | new_fields)
    old_dump["compile_layers"] = False  # a switch then, off by default; `auto` now
    assert run_fingerprint(opts, "data-x", base) == content_id(
        old_dump, "data-x", base.provenance, prefix="run-"
    )
    assert run_fingerprint(TrainOptions(method="dora"), "data-x", base) != run_fingerprint(
        TrainOptions(method="lora"), "data-x", base
    )
    assert run_fingerprint(TrainOptions(replay=0.1), "data-x", base) != run_fingerprint(opts, "data-x", base)
    # an old `compile_layers: true` is `on`, and keeps its run
    assert run_fingerprint(TrainOptions(compile_layers=True), "data-x", base) == run_fingerprint(
        TrainOptions(compile_layers="on"), "data-x", base
    ) == run_fingerprint(TrainOptions(compile_layers="graphs"), "data-x", base) != run_fingerprint(
        TrainOptions(), "data-x", base
    )
    held = run_fingerprint(TrainOptions(gpu_memory_gib=30), "data-x", base)  # may fit another batch
    assert held != run_fingerprint(TrainOptions(), "data-x", base)
