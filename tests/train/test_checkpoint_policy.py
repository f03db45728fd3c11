"""Selective checkpointing (`train.checkpoint_keep`) gives full checkpointing's gradients with less recompute.

The recompute is counted by a dispatch mode around the step: an op the checkpoint
kept is served from its cache in the backward and never reaches the counter, so
fewer counted ops mean less of the forward ran again. Tiny random Qwen2, fused
LoRA layers, CPU, float32.
"""

from __future__ import annotations

import pytest
import torch

from core.errors import TrainError
from core.options.train import TrainOptions
from tests.train.tiny_lora import tiny_lora
from train.checkpoint_policy import KEEPS, keep_in_checkpoint, use_reentrant
from train.loading import Hardware
from train.regional_compile import use_compiled_layers


def _model(path, keep: str, checkpointing: bool = True, reentrant: bool = False):
    # keep_in_checkpoint goes on before peft and the Trainer enable checkpointing, as train() does
    return tiny_lora(path, lambda model: keep_in_checkpoint(model, keep), checkpointing, reentrant)


class _OpCounter:
    """Counts the ops that really run; an op the checkpoint kept is served from its cache and never arrives."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        counts: dict[str, int] = {}

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                counts[func.__name__] = counts.get(func.__name__, 0) + 1
                return func(*args, **(kwargs or {}))

        self.counts, self.mode = counts, Mode()

    def matmuls(self) -> int:
        return sum(n for name, n in self.counts.items() if name.split(".")[0] in ("mm", "addmm"))

    def attention(self) -> int:
        return sum(n for name, n in self.counts.items() if name.startswith("_scaled_dot_product_flash_attention_for_cpu."))


def _step(model, ids):
    """One forward and backward under the counter (it must see both: it changes how some ops dispatch)."""
    counter = _OpCounter()
    torch.manual_seed(5)  # the same dropout masks for every model
    with counter.mode:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return counter, loss.item(), grads


def test_each_keep_gives_the_same_gradients_with_less_recompute(tiny_checkpoint):
    ids = torch.randint(0, 300, (2, 48), generator=torch.Generator().manual_seed(3))
    runs = {keep: _step(_model(tiny_checkpoint, keep), ids) for keep in KEEPS}
    unchecked, _, _ = _step(_model(tiny_checkpoint, "nothing", checkpointing=False), ids)
    _, full_loss, full_grads = runs["nothing"]
    for keep, (_, loss, grads) in runs.items():
        assert loss == full_loss, keep
        assert all(torch.equal(grads[n], full_grads[n]) for n in full_grads), keep
    count = {keep: run[0] for keep, run in runs.items()}
    layers = 2
    assert count["nothing"].attention() == 2 * layers  # the forward, then the recompute
    assert count["attention"].attention() == count["projections"].attention() == unchecked.attention() == layers
    assert count["nothing"].matmuls() == count["attention"].matmuls() > count["projections"].matmuls()
    assert count["projections"].matmuls() > count["matmuls"].matmuls() == unchecked.matmuls()


def test_the_run_card_line_and_the_wrapper_is_installed_once(tiny_checkpoint):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    assert keep_in_checkpoint(model, "nothing").startswith("nothing")
    assert "≤ 64 wide" in keep_in_checkpoint(model, "projections")
    wrapper = model.gradient_checkpointing_enable
    keep_in_checkpoint(model, "projections")
    assert model.gradient_checkpointing_enable is wrapper


def test_compiled_layers_and_a_selective_checkpoint_are_not_combined():
    cuda = Hardware("cuda", torch.bfloat16, "cuda")
    opts = TrainOptions(checkpoint_keep="projections", gradient_checkpointing=True)
    assert use_compiled_layers(opts, cuda, 10_000) is False  # auto steps aside
    with pytest.raises(TrainError, match="checkpoint_keep: nothing"):
        use_compiled_layers(opts.model_copy(update={"compile_layers": "on"}), cuda, 10_000)


def test_dsforge_train_checkpoints_selectively(tmp_path, license_records, repo_root, smollm_base):
    """Through `train()`: peft's 4-bit preparation and the Trainer both enable checkpointing, and the
    layers the Trainer runs carry the policy; the run card says what was kept."""
    from transformers import TrainerCallback

    from core.config import load_config
    from tests.train.train_projects import TINY_TRAIN, write_project
    from train.recipe import train

    class LayerFunctions(TrainerCallback):
        def __init__(self) -> None:
            self.seen = []

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)]
            self.seen += [m._gradient_checkpointing_func for m in layers]

    spy = LayerFunctions()
    options = {**TINY_TRAIN, "mode": "qlora", "gradient_checkpointing": True, "checkpoint_keep": "projections"}
    config = load_config(write_project(tmp_path, license_records, repo_root, train=options))
    card = train(config, show_progress=False, callbacks=[spy])
    assert card.status == "complete" and card.steps == 1
    assert card.memory_policy["checkpoint_keeps"].startswith("projections: the checkpoint keeps attention")
    assert spy.seen and all("context_fn" in f.keywords for f in spy.seen)


def test_a_reentrant_checkpoint_gives_the_same_gradients_without_a_first_autograd_graph(tiny_checkpoint):
    """Fused LoRA layers with dropout: the recompute replays the first forward's masks either way."""
    ids = torch.randint(0, 300, (2, 48), generator=torch.Generator().manual_seed(3))
    plain, plain_loss, plain_grads = _step(_model(tiny_checkpoint, "nothing"), ids)
    reentrant, loss, grads = _step(_model(tiny_checkpoint, "nothing", reentrant=True), ids)
    assert loss == plain_loss
    assert all(torch.allclose(grads[n], plain_grads[n], rtol=1e-6, atol=1e-8) for n in plain_grads)
    assert reentrant.matmuls() == plain.matmuls() and reentrant.attention() == plain.attention() == 4


