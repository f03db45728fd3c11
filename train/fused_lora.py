"""`train.fused_lora`: each LoRA linear layer as one autograd node, its 4-bit weight read by one kernel.

A QLoRA step of a small model on a big GPU is paced by the host: peft's LoRA layer
over bitsandbytes' 4-bit linear records five autograd nodes and about a dozen
kernels per layer and pass (absmax dequantisation, weight dequantisation, matmul,
a clone, dropout, two weight casts, two LoRA matmuls, scale, add), and every one is
Python work before the GPU sees it (bench/README.md §1b: GPU idle 64 % of the
step). `LoraLinearFunction` does the same arithmetic with fewer, bigger calls:

    forward   y  = x Wᵀ + s · (drop(x) Aᵀ) Bᵀ        dequant, mm, mm, addmm
    backward  dx = g W + drop'(s · g B) A            dequant, mm, mm, mm, mul
              dA = (s · g B)ᵀ drop(x),  dB = s · gᵀ (drop(x) Aᵀ)

The frozen weight is never stored dequantised (it is dequantised again in the
backward, as bitsandbytes does). The double-quantised absmax is expanded once into
a float32 buffer (0.5 bit per weight, one kernel fewer per call) while that costs
little; past `EXPAND_ABSMAX_MAX_BYTES` for the whole model (a 7B: 0.4 GB, where
memory binds and the GPU, not the host, paces the step) each call expands it
again, as bitsandbytes does. Everything the function reads is a tensor or
a constant shared by every layer of one shape, so `torch.compile` traces one graph
for all decoder layers instead of one per layer. Dropout keeps peft's semantics: its
own mask per layer, inverted scaling, nothing dropped in eval mode.
tests/train/test_fused_lora.py holds it to peft's outputs and gradients.
"""

from __future__ import annotations

import math
import types
from typing import Any

import torch

FUSED_ATTRIBUTE = "_dsforge_fused"
ABSMAX_BUFFER = "_dsforge_absmax"
# Expanded float32 absmax for all 4-bit layers together: below this, one buffer saves a kernel per
# call (small models, host-bound); above, the double-quantised absmax is expanded per call.
EXPAND_ABSMAX_MAX_BYTES = 256 * 2**20
# How to expand a double-quantised (uint8) absmax: (its own absmax, its code, offset, its blocksize).
NestedAbsmax = tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]
NESTED_BUFFERS = ("_dsforge_absmax2", "_dsforge_absmax_code", "_dsforge_absmax_offset")
# (blocksize, quant type, (out, in), storage dtype) of a 4-bit weight; None: a dense weight.
NF4Spec = tuple[int, str, tuple[int, int], torch.dtype]


