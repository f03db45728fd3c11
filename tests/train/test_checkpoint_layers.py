"""`train.checkpoint_layers`: checkpoint only the first decoder layers, and let the fit choose how many.

The fit's arithmetic on a pretend GPU (free memory and the base's shape are all it reads),
then the choice applied to a tiny random Qwen2 on the CPU: the same loss and gradients as
checkpointing every layer, one recompute fewer per layer left whole, and the flags surviving
the later `gradient_checkpointing_enable` calls of peft, the Trainer and trl.
"""

from __future__ import annotations

import types

import pytest
import torch

from core.options.train import TrainOptions
from tests.train.tiny_lora import tiny_lora
from train.checkpoint_policy import checkpoint_first_layers, decoder_layers
from train.fit import BYTES_PER_TOKEN_UNIT, ROWS_BEFORE_LAYERS, fit_batch, layers_without_checkpoint
from train.loading import Hardware

CPU = Hardware("cpu", torch.float32, "cpu")
GPU = Hardware("cuda", torch.bfloat16, "test GPU")
QWEN_7B = types.SimpleNamespace(config=types.SimpleNamespace(hidden_size=3584, num_hidden_layers=28))
QWEN_05B = types.SimpleNamespace(config=types.SimpleNamespace(hidden_size=896, num_hidden_layers=24))
FREE = 58.3 * 2**30  # what the fit saw on an H100 after loading the 7B (bench/README.md §1j)


@pytest.fixture
def free_gpu_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (FREE, 80 * 2**30))


def test_the_7b_takes_the_rows_first_then_leaves_layers_whole_with_the_memory_left(free_gpu_memory):
    fit = fit_batch(TrainOptions(), GPU, QWEN_7B, packed_rows=None)
    assert fit.rows_that_fit == {"without_checkpointing": 6, "with_checkpointing": 48}  # as before the option
    assert (fit.batch_size, fit.gradient_checkpointing) == (ROWS_BEFORE_LAYERS, True)
    whole = 28 - fit.checkpointed_layers
    assert f"{whole} of 28 decoder layers without a checkpoint" in fit.how
    budget = FREE * 0.85 - 3 * 2**30
    per_layer = ROWS_BEFORE_LAYERS * 1024 * 3584  # hidden × the batch's tokens
    cost = {n: per_layer * (n * BYTES_PER_TOKEN_UNIT[False] + (28 - n) * BYTES_PER_TOKEN_UNIT[True])
            for n in (whole, whole + 1)}  # fmt: skip
    assert 0 < whole < 28 and cost[whole] <= budget < cost[whole + 1]
    assert fit.card()["checkpointed_layers"] == 28 - whole == 8  # at 8 rows: 20 layers whole


def test_all_keeps_the_fitted_batch_of_every_layer_checkpointed(free_gpu_memory):
    fit = fit_batch(TrainOptions(checkpoint_layers="all"), GPU, QWEN_7B, packed_rows=None)
    assert (fit.batch_size, fit.gradient_checkpointing, fit.checkpointed_layers) == (48, True, 28)


def test_a_number_set_by_hand_is_counted_in_the_rows_that_fit(free_gpu_memory):
    fit = fit_batch(TrainOptions(checkpoint_layers=20), GPU, QWEN_7B, packed_rows=None)
    assert (fit.batch_size, fit.checkpointed_layers) == (16, 20)  # 8 whole layers take 3× a checkpointed row
    assert fit_batch(TrainOptions(checkpoint_layers=99), GPU, QWEN_7B, None).checkpointed_layers == 28


def test_a_fixed_batch_leaves_layers_whole_with_what_it_does_not_use(free_gpu_memory):
    fit = fit_batch(TrainOptions(batch_size=8), GPU, QWEN_7B, packed_rows=None)
    assert (fit.batch_size, fit.gradient_checkpointing, fit.checkpointed_layers) == (8, True, 8)


def test_what_needs_no_split_is_as_before(free_gpu_memory):
    small = fit_batch(TrainOptions(), GPU, QWEN_05B, packed_rows=None)  # fits without checkpointing
    assert (small.batch_size, small.gradient_checkpointing, small.checkpointed_layers) == (24, False, None)
    selective = fit_batch(TrainOptions(checkpoint_keep="attention"), GPU, QWEN_7B, packed_rows=None)
    assert (selective.batch_size, selective.checkpointed_layers) == (6, 28)
    by_hand = fit_batch(TrainOptions(gradient_checkpointing=True), GPU, QWEN_7B, packed_rows=None)
    assert (by_hand.batch_size, by_hand.checkpointed_layers) == (48, 28)
    pairs = fit_batch(TrainOptions(objective="dpo"), GPU, QWEN_7B, packed_rows=None)  # two sequences a row
    assert (pairs.batch_size, pairs.checkpointed_layers) == (8, 20)  # 8 pairs: 16 sequences


def test_a_memory_line_counts_what_loading_took_and_leaves_fewer_layers_whole(free_gpu_memory, monkeypatch):
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda: 5.5 * 2**30)  # the 4-bit 7B after loading
    unbound = fit_batch(TrainOptions(), GPU, QWEN_7B, packed_rows=None)
    held = fit_batch(TrainOptions(gpu_memory_gib=30.0), GPU, QWEN_7B, packed_rows=None)
    budget = 30.0 * 2**30 - 5.5 * 2**30 - 3 * 2**30
    whole = layers_without_checkpoint(budget, ROWS_BEFORE_LAYERS * 1024 * 3584, 28)
    assert (held.batch_size, held.checkpointed_layers) == (ROWS_BEFORE_LAYERS, 28 - whole)
    assert 0 < whole < 28 - unbound.checkpointed_layers
    assert "within a 30 GiB line" in held.how
    roomy = fit_batch(TrainOptions(gpu_memory_gib=500.0), GPU, QWEN_7B, packed_rows=None)
    assert roomy.checkpointed_layers == unbound.checkpointed_layers  # a line above the free memory binds nothing