@pytest.mark.parametrize(
    ("setting", "keep", "processes", "expected"),
    [("auto", "nothing", 1, True), ("auto", "projections", 1, False), ("auto", "nothing", 2, False),
     ("off", "nothing", 1, False), ("on", "nothing", 2, True)],
)  # fmt: skip
def test_auto_checkpoints_reentrantly_where_nothing_needs_the_other_kind(setting, keep, processes, expected):
    assert use_reentrant(setting, keep, processes) is expected


def test_a_reentrant_checkpoint_cannot_keep_anything():
    with pytest.raises(ValueError, match="checkpoint_reentrant to auto or off"):
        TrainOptions(checkpoint_reentrant="on", checkpoint_keep="attention")


def test_yaml_bare_on_and_off_read_as_the_switches_they_name():
    """YAML 1.1 reads a bare `off` as false: every on/off switch of `train` takes it as `off`."""
    import yaml

    switches = ("packing", "compile_layers", "checkpoint_reentrant", "offload_activations", "fused_lora", "liger_kernels")
    read = yaml.safe_load("\n".join(f"{name}: off" for name in switches))
    assert set(read.values()) == {False}
    opts = TrainOptions(**read)
    assert all(getattr(opts, name) == "off" for name in switches)


@pytest.mark.parametrize("reentrant", [True, False])
def test_either_checkpoint_hands_its_layer_inputs_to_saved_tensor_hooks(tiny_checkpoint, reentrant):
    """What `train.offload_activations` (trl's saved-tensor hooks) moves to the host: both kinds of
    checkpoint save each layer's input through the hooks, so both can have it offloaded."""
    model = _model(tiny_checkpoint, "nothing", reentrant=reentrant)
    inputs: list[int] = []
    for layer in (m for m in model.modules() if type(m).__name__.endswith("DecoderLayer")):
        layer.register_forward_pre_hook(
            lambda module, args, kwargs: inputs.append((args[0] if args else kwargs["hidden_states"]).data_ptr()),
            with_kwargs=True,
        )
    saved: list[int] = []
    ids = torch.randint(0, 300, (2, 48), generator=torch.Generator().manual_seed(3))
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.data_ptr()) or t, lambda t: t):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert len(inputs) == 2 and all(pointer in saved for pointer in inputs)


def test_offloading_is_a_gpu_lever():
    from train.plan import offload_activations

    on = TrainOptions(offload_activations="on")
    assert offload_activations(on, Hardware("cuda", torch.bfloat16, "cuda")) is True
    assert offload_activations(on, Hardware("cpu", torch.float32, "cpu")) is False
    assert offload_activations(TrainOptions(), Hardware("cuda", torch.bfloat16, "cuda")) is False
