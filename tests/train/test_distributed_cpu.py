"""`dsforge train --gpus 2` on CPU: two real processes over gloo against one process, same global batch.

Two ranks with one record each see, at every optimiser step, the same two records as one
process with batch 2: the Trainer's seeded sampler gives every rank the same permutation,
accelerate hands rank r the batches r, r+2, ... of it, and the loss is averaged over the
tokens of both ranks (`average_tokens_across_devices`). Dropout is off and LoRA's A matrices
are drawn from the run's seed, so both runs compute the same function; what remains is float
rounding (other padding widths, gradients summed by all-reduce instead of inside one matmul).

FSDP: accelerate shards only across GPUs (a CPU launch would run DDP, so dsforge refuses it),
but torch's FSDP2 runs on CPU: tests/train/fsdp_step.py shards the LoRA model over two gloo
processes, trains, and gathers the adapter with the code train.recipe saves it with. The
Trainer's FSDP settings are checked as built.

The base is SmolLM2-135M's architecture and tokenizer (chat template included) shrunk to two
layers of width 64 with random weights: the processes, the data path and the writes are real,
and training takes seconds instead of minutes on a shared two-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from core.config import load_config
from core.layout import TrainPaths
from tests.train.train_projects import one_cpu_thread, write_project
from train.recipe import train
from train.run_card import RunCard

TINY = {
    "mode": "lora",
    "max_steps": 4,
    "gradient_accumulation_steps": 1,
    "gradient_checkpointing": False,
    "eval_steps": 2,
    "logging_steps": 1,
    "max_seq_len": 96,
    "lora_r": 4,
    "lora_dropout": 0.0,
    "target_modules": ["q_proj", "v_proj"],
    "warmup_ratio": 0.0,
    "learning_rate": 1e-3,
    "compute_dtype": "float32",  # the two runs are compared to 1e-4
    "packing": "off",  # batch 2 in one process must hold what batch 1 holds in each of two
}
# Seen: 2.7e-08 with lora_B entries up to 2.5e-03. Adam divides each step by the gradient's
# running RMS, which can blow rounding noise up where a gradient is near zero: hence 1e-6.
MAX_ABS_DIFF = 1e-6


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, smollm_base) -> Path:
    """SmolLM2's architecture and tokenizer, two layers of width 64, random weights (seed 0)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(smollm_base.path, local_files_only=True, trust_remote_code=False)
    config.update({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16})  # fmt: skip
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    folder = tmp_path_factory.mktemp("tiny-base")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(
        smollm_base.path, local_files_only=True, trust_remote_code=False
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory, license_records, repo_root, tiny_base):
    """The same data and seed twice: 2 processes with batch 1, 1 process with batch 2."""
    root = tmp_path_factory.mktemp("distributed")
    tiny = {**TINY, "base_model": str(tiny_base)}
    two = write_project(root / "ddp", license_records, repo_root, train={**tiny, "batch_size": 1})
    one = write_project(root / "one", license_records, repo_root, train={**tiny, "batch_size": 2})
    command = [sys.executable, "-m", "dsforge", "train", "-c", str(two), "--gpus", "2", "--no-progress"]
    with one_cpu_thread() as env:
        done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-4000:]
        single = train(load_config(one), show_progress=False)
    paths = {"ddp": TrainPaths(root / "ddp" / "build"), "one": TrainPaths(root / "one" / "build")}
    return paths, single, done.stderr


def _adapter_diff(paths: dict[str, TrainPaths], name: str) -> tuple[float, float]:
    """Largest |difference| of the run's LoRA tensors from one process's, and the largest learned lora_B entry."""
    got = load_file(str(paths[name].adapter / "adapter_model.safetensors"))
    want = load_file(str(paths["one"].adapter / "adapter_model.safetensors"))
    assert got.keys() == want.keys() and got
    diff = max(float((got[k] - want[k]).abs().max()) for k in got)
    learned = max(
        float(want[k].abs().max()) for k in want if "lora_B" in k
    )  # B starts at 0: all of it learned
    print(
        f"\n{name}: max |LoRA two processes - one process| = {diff:.3g}; largest lora_B entry {learned:.3g}"
    )
    return diff, learned


def test_two_processes_train_the_adapter_one_process_trains(runs):
    paths, single, _ = runs
    diff, learned = _adapter_diff(paths, "ddp")
    card = RunCard.model_validate_json(paths["ddp"].run_json.read_text("utf-8"))
    losses = [(e["step"], e["loss"]) for e in card.log_history if "loss" in e]
    reference = [(e["step"], e["loss"]) for e in single.log_history if "loss" in e]

    assert card.status == "complete" and card.steps == single.steps == 4
    assert card.hardware["processes"] == 2 and card.hardware["distributed"] == "ddp"
    assert card.hardware["global_batch"] == single.hardware["global_batch"] == 2
    assert card.hardware["sharded_tensors"] == single.hardware["sharded_tensors"] == 0
    assert single.hardware["processes"] == 1 and single.hardware["distributed"] == "single"
    assert card.best_checkpoint == single.best_checkpoint
    assert [s for s, _ in losses] == [s for s, _ in reference] == [1, 2, 3, 4]
    for (_, got), (_, want) in zip(losses, reference, strict=True):
        assert got == pytest.approx(want, rel=1e-5)
    assert learned > 100 * MAX_ABS_DIFF  # training moved the adapter far past the tolerance
    assert diff <= MAX_ABS_DIFF