def test_the_cpu_checkpoints_every_layer_as_before():
    assert fit_batch(TrainOptions(), CPU, model=None, packed_rows=None).checkpointed_layers is None
    assert set(fit_batch(TrainOptions(), CPU, None, packed_rows=23).card()) == {"batch_size", "gradient_checkpointing",
                                                                               "how"}  # the card as before
    assert fit_batch(TrainOptions(checkpoint_layers=1), CPU, None, None).checkpointed_layers == 1
    off = TrainOptions(checkpoint_layers=1, gradient_checkpointing=False)
    assert fit_batch(off, CPU, None, None).checkpointed_layers is None


@pytest.mark.parametrize(("budget_units", "expected"), [(280, 0), (349, 0), (350, 1), (280 + 70 * 28, 28), (1e9, 28)])
def test_layers_without_checkpoint_cost_the_difference_of_the_two_kinds(budget_units, expected):
    assert layers_without_checkpoint(budget_units * 1000, 1000, 28) == expected


def test_the_option_changes_no_fingerprint(repo_root):
    from train.base_models import resolve_base_model
    from train.recipe import run_fingerprint

    base = resolve_base_model("smollm2-135m", repo_root)
    ids = {run_fingerprint(TrainOptions(checkpoint_layers=v), "data-x", base) for v in ("auto", "all", 3)}
    assert ids == {run_fingerprint(TrainOptions(), "data-x", base)}


def _model(path, checkpointed: int | None, reentrant: bool, compiled: bool = False, monkeypatch=None):
    """As train() prepares it: the layer choice first, then peft, then the Trainer's enable."""
    prepare = None if checkpointed is None else (lambda model: checkpoint_first_layers(model, checkpointed))
    model = tiny_lora(path, prepare, reentrant=reentrant)
    if compiled:  # train/regional_compile.py's layer forward, its compiler stood in for by the body itself
        from train import regional_compile

        monkeypatch.setattr(torch, "compile", lambda body, **kwargs: body)
        regional_compile.compile_decoder_layers(model)
    return model


def _step(model, ids):
    """Loss, gradients, and how many times attention ran (the forward's, plus each recompute's)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls = []

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__.startswith("_scaled_dot_product_flash_attention_for_cpu."):
                calls.append(func)
            return func(*args, **(kwargs or {}))

    torch.manual_seed(5)  # the same dropout masks for every model
    with Count():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.item(), grads, len(calls)


@pytest.mark.parametrize("reentrant", [True, False])
def test_a_layer_left_whole_gives_the_same_gradients_and_is_not_recomputed(tiny_checkpoint, reentrant):
    ids = torch.randint(0, 300, (2, 48), generator=torch.Generator().manual_seed(3))
    full_loss, full_grads, full_calls = _step(_model(tiny_checkpoint, None, reentrant), ids)
    model = _model(tiny_checkpoint, 1, reentrant)
    assert [layer.gradient_checkpointing for layer in decoder_layers(model)] == [True, False]
    loss, grads, calls = _step(model, ids)
    assert loss == full_loss
    assert all(torch.allclose(grads[n], full_grads[n], rtol=1e-6, atol=1e-8) for n in full_grads)
    assert (full_calls, calls) == (4, 3)  # 2 layers' forwards, and the recompute of the checkpointed ones


def test_the_compiled_layers_read_the_same_flags(tiny_checkpoint, monkeypatch):
    ids = torch.randint(0, 300, (2, 48), generator=torch.Generator().manual_seed(3))
    _, _, calls = _step(_model(tiny_checkpoint, 1, True, compiled=True, monkeypatch=monkeypatch), ids)
    assert calls == 3


def test_every_later_enable_keeps_the_choice_and_the_card_says_it(tiny_checkpoint):
    from transformers import AutoModelForCausalLM

    from train.trainer_setup import add_lora

    base = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32)
    opts = TrainOptions(method="lora", gradient_checkpointing=True, target_modules="all-linear")
    model, policy = add_lora(base, opts, CPU, tiny_checkpoint, checkpointed_layers=1)
    assert policy["checkpointed_layers"] == "the first 1 of 2 decoder layers; the last 1 keep their activations"
    for _ in range(2):  # the Trainer's enable, then trl's after generating
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": True})
        assert [layer.gradient_checkpointing for layer in decoder_layers(model)] == [True, False]
    model.gradient_checkpointing_enable({"use_reentrant": True})
    assert [layer.gradient_checkpointing for layer in decoder_layers(model)] == [True, False]
    assert checkpoint_first_layers(base, 5) == "all 2 decoder layers"  # the wrapper is reused, not stacked
    model.activation_checkpointing_enable()
    assert [layer.gradient_checkpointing for layer in decoder_layers(model)] == [True, True]
    _, unsplit = add_lora(AutoModelForCausalLM.from_pretrained(tiny_checkpoint), opts, CPU, tiny_checkpoint)
    assert "checkpointed_layers" not in unsplit
