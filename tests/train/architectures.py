"""Tiny random checkpoints of the architectures users pick as a base, for the train tests.

Each is two decoder layers (hidden 64, 4 query heads over 2 key/value heads) with the packaged
SmolLM2 tokenizer, saved as a plain safetensors folder that `train.base_model` accepts. Where the
architecture has a sliding window it is WINDOW tokens, shorter than the records, so the window
changes the logits; Gemma 2 soft-caps its attention logits at SOFTCAP, low enough to change them.
The weights are drawn wider than the releases' (INIT_STD) so that both effects are large enough
to tell from rounding.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

WINDOW = 24
SOFTCAP = 2.0
INIT_STD = 0.2
_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "max_position_embeddings": 4096, "use_cache": False,
          "initializer_range": INIT_STD}  # fmt: skip
_GEMMA_HEAD = {"head_dim": 16}

# model_type → what the architecture adds to the shared shape.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "qwen2": {},
    "llama": {},
    "mistral": {"sliding_window": WINDOW},
    "gemma": {**_GEMMA_HEAD},
    "gemma2": {**_GEMMA_HEAD, "sliding_window": WINDOW, "attn_logit_softcapping": SOFTCAP,
               "query_pre_attn_scalar": 16, "layer_types": ["sliding_attention", "full_attention"]},
    "gemma3_text": {**_GEMMA_HEAD, "sliding_window": WINDOW, "query_pre_attn_scalar": 16,
                    "layer_types": ["sliding_attention", "full_attention"]},
    "phi3": {"sliding_window": WINDOW},
}  # fmt: skip
WINDOWED = [name for name, extra in ARCHITECTURES.items() if "sliding_window" in extra]


def tiny_config(model_type: str, vocab_size: int, **overrides: Any) -> Any:
    from transformers import AutoConfig

    fields = {**_SHAPE, **ARCHITECTURES[model_type], "vocab_size": vocab_size, **overrides}
    if model_type == "phi3":  # its default pad id (32000) is a token of its own 32k vocabulary
        fields.setdefault("pad_token_id", 0)
    return AutoConfig.for_model(model_type, **fields)


def save_tiny_base(model_type: str, tokenizer_dir: Path, target: Path) -> Path:
    """A float32 random checkpoint of `model_type` with the tokenizer at `tokenizer_dir`, saved once."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (target / "config.json").is_file():
        return target
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config(model_type, len(tokenizer)), dtype=torch.float32)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)
    return target
