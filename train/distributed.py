"""Training on several processes: the launch, who writes, and the FSDP settings.

`dsforge train --gpus N` starts N copies of `dsforge train` under `accelerate launch`
(`accelerate launch -m dsforge train ...` does the same by hand). Every copy runs
train.recipe.train; this module tells it how many copies there are and which one may write.

- DDP (`train.distributed: ddp`, the default): each rank holds the whole (4-bit) base on its
  own GPU and gradients are averaged. The global batch is batch_size × accumulation × N.
- FSDP (`train.distributed: fsdp`): FSDP2 shards the base across the GPUs, for a base whose
  4-bit weights plus activations do not fit one GPU. QLoRA then stores the 4-bit weights in
  the compute dtype (`bnb_4bit_quant_storage`) so FSDP can shard them like any float tensor
  (bitsandbytes' FSDP-QLoRA guide); transformers' Trainer wraps the LoRA layers separately with
  peft's `fsdp_auto_wrap_policy` and casts to the storage dtype. accelerate shards across GPUs
  only, so FSDP on CPU processes is refused rather than silently run as DDP.

Only rank 0 writes: checkpoints through the Trainer (rank-aware), the adapter, run card and
plots in train.recipe after the other ranks have returned. Folder clean-ups before training
run on rank 0 first, then on the others, who find nothing left to do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import TrainError

if TYPE_CHECKING:
    from train.loading import Hardware
    from core.options.train import TrainOptions


def processes() -> int:
    """How many processes train together (1 outside a distributed launch); never starts one."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes and reports."""
    return int(os.environ.get("RANK", "0")) == 0


