"""Fused LoRA layers compute what peft computes: the same loss, the same gradients.

Each case builds the model twice from one checkpoint and one seed, routes one copy
through `fuse_lora_layers`, and runs a training forward and backward on both under
the same RNG state. Dropout draws its masks in the same order on both paths, so
even with dropout the two agree to float32 rounding. The 4-bit cases run
bitsandbytes' real NF4 weights (CPU kernels); one case uses SmolLM2-135M's real weights.
"""

from __future__ import annotations

import pytest
import torch

from core.options.train import TrainOptions
from train.fused_lora import LoraLinearFunction, fuse_lora_layers
from train.loading import Hardware
from train.plan import use_fused_lora

GRAD_RTOL = 1e-5  # worst |Δgrad| / max|grad| per tensor, float32


def _lora_model(path, quantise: bool, dropout: float, target_modules="all-linear", use_dora=False):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs = {}
    if quantise:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32,
        )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, device_map={"": "cpu"}, **kwargs)
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules=target_modules, use_dora=use_dora)
    model = get_peft_model(model, config)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero; a non-zero B makes every gradient path count
            torch.nn.init.normal_(param, std=0.1)
    return model.train()


def _loss_and_grads(model, ids):
    torch.manual_seed(5)
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def _worst_relative(a: dict, b: dict) -> float:
    assert a.keys() == b.keys() and a
    return max(((a[n] - b[n]).abs().max() / a[n].abs().max().clamp_min(1e-12)).item() for n in a)


@pytest.mark.parametrize("quantise", [False, True], ids=["lora", "qlora"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_layers_give_peft_loss_and_gradients(tiny_checkpoint, quantise, dropout):
    reference, fused = (_lora_model(tiny_checkpoint, quantise, dropout) for _ in range(2))
    assert fuse_lora_layers(fused).startswith("14 LoRA linear layers")  # 7 per decoder layer × 2
    ids = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(3))
    ref_loss, ref_grads = _loss_and_grads(reference, ids)
    fused_loss, fused_grads = _loss_and_grads(fused, ids)
    assert fused_loss == pytest.approx(ref_loss, rel=1e-6)
    assert _worst_relative(ref_grads, fused_grads) < GRAD_RTOL
    # What is trained and saved is peft's own: the same parameter names, nothing added.
    assert [n for n, _ in fused.named_parameters()] == [n for n, _ in reference.named_parameters()]


def test_a_large_model_keeps_its_absmax_double_quantised(tiny_checkpoint, monkeypatch):
    """Past the buffer budget each call expands the double-quantised absmax, as bitsandbytes does."""
    import train.fused_lora as fused_lora

    monkeypatch.setattr(fused_lora, "EXPAND_ABSMAX_MAX_BYTES", 0)
    reference, fused = (_lora_model(tiny_checkpoint, True, 0.3) for _ in range(2))
    assert "absmax expanded per call" in fuse_lora_layers(fused)
    buffers = [b for n, b in fused.named_buffers() if n.endswith(fused_lora.ABSMAX_BUFFER)]
    assert len(buffers) == 14 and all(b.dtype == torch.uint8 for b in buffers)  # no float32 copy
    ids = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(3))
    ref_loss, ref_grads = _loss_and_grads(reference, ids)
    fused_loss, fused_grads = _loss_and_grads(fused, ids)
    assert fused_loss == pytest.approx(ref_loss, rel=1e-6)
    assert _worst_relative(ref_grads, fused_grads) < GRAD_RTOL


def test_real_weights_4bit_with_dropout(smollm_base):
    reference, fused = (_lora_model(smollm_base.path, True, 0.05) for _ in range(2))
    fuse_lora_layers(fused)
    ids = torch.randint(0, 1000, (1, 16), generator=torch.Generator().manual_seed(4))
    ref_loss, ref_grads = _loss_and_grads(reference, ids)
    fused_loss, fused_grads = _loss_and_grads(fused, ids)
    assert fused_loss == pytest.approx(ref_loss, rel=1e-5)
    assert _worst_relative(ref_grads, fused_grads) < 1e-4  # 30 layers of float32 rounding


def test_eval_mode_drops_nothing_and_disabled_adapters_fall_back(tiny_checkpoint):
    # Full-precision base: in eval mode bitsandbytes' CPU path repacks 4-bit weights for a bf16 kernel.
    reference, fused = (_lora_model(tiny_checkpoint, False, 0.5) for _ in range(2))
    fuse_lora_layers(fused)
    ids = torch.randint(0, 300, (1, 10), generator=torch.Generator().manual_seed(6))
    reference.eval(), fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-5, rtol=0)
        with fused.disable_adapter(), reference.disable_adapter():
            base_logits = reference(input_ids=ids).logits
            torch.testing.assert_close(fused(input_ids=ids).logits, base_logits, atol=1e-5, rtol=0)
        assert not torch.allclose(base_logits, reference(input_ids=ids).logits, atol=1e-3)  # the adapter counts