def test_only_rank_zero_writes(runs):
    paths, _, stderr = runs
    two, one = paths["ddp"], paths["one"]

    def listing(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir())

    assert listing(two.root) == [
        "RUN_CARD.md",
        "adapter",
        "checkpoints",
        "loss.png",
        "run.json",
    ]  # no temp folders
    assert listing(two.adapter) == listing(one.adapter)
    assert listing(two.checkpoints) == listing(one.checkpoints)
    assert "checkpoint-2" in listing(two.checkpoints) and "checkpoint-4" in listing(two.checkpoints)
    for split in ("train", "validation"):  # datasets' map caches: written once, no half-written twins
        assert listing(two.dataset / split) == listing(one.dataset / split)
    assert stderr.count("best val loss") == 1  # one summary table, from rank 0


def test_fsdp2_shards_lora_over_two_processes_and_gathers_the_adapter(
    tmp_path, tiny_base, license_records, repo_root
):
    from train.distributed import free_port

    records = [{k: getattr(r, k) for k in ("instruction", "input", "output")} for r in license_records[:2]]
    (tmp_path / "records.json").write_text(json.dumps(records), "utf-8")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
               "tests/train/fsdp_step.py", str(tiny_base), str(tmp_path / "records.json"), str(tmp_path)]  # fmt: skip
    with one_cpu_thread() as env:
        done = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads((tmp_path / "result.json").read_text("utf-8"))
    print(f"\nFSDP2: max |LoRA sharded - unsharded| = {result['max_abs_diff']:.3g}; "
          f"largest lora_B {result['largest_lora_B']:.3g}, largest lora_A change {result['largest_lora_A_change']:.3g}")  # fmt: skip
    assert result["sharded_tensors"] > 0  # the model really was split across the two processes
    assert result["largest_lora_B"] > 1e-2 and result["largest_lora_A_change"] > 1e-2
    assert result["max_abs_diff"] <= MAX_ABS_DIFF
    saved = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    assert len(saved) == len(result["keys"]) == 8  # q and v of two layers, A and B: whole tensors, not shards
    assert {tuple(t.shape) for t in saved.values()} == {(4, 64), (64, 4), (32, 4)}


@pytest.fixture
def process_state_restored():
    """Building FSDP trainer arguments in this process sets accelerate's environment variables and
    its process-wide state; later in-process trainings must not inherit them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def test_fsdp_settings_for_the_trainer(monkeypatch, tmp_path, tiny_base, process_state_restored):
    import torch
    from trl import SFTConfig

    from core.errors import TrainError
    from core.options.train import TrainOptions
    from train import distributed
    from train.loading import Hardware, load_model

    gpu = Hardware("cuda", torch.bfloat16, "any GPU")
    qlora = TrainOptions(distributed="fsdp")
    assert distributed.trainer_args(qlora, gpu) == {}  # one process: nothing distributed
    monkeypatch.setenv("WORLD_SIZE", "2")  # what accelerate launch sets in each process
    assert (
        distributed.quant_storage(qlora, gpu) == torch.bfloat16
    )  # 4-bit weights packed in bf16, FSDP shards them
    assert distributed.quant_storage(TrainOptions(distributed="ddp"), gpu) is None
    args = distributed.trainer_args(qlora, gpu)
    assert args["use_cpu"] is False and args["fsdp"] is True
    monkeypatch.delenv("WORLD_SIZE")  # build the config as one process: no process group here
    fields = {k: v for k, v in args.items() if k != "use_cpu"}
    plugin = SFTConfig(output_dir=str(tmp_path), report_to="none", bf16=False, **fields).fsdp_plugin_args
    assert plugin["fsdp_version"] == 2 and plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert plugin["cpu_ram_efficient_loading"] is False  # accelerate does not broadcast 4-bit weights
    assert plugin["state_dict_type"] == "FULL_STATE_DICT" and plugin["reshard_after_forward"] is True
    assert distributed.fsdp_config(TrainOptions(distributed="fsdp", mode="lora"))["cpu_ram_efficient_loading"]

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(TrainError, match="needs CUDA"):
        distributed.check_fsdp_options(qlora, Hardware("cpu", torch.float32, "cpu"))
    with pytest.raises(TrainError, match="paged_adamw_8bit"):
        distributed.check_fsdp_options(TrainOptions(distributed="fsdp", optimizer="paged_adamw_8bit"), gpu)

    cpu = Hardware("cpu", torch.float32, "cpu")
    packed = load_model(tiny_base, cpu, load_in_4bit=True, for_training=False, quant_storage=torch.float32)
    plain = load_model(tiny_base, cpu, load_in_4bit=True, for_training=False)
    proj = "model.layers.0.self_attn.q_proj.weight"
    assert dict(packed.named_parameters())[proj].dtype == torch.float32
    assert dict(plain.named_parameters())[proj].dtype == torch.uint8