class LoraLinearFunction(torch.autograd.Function):
    """y = x Wᵀ (+ bias) + s · (dropout(x) Aᵀ) Bᵀ with W frozen; A, B trainable."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        weight: torch.Tensor,
        absmax: torch.Tensor | None,
        spec: NF4Spec | None,
        bias: torch.Tensor | None,
        scaling: float,
        dropout: float,
        nested: NestedAbsmax | None = None,
    ) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if dropout > 0.0:
            dropped, mask = torch.native_dropout(x2, dropout, True)
        else:
            dropped, mask = x2, None
        a, b = lora_a.to(x.dtype), lora_b.to(x.dtype)
        dense = dense_weight(weight, absmax, spec, x.dtype, nested)
        out = torch.mm(x2, dense.t()) if bias is None else torch.addmm(bias.to(x.dtype), x2, dense.t())
        xa = torch.mm(dropped, a.t())
        out = torch.addmm(out, xa, b.t(), alpha=scaling)
        # Inputs themselves, not views or casts of them: torch.compile cannot save aliases of inputs.
        ctx.save_for_backward(x, xa, lora_a, lora_b, weight, absmax, mask, *(nested[:3] if nested else ()))
        ctx.spec, ctx.scaling, ctx.dropout, ctx.has_bias = spec, scaling, dropout, bias is not None
        ctx.nested_blocksize = nested[3] if nested else None
        return out.view(*shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, xa, lora_a, lora_b, weight, absmax, mask, *nested_tensors = ctx.saved_tensors
        nested = (*nested_tensors, ctx.nested_blocksize) if nested_tensors else None
        x2 = x.reshape(-1, x.shape[-1])
        a, b = lora_a.to(x.dtype), lora_b.to(x.dtype)
        g = grad.reshape(-1, grad.shape[-1]).to(x2.dtype)
        scale_back = 1.0 / (1.0 - ctx.dropout) if ctx.dropout > 0.0 else 1.0
        gb = torch.mm(g, b).mul_(ctx.scaling)  # s · g B: the gradient reaching xa
        grad_a = grad_b = grad_x = grad_bias = None
        if ctx.needs_input_grad[1]:
            dropped = x2 if mask is None else torch.ops.aten.native_dropout_backward(x2, mask, scale_back)
            grad_a = torch.mm(gb.t(), dropped).to(lora_a.dtype)
        if ctx.needs_input_grad[2]:
            grad_b = torch.mm(g.t(), xa).mul_(ctx.scaling).to(lora_b.dtype)
        if ctx.needs_input_grad[0]:
            through_lora = torch.mm(gb, a)
            if mask is not None:
                through_lora = torch.ops.aten.native_dropout_backward(through_lora, mask, scale_back)
            dense = dense_weight(weight, absmax, ctx.spec, g.dtype, nested)
            grad_x = torch.addmm(through_lora, g, dense).view(x.shape)
        if ctx.has_bias and ctx.needs_input_grad[6]:
            grad_bias = g.sum(0)
        return grad_x, grad_a, grad_b, None, None, None, grad_bias, None, None, None


def dense_weight(
    weight: torch.Tensor,
    absmax: torch.Tensor | None,
    spec: NF4Spec | None,
    dtype: torch.dtype,
    nested: NestedAbsmax | None = None,
) -> torch.Tensor:
    """The frozen weight as a dense (out, in) matrix in `dtype`: one bitsandbytes kernel for 4-bit
    (two when the absmax is still double-quantised)."""
    if spec is None or absmax is None:
        return weight if weight.dtype == dtype else weight.to(dtype)
    blocksize, quant_type, shape, storage = spec
    if nested is not None:
        absmax = expand_absmax(absmax, nested)
    out = torch.ops.bitsandbytes.dequantize_4bit.default(weight.view(-1, 1), absmax, blocksize, quant_type,
                                                         list(shape), storage)  # fmt: skip
    return out if out.dtype == dtype else out.to(dtype)


def fuse_lora_layers(model: Any) -> str:
    """Route every plain LoRA linear layer (one adapter, no DoRA) through `LoraLinearFunction`.

    Returns what was done, for the run card. Parameters, names and saving are untouched
    (the absmax buffer is not persistent): only the layers' forward changes, and it falls
    back to peft's whenever the layer is merged, disabled, or called with per-sample adapters.
    """
    fused, skipped = 0, 0
    targets = [m for m in model.modules() if not getattr(m, FUSED_ATTRIBUTE, False) and _is_lora_linear(m)]
    expand = expanded_absmax_bytes(targets) <= EXPAND_ABSMAX_MAX_BYTES
    for module in targets:
        if not _fusable(module):
            skipped += 1
            continue
        qs = _quant_state(module.get_base_layer())
        module._dsforge_spec = None if qs is None else (qs.blocksize, qs.quant_type, tuple(qs.shape), qs.dtype)
        keep_nested = qs is not None and qs.nested and not expand
        absmax = None if qs is None else (qs.absmax if keep_nested else _expanded_absmax(qs))
        module.register_buffer(ABSMAX_BUFFER, absmax, persistent=False)
        # Buffers, not plain attributes: a compiled layer reads them as inputs, one graph for all layers.
        for name, value in zip(NESTED_BUFFERS, _nested_tensors(qs) if keep_nested else (None,) * 3, strict=True):
            module.register_buffer(name, value, persistent=False)
        module._dsforge_nested_blocksize = qs.state2.blocksize if keep_nested else None
        module._dsforge_use_peft = False
        module._dsforge_peft_forward = module.forward
        module.forward = types.MethodType(_fused_forward, module)
        setattr(module, FUSED_ATTRIBUTE, True)
        fused += 1
    text = f"{fused} LoRA linear layers, one autograd node each"
    if any(getattr(m, "_dsforge_nested_blocksize", None) is not None for m in targets):
        text += "; absmax expanded per call (double-quantised, kept so: large model)"
    return text + (f"; {skipped} left to peft (DoRA, several adapters or an unknown base layer)" if skipped else "")


def expand_absmax(absmax: torch.Tensor, nested: NestedAbsmax) -> torch.Tensor:
    """A double-quantised (uint8) absmax as float32, the way bitsandbytes' own dequantisation expands it."""
    absmax2, code, offset, blocksize2 = nested
    return torch.ops.bitsandbytes.dequantize_blockwise.default(absmax, absmax2, code, blocksize2, torch.float32) + offset