def test_a_4bit_weight_repacked_for_cpu_inference_goes_back_to_peft(tiny_checkpoint):
    """On CPUs with AVX512-BF16, bitsandbytes repacks a 4-bit weight the first time peft's path runs it
    in inference; the fused function cannot read that layout, so the layer stays with peft after."""
    reference, fused = (_lora_model(tiny_checkpoint, True, 0.0) for _ in range(2))
    fuse_lora_layers(fused)
    ids = torch.randint(0, 300, (1, 10), generator=torch.Generator().manual_seed(9))
    reference.eval(), fused.eval()
    with torch.no_grad():
        with fused.disable_adapter(), reference.disable_adapter():  # peft's path: bitsandbytes may repack here
            torch.testing.assert_close(fused(input_ids=ids).logits, reference(input_ids=ids).logits)
        expected = reference(input_ids=ids).logits
        layers = [m for m in fused.modules() if hasattr(m, "_dsforge_use_peft")]
        repacked = [getattr(m.get_base_layer().weight.quant_state, "packing_format_for_cpu", False) for m in layers]
        assert [m._dsforge_use_peft for m in layers] == repacked  # back to peft exactly where repacked
        torch.testing.assert_close(fused(input_ids=ids).logits, expected, atol=1e-4, rtol=1e-4)


def test_dora_layers_stay_with_peft(tiny_checkpoint):
    model = _lora_model(tiny_checkpoint, False, 0.0, use_dora=True)
    assert fuse_lora_layers(model) == (
        "0 LoRA linear layers, one autograd node each; 14 left to peft (DoRA, several adapters or an unknown base layer)"
    )


def test_function_gradients_against_float64_autograd():
    """The hand-written backward against autograd through the plain formula, in float64."""
    torch.manual_seed(7)
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    a = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    weight, bias = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    out = LoraLinearFunction.apply(x, a, b, weight, None, None, bias, 0.7, 0.0)
    expected = x @ weight.T + bias + 0.7 * (x @ a.T) @ b.T
    torch.testing.assert_close(out, expected)
    assert torch.autograd.gradcheck(
        lambda x, a, b: LoraLinearFunction.apply(x, a, b, weight, None, None, bias, 0.7, 0.0), (x, a, b)
    )


@pytest.mark.parametrize(
    ("setting", "method", "device", "expected"),
    [("auto", "qlora", "cuda", True), ("auto", "lora", "cuda", True), ("auto", "qlora", "cpu", False),
     ("on", "qlora", "cpu", True), ("off", "qlora", "cuda", False), ("auto", "dora", "cuda", False),
     ("on", "ia3", "cuda", False)],
)  # fmt: skip
def test_when_layers_are_fused(setting, method, device, expected):
    opts = TrainOptions(fused_lora=setting, method=method)
    assert use_fused_lora(opts, Hardware(device, torch.bfloat16, device)) is expected


@pytest.mark.parametrize(
    ("setting", "method", "device", "liger", "checkpointing", "steps", "expected"),
    [("auto", "qlora", "cuda", "auto", True, 1000, True), ("auto", "lora", "cuda", "off", True, 5000, True),
     ("auto", "qlora", "cuda", "auto", True, 999, False), ("auto", "qlora", "cuda", "auto", False, 5000, False),
     ("auto", "qlora", "cpu", "auto", True, 5000, False), ("auto", "qlora", "cuda", "on", True, 5000, False),
     ("auto", "dora", "cuda", "auto", True, 5000, False), ("off", "qlora", "cuda", "auto", True, 5000, False),
     ("on", "lora", "cpu", "auto", True, 1, True), ("on", "ia3", "cuda", "off", False, 1, True)],
)  # fmt: skip
def test_when_layers_are_compiled(setting, method, device, liger, checkpointing, steps, expected):
    """`auto` compiles only where the minutes of compiling come back: long, checkpointed, one GPU."""
    from train.regional_compile import use_compiled_layers

    opts = TrainOptions(compile_layers=setting, method=method, liger_kernels=liger,
                        gradient_checkpointing=checkpointing)  # fmt: skip
    assert use_compiled_layers(opts, Hardware(device, torch.bfloat16, device), steps) is expected


