"""Padding-free packing with per-document attention.

trl packs records best-fit into rows of `max_seq_len` tokens and, in its
padding-free mode, flattens a batch into one row whose `position_ids` restart
at 0 at every record and whose `cu_seq_lens_*` mark where records start. No
pad token is ever computed. What keeps records apart is the attention:

- on CUDA, `dsforge_varlen` below runs PyTorch's variable-length flash
  attention over the record boundaries (`torch.nn.attention.varlen`): each
  record attends only to itself, at the cost of its own length, within the
  layer's sliding window where the architecture has one (Mistral, Gemma 2/3,
  Phi-3, Qwen2 with `use_sliding_window`);
- elsewhere (and on CUDA without that API) transformers' SDPA path sees the
  restarting `position_ids` and builds a block-diagonal causal mask itself,
  sliding window included;
- an architecture whose attention soft-caps its logits (Gemma 2) gets eager
  attention with that same mask: neither SDPA nor varlen flash can soft-cap,
  and transformers refuses SDPA for it.

tests/train/test_packing.py proves on CPU that a record's logits in a pack equal
its logits alone and that the packed loss equals the token-weighted mean of the
records' losses.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

from core.errors import TrainError
from train.loading import Hardware

VARLEN_ATTENTION = "dsforge_varlen"


def use_packing(packing: str) -> bool:
    """`auto` packs on every device: padding costs compute on a CPU as on a GPU (the sample records
    on 2 cores: 71 vs 55 tokens/s in bf16, bench/README.md §1h)."""
    return packing in ("auto", "on")


def varlen_available() -> bool:
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


@dataclass(frozen=True)
class AttentionChoice:
    """The attention a model is loaded with, and the run card's words for why."""

    implementation: str
    reason: str


def attention_implementation(packing: bool, hardware: Hardware, model_config: Any = None) -> AttentionChoice:
    """Varlen flash for packed CUDA batches where it computes what the architecture's own attention
    computes; eager where the architecture soft-caps its attention logits; SDPA otherwise.

    `model_config` is the base's transformers config (None: an architecture with neither a
    sliding window nor soft-capping, as the Qwen2 and Llama families are).
    """
    softcap = getattr(model_config, "attn_logit_softcapping", None)
    window = sliding_window(model_config)
    arch = getattr(model_config, "model_type", "this")
    if softcap is not None:
        why = "packed records get eager attention with a per-record mask" if packing else "eager attention"
        return AttentionChoice(
            "eager",
            f"{why}: {arch} soft-caps attention logits at {softcap:g}, which neither SDPA nor "
            "varlen flash attention computes",
        )
    windowed = f", sliding window of {window} tokens kept" if window else ""
    if packing and hardware.device == "cuda" and varlen_available():
        register_varlen_attention()
        return AttentionChoice(VARLEN_ATTENTION, f"varlen flash attention over record boundaries{windowed}")
    if not _supports_sdpa(model_config):
        return AttentionChoice("eager", f"eager: transformers runs {arch} without SDPA{windowed}")
    return AttentionChoice("sdpa", f"SDPA, a per-record causal mask from the positions{windowed}")


def sliding_window(model_config: Any) -> int | None:
    """The attention window some layers use (None: every layer attends to the whole record).

    Qwen2 carries a `sliding_window` it ignores unless `use_sliding_window` is set.
    """
    window = getattr(model_config, "sliding_window", None)
    if window is None or getattr(model_config, "use_sliding_window", True) is False:
        return None
    return int(window)


def _supports_sdpa(model_config: Any) -> bool:
    if model_config is None:
        return True
    from transformers import AutoModelForCausalLM

    try:
        model_class = AutoModelForCausalLM._model_mapping[type(model_config)]
    except KeyError:  # not a causal LM transformers knows: loading says so with its own words
        return True
    return bool(getattr(model_class, "_supports_sdpa", True))


def register_varlen_attention() -> None:
    """Make `dsforge_varlen` a transformers attention (and mask) implementation; idempotent."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask

    AttentionInterface.register(VARLEN_ATTENTION, varlen_attention_forward)
    # Like flash attention: no dense mask is built; a 2D padding mask (if any) is passed through.
    ALL_MASK_ATTENTION_FUNCTIONS.register(VARLEN_ATTENTION, flash_attention_mask)


def varlen_attention_forward(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: q/k/v are (batch, heads, seq, dim); returns (batch, seq, heads, dim).

    Packed batches (batch 1, `cu_seq_lens_q` given) go through varlen flash attention;
    anything else (an unpacked evaluation batch, say) through SDPA with the same semantics.
    The layer's `sliding_window` (None on full-attention layers) bounds both.
    """
    if kwargs.get("softcap") is not None:  # attention_implementation never picks this path for such a model
        raise TrainError(
            "varlen attention cannot soft-cap attention logits; load this model with eager attention"
        )
    window = kwargs.get("sliding_window")
    cu_seq = kwargs.get("cu_seq_lens_q")
    if cu_seq is not None and query.shape[0] == 1 and attention_mask is None:
        out = _varlen(query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1),
                      cu_seq.to(device=query.device, dtype=torch.int32), int(kwargs["max_length_q"]), scaling,
                      window)  # fmt: skip
        return out.unsqueeze(0), None
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (attention_mask is not None and attention_mask.dim() == 2) or (attention_mask is None and window):
        # Flash-style masks pass the 2D padding mask through: make it SDPA's causal 4D boolean mask,
        # bounded by the window (transformers' rule: a query sees the `window` keys ending at itself).
        q_len, kv_len = query.shape[2], key.shape[2]
        causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        if window:
            causal &= ~causal.tril(kv_len - q_len - window)
        attention_mask = causal[None, None] if attention_mask is None else (
            causal[None, None] & attention_mask[:, None, None, :].bool())  # fmt: skip
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling)


def _varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, max_len: int,
            scale: float | None, window: int | None = None) -> torch.Tensor:  # fmt: skip
    """Causal varlen attention over (tokens, heads, dim); copes with the API's changes across torch releases."""
    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    kwargs: dict[str, Any] = {}
    if "window_size" in params:
        # Nothing to the right (causal); to the left unbounded, or the window's other keys.
        kwargs["window_size"] = (window - 1 if window else -1, 0)
    elif window:
        raise TrainError(
            f"this torch's varlen attention has no window_size, so a sliding window of {window} cannot "
            "be kept; set train.packing: off, or use a torch release whose varlen_attn takes window_size."
        )
    else:
        kwargs["is_causal"] = True
    if scale is not None and "scale" in params:
        kwargs["scale"] = scale
    groups = q.shape[1] // k.shape[1]
    if groups > 1:
        if "enable_gqa" in params:
            kwargs["enable_gqa"] = True
        else:
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    return varlen_attn(q.contiguous(), k.contiguous(), v.contiguous(), cu, cu, max_len, max_len, **kwargs)