def expanded_absmax_bytes(modules: list[Any]) -> int:
    """Bytes a float32 absmax buffer would take for every 4-bit base weight among LoRA `modules`."""
    states = (_quant_state(module.get_base_layer()) for module in modules)
    return sum(4 * math.prod(qs.shape) // qs.blocksize for qs in states if qs is not None)


def _nested_tensors(qs: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    offset = qs.offset if isinstance(qs.offset, torch.Tensor) else torch.tensor(float(qs.offset))
    return qs.state2.absmax, qs.state2.code.to(qs.absmax.device), offset.to(qs.absmax.device, torch.float32)


def _nested(module: Any) -> NestedAbsmax | None:
    blocksize = getattr(module, "_dsforge_nested_blocksize", None)
    if blocksize is None:
        return None
    absmax2, code, offset = (getattr(module, name) for name in NESTED_BUFFERS)
    return absmax2, code, offset, blocksize


def _expanded_absmax(qs: Any) -> torch.Tensor:
    if qs.nested:
        return expand_absmax(qs.absmax, (*_nested_tensors(qs), qs.state2.blocksize)).float()
    return qs.absmax.float()


def _is_lora_linear(module: Any) -> bool:
    try:
        from peft.tuners.lora import Linear as LoraLinear
    except ImportError:  # pragma: no cover - peft is a training dependency
        return False
    classes: tuple[type, ...] = (LoraLinear,)
    try:
        from peft.tuners.lora.bnb import Linear4bit

        classes += (Linear4bit,)
    except ImportError:
        pass
    return isinstance(module, classes)


def _fusable(module: Any) -> bool:
    if len(module.lora_A) != 1 or getattr(module, "lora_variant", {}) or getattr(module, "fan_in_fan_out", False):
        return False
    base = module.get_base_layer()
    return _quant_state(base) is not None or isinstance(base, torch.nn.Linear)


def _quant_state(base: Any) -> Any | None:
    weight = getattr(base, "weight", None)
    return getattr(weight, "quant_state", None) if type(weight).__name__ == "Params4bit" else None


def _fused_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    (name,) = self.lora_A.keys()
    if self._dsforge_use_peft or args or kwargs or self.disable_adapters or self.merged or name not in self.active_adapters:
        out = self._dsforge_peft_forward(x, *args, **kwargs)
        if getattr(_quant_state(self.get_base_layer()), "packing_format_for_cpu", False):
            self._dsforge_use_peft = True  # bitsandbytes repacked the weight for its CPU inference kernel
        return out
    dropout = self.lora_dropout[name]
    p = float(getattr(dropout, "p", 0.0)) if self.training else 0.0
    base = self.get_base_layer()
    dtype = _compute_dtype(base, x)
    out = LoraLinearFunction.apply(
        x.to(dtype), self.lora_A[name].weight, self.lora_B[name].weight, base.weight,
        getattr(self, ABSMAX_BUFFER), self._dsforge_spec, getattr(base, "bias", None), float(self.scaling[name]), p,
        _nested(self),
    )  # fmt: skip
    # bitsandbytes hands back the caller's dtype; a plain linear layer under autocast its compute dtype.
    return out.to(x.dtype) if self._dsforge_spec is not None else out


def _compute_dtype(base: Any, x: torch.Tensor) -> torch.dtype:
    """What the base layer would compute in: autocast's dtype, bitsandbytes' compute dtype, else x's."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    compute = getattr(base, "compute_dtype", None)
    return compute if compute is not None else x.dtype