@pytest.mark.parametrize(
    ("parameters", "steps", "reason"),
    [(500_000_000, 5000, None), (7_600_000_000, 5000, "7.6B parameters: a step this size is paced by the GPU"),
     (500_000_000, 10, "10 planned steps: compiling pays from 1000")],
)  # fmt: skip
def test_auto_leaves_large_models_uncompiled_and_says_why(parameters, steps, reason):
    """A 7B step is paced by the GPU (bench/README.md §1e): compiling it buys nothing but memory."""
    from train.regional_compile import use_compiled_layers, why_not_compiled

    cuda = Hardware("cuda", torch.bfloat16, "gpu")
    opts = TrainOptions(compile_layers="auto", gradient_checkpointing=True)
    assert why_not_compiled(opts, cuda, steps, parameters) == reason
    assert use_compiled_layers(opts, cuda, steps, parameters) is (reason is None)


@pytest.mark.parametrize(
    ("options", "rows", "steps"),
    [({"max_steps": 7}, 10_000, 7), ({"batch_size": 8, "gradient_accumulation_steps": 4, "epochs": 3}, 1000, 96),
     ({"batch_size": 8, "gradient_accumulation_steps": 1, "epochs": 0.5}, 100, 7)],
)  # fmt: skip
def test_planned_steps(options, rows, steps):
    from train.regional_compile import planned_steps

    assert planned_steps(TrainOptions(**options), rows) == steps


@pytest.mark.parametrize(
    ("options", "device", "fix"),
    [({"liger_kernels": "on"}, "cuda", "liger_kernels to auto or off"),
     ({"method": "qlora"}, "cpu", "train.method: lora")],
)  # fmt: skip
def test_compiled_layers_asked_for_where_they_cannot_run_name_the_fix(options, device, fix):
    from core.errors import TrainError
    from train.regional_compile import use_compiled_layers

    opts = TrainOptions(compile_layers="on", **options)
    with pytest.raises(TrainError, match=fix):
        use_compiled_layers(opts, Hardware(device, torch.bfloat16, device), 1)
    with pytest.raises(TrainError, match="one CUDA GPU"):  # CUDA graphs need one
        use_compiled_layers(TrainOptions(compile_layers="graphs", method="lora"), Hardware("cpu", torch.float32, "cpu"), 1)


def test_cuda_graphs_compile_in_reduce_overhead_mode_and_each_forward_starts_a_step(tiny_checkpoint, monkeypatch):
    """Graph trees free a replay's outputs only at a new step; the step starts at the whole model's forward,
    not at a layer's recompute inside the backward. (The replay itself needs a GPU: bench/qlora_gpu.py.)"""
    from train.regional_compile import compile_decoder_layers

    modes, steps = [], []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: modes.append(kw.get("mode")) or fn)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    model = _lora_model(tiny_checkpoint, True, 0.0)
    model.enable_input_require_grads()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    assert compile_decoder_layers(model, cuda_graphs=True).endswith("replayed as CUDA graphs")
    ids = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(8))
    model(input_ids=ids, labels=ids).loss.backward()  # two checkpointed layers recompute in here
    model(input_ids=ids, labels=ids)
    assert (modes[-1], len(steps)) == ("reduce-overhead", 2)  # the layers' compile (loading compiles others)


@pytest.mark.parametrize("reentrant", [False, True])
def test_compiled_layers_trace_the_fused_function_once(tiny_checkpoint, reentrant):
    """train.compile_layers over fused, checkpointed layers: one graph for every layer, peft's numbers,
    and the checkpoint still holds: the compiled body runs again in the backward. A reentrant checkpoint
    runs the first forward without autograd: one more graph, the same for every layer too."""
    from torch._dynamo.utils import counters

    from train.regional_compile import compile_decoder_layers

    torch._dynamo.reset()
    counters.clear()
    reference, fused = (_lora_model(tiny_checkpoint, True, 0.0) for _ in range(2))
    for model in (reference, fused):
        model.enable_input_require_grads()  # as in training: every layer's input needs a gradient
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": reentrant})
    fuse_lora_layers(fused)
    compile_decoder_layers(fused)
    ids = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(8))
    ref_loss, ref_grads = _loss_and_grads(reference, ids)
    fused_loss, fused_grads = _loss_and_grads(fused, ids)
    assert fused_loss == pytest.approx(ref_loss, rel=1e-5)
    assert _worst_relative(ref_grads, fused_grads) < 1e-4
    assert not counters["graph_break"]
    assert counters["stats"]["unique_graphs"] == 1 + reentrant  # both layers share it: no per-layer recompiles
    # What the step keeps for the backward, seen from outside the checkpoints: compiled, it is what
    # eager checkpointing keeps (the layers' inputs), not the layers' activations (116 tensors unchecked).
    assert _saved_elements(fused, ids) == _saved_elements(reference, ids)


def _saved_elements(model, ids) -> list[int]:
    """What the forward keeps for the backward (a reentrant checkpoint's recompute saves more, in the backward)."""
    saved: list[int] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return sorted(saved)
