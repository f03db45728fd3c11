"""Padding-free packing with per-document attention.

trl packs records best-fit into rows of `max_seq_len` tokens and, in its
padding-free mode, flattens a batch into one row whose `position_ids` restart
at 0 at every record and whose `cu_seq_lens_*` mark where records start. No
pad token is ever computed. What keeps records apart is the attention:

- on CUDA, `dsforge_varlen` below runs PyTorch's variable-length flash
  attention over the record boundaries (`torch.nn.attention.varlen`): each
  record attends only to itself, at the cost of its own length;
- elsewhere (and on CUDA without that API) transformers' SDPA path sees the
  restarting `position_ids` and builds a block-diagonal causal mask itself.

tests/train/test_packing.py proves on CPU that a record's logits in a pack equal
its logits alone and that the packed loss equals the token-weighted mean of the
records' losses.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

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


def attention_implementation(packing: bool, hardware: Hardware) -> str:
    """The attention the model is loaded with: varlen flash for packed CUDA batches, SDPA otherwise."""
    if packing and hardware.device == "cuda" and varlen_available():
        register_varlen_attention()
        return VARLEN_ATTENTION
    return "sdpa"


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
    """
    cu_seq = kwargs.get("cu_seq_lens_q")
    if cu_seq is not None and query.shape[0] == 1 and attention_mask is None:
        out = _varlen(query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1),
                      cu_seq.to(device=query.device, dtype=torch.int32), int(kwargs["max_length_q"]), scaling)  # fmt: skip
        return out.unsqueeze(0), None
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None and attention_mask.dim() == 2:
        # The 2D padding mask flash-style masks pass through: make it SDPA's causal 4D boolean mask.
        q_len, kv_len = query.shape[2], key.shape[2]
        causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        attention_mask = causal[None, None] & attention_mask[:, None, None, :].bool()
    return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling)


def _varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor, max_len: int,
            scale: float | None) -> torch.Tensor:  # fmt: skip
    """Causal varlen attention over (tokens, heads, dim); copes with the API's changes across torch releases."""
    from torch.nn.attention.varlen import varlen_attn

    params = inspect.signature(varlen_attn).parameters
    kwargs: dict[str, Any] = {}
    if "window_size" in params:
        kwargs["window_size"] = (-1, 0)  # left unbounded, nothing to the right: causal
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