def start(hardware: Hardware) -> None:
    """Join the process group (NCCL on GPUs, gloo on CPU) before anything else asks accelerate.

    accelerate's state is a singleton; the first caller decides the backend, so this runs
    before model loading and before trl (which asks `PartialState()` without a device).
    A single process is left to the Trainer, as before.
    """
    if processes() == 1:
        return
    from accelerate import PartialState

    PartialState(cpu=hardware.device == "cpu")


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (clean-ups, dataset caches), then the other ranks."""
    if processes() == 1:
        yield
        return
    from accelerate import PartialState

    with PartialState().main_process_first():
        yield


def strategy(opts: TrainOptions) -> str:
    """'single', 'ddp' or 'fsdp': what the run card records."""
    return "single" if processes() == 1 else opts.distributed


def uses_fsdp(opts: TrainOptions) -> bool:
    return strategy(opts) == "fsdp"


def check_fsdp_options(opts: TrainOptions, hardware: Hardware) -> None:
    """What FSDP-QLoRA cannot do, refused before minutes of loading."""
    if not uses_fsdp(opts):
        return
    if hardware.device != "cuda":
        raise TrainError(
            "train.distributed: fsdp needs CUDA GPUs (accelerate shards only across GPUs; CPU processes "
            "would silently run DDP); set train.distributed: ddp to train on CPU processes."
        )
    if opts.optimizer == "paged_adamw_8bit":
        raise TrainError(
            "train.optimizer paged_adamw_8bit fails when FSDP saves a checkpoint (peft's FSDP notes); "
            "leave train.optimizer at 'auto' with train.distributed: fsdp."
        )


def prepare_fsdp_loading(opts: TrainOptions) -> None:
    """Full-precision bases under FSDP: rank 0 reads the weights, the others start empty.

    transformers and accelerate read these variables (accelerate's
    `enable_fsdp_ram_efficient_loading`); a 4-bit base is quantised on every rank instead,
    because accelerate does not broadcast bitsandbytes parameters.
    """
    if not uses_fsdp(opts) or opts.training_method.loads_4bit:
        return
    from accelerate.utils import enable_fsdp_ram_efficient_loading

    os.environ["ACCELERATE_USE_FSDP"] = "true"
    enable_fsdp_ram_efficient_loading()


def trainer_args(opts: TrainOptions, hardware: Hardware) -> dict[str, Any]:
    """The SFTConfig fields a multi-process run adds; none for a single process."""
    if processes() == 1:
        return {}
    args: dict[str, Any] = {"use_cpu": hardware.device == "cpu"}
    if uses_fsdp(opts):
        args["fsdp"] = True
        args["fsdp_config"] = fsdp_config(opts)
    return args


def fsdp_config(opts: TrainOptions) -> dict[str, Any]:
    """FSDP2, whole decoder layers as shards (the model's `_no_split_modules`), LoRA layers apart.

    The Trainer replaces the wrap policy by peft's `fsdp_auto_wrap_policy` for a PeftModel
    and sets the mixed-precision dtype to the 4-bit storage dtype (transformers'
    `update_fsdp_plugin_peft`); `use_orig_params` is an FSDP1 setting FSDP2 always has on.
    """
    return {
        "version": 2,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "reshard_after_forward": True,
        "cpu_ram_efficient_loading": not opts.training_method.loads_4bit,
        "state_dict_type": "FULL_STATE_DICT",
    }


def quant_storage(opts: TrainOptions, hardware: Hardware) -> Any:
    """4-bit weights packed into the compute dtype under FSDP, so they shard like the rest."""
    return hardware.compute_dtype if uses_fsdp(opts) and opts.training_method.loads_4bit else None


def merge_hardware(opts: TrainOptions, hardware: Hardware) -> Hardware:
    """Merging loads the whole unquantised base: under FSDP that would not fit one GPU, so rank 0
    merges in CPU memory (slower, but a base sharded for training is large)."""
    if not uses_fsdp(opts):
        return hardware
    from train.loading import Hardware

    return Hardware("cpu", hardware.compute_dtype, "cpu")


def adapter_state(model: Any) -> dict[str, Any] | None:
    """The adapter's full tensors, gathered from FSDP2 shards; None when nothing is sharded.

    Every rank must call this (each `full_tensor()` is a collective); only rank 0 then writes.
    Gathering the trainable tensors alone keeps the frozen base sharded.
    """
    from torch.distributed.tensor import DTensor

    if not any(isinstance(p, DTensor) for p in model.parameters()):
        return None
    state = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            tensor = param.full_tensor() if isinstance(param, DTensor) else param
            state[name] = tensor.detach().cpu()
    return state


def run_card_fields(opts: TrainOptions, model: Any) -> dict[str, Any]:
    """Process count, strategy, global batch and how many tensors are sharded, for the run card.

    The sharded count is read off the trained model (FSDP2 turns parameters into DTensors),
    so the card shows what happened rather than what was asked for.
    """
    from torch.distributed.tensor import DTensor

    n = processes()
    return {
        "processes": n,
        "distributed": strategy(opts),
        "global_batch": opts.batch_size * opts.gradient_accumulation_steps * n,
        "sharded_tensors": sum(isinstance(p, DTensor) for p in model.parameters()),
    }


def launch_command(config: Path, gpus: int, progress: bool, port: int | None = None) -> list[str]:
    """`accelerate launch` running `dsforge train` once per GPU, on a free rendezvous port."""
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_machines", "1", "--num_processes", str(gpus),
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(port or free_port()),
        "-m", "dsforge", "train", "--config", str(config), "--progress" if progress else "--no-progress",
    ]  # fmt: skip


def launch(config: Path, gpus: int, progress: bool) -> int:
    """Run the training on `gpus` processes; returns their exit status.

    Without CUDA the processes run on the CPU over gloo: slow, but the same code path, which
    is how the tests prove it.
    """
    if processes() > 1:
        raise TrainError(
            "--gpus starts the processes itself; do not combine it with accelerate launch or torchrun."
        )
    import torch

    available = torch.cuda.device_count()
    if available and gpus > available:
        raise TrainError(f"--gpus {gpus} asks for more GPUs than the {available} this machine has.")
    env = {**os.environ}
    if not available:
        env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(launch_command(config, gpus, progress), env=env, check=False).returncode


def free_port() -> int:
    """A port nothing listens on now, so runs on a shared machine do not meet at 29500."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
