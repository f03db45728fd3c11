"""One rank of a two-process FSDP2 LoRA step on CPU (gloo), run by test_distributed_cpu under torchrun.

accelerate shards only across GPUs, so the Trainer's FSDP path cannot run on CPU; torch's
FSDP2 can. Each rank loads the base and LoRA through train.loading / train.trainer_setup, shards every
decoder layer and the root as the Trainer's transformer wrap policy does, trains one step on
its own record, and gathers the adapter with train.distributed.adapter_state. Rank 0 repeats
the step unsharded on both records and writes the comparison and the adapter it would save.

    python -m torch.distributed.run --nproc_per_node 2 tests/train/fsdp_step.py BASE RECORDS.json OUT
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from train import distributed  # noqa: E402
from train.data import prompt_messages  # noqa: E402
from train.loading import Hardware, load_model, load_tokenizer  # noqa: E402
from core.options.train import TrainOptions  # noqa: E402
from train.trainer_setup import add_lora  # noqa: E402

CPU = Hardware("cpu", torch.float32, "cpu")
OPTIONS = TrainOptions(mode="lora", lora_r=4, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])


def main(base: Path, records: list[dict[str, str]], out: Path) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers import set_seed

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    tokenizer = load_tokenizer(base)
    batch = [_encode(tokenizer, row) for row in records[:world]]
    total_tokens = sum(len(ids) - 1 for ids in batch)  # predicted tokens over all ranks

    set_seed(0)
    model, _ = add_lora(load_model(base, CPU, load_in_4bit=False), OPTIONS, CPU)
    reference = copy.deepcopy(model) if rank == 0 else None
    initial = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    mesh = init_device_mesh("cpu", (world,))
    for layer in model.base_model.model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)

    # Each rank's token sum over the global token count; FSDP averages gradients over ranks.
    ids = torch.tensor([batch[rank]])
    _train(model, lambda m: _token_sum(m, ids) / total_tokens * world)
    state = distributed.adapter_state(model)
    sharded = sum(isinstance(p, DTensor) for p in model.parameters())

    if rank == 0:
        assert reference is not None and state is not None
        _train(reference, lambda m: sum(_token_sum(m, torch.tensor([row])) for row in batch) / total_tokens)
        want = {n: p.detach() for n, p in reference.named_parameters() if p.requires_grad}
        diff = max(float((state[n] - want[n]).abs().max()) for n in want)
        moved = max(float(want[n].abs().max()) for n in want if "lora_B" in n)
        moved_a = max(float((want[n] - initial[n]).abs().max()) for n in want if "lora_A" in n)
        model_dir = out / "adapter"
        reference.save_pretrained(model_dir, state_dict=state)  # what rank 0 writes in train.recipe
        result = {
            "max_abs_diff": diff,
            "largest_lora_B": moved,
            "largest_lora_A_change": moved_a,
            "sharded_tensors": sharded,
            "keys": sorted(want),
        }
        (out / "result.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


def _encode(tokenizer: object, row: dict[str, str]) -> list[int]:
    messages = [*prompt_messages(row), {"role": "assistant", "content": row["output"]}]
    ids = tokenizer.apply_chat_template(messages, tokenize=True)  # type: ignore[attr-defined]
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    return list(ids)[:64]


def _token_sum(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=ids).logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), reduction="sum")


def _train(
    model: torch.nn.Module, loss_of: Callable[[torch.nn.Module], torch.Tensor], steps: int = 2
) -> None:
    """Two SGD steps: the first moves only LoRA's B (it starts at 0), the second A as well.

    Plain SGD moves each weight in proportion to its gradient, so a wrong gradient shows;
    Adam's first steps are nearly sign(gradient) and would hide one.
    """
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(steps):
        optimiser.zero_grad()
        loss_of(model).backward()
        optimiser.step()


if __name__ == "__main__":
    main(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text("utf-8")), Path(sys.argv[3]))
