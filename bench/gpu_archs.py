"""Published architectures used by the GPU benchmark, and the FLOPs one training token costs."""

from __future__ import annotations

from typing import Any

_QWEN2 = {"hidden_act": "silu", "rms_norm_eps": 1e-6, "max_position_embeddings": 32768,
          "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "use_cache": False}  # fmt: skip

# config.json values of the Hugging Face releases Qwen/Qwen2.5-{0.5B,1.5B,7B}.
ARCHS: dict[str, dict[str, Any]] = {
    "qwen2.5-0.5b": {**_QWEN2, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                     "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                     "tie_word_embeddings": True},
    "qwen2.5-1.5b": {**_QWEN2, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                     "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
                     "tie_word_embeddings": True},
    "qwen2.5-7b": {**_QWEN2, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                   "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                   "tie_word_embeddings": False},
    # Layer shapes of Qwen/Qwen2.5-32B and -72B: bases that need FSDP (bench/qlora_multigpu.py).
    "qwen2.5-32b": {**_QWEN2, "hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64,
                    "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 152064,
                    "tie_word_embeddings": False},
    "qwen2.5-72b": {**_QWEN2, "hidden_size": 8192, "intermediate_size": 29568, "num_hidden_layers": 80,
                    "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 152064,
                    "tie_word_embeddings": False},
    # Other families at 1–4B, config.json values of the releases (random weights, the layer shapes are
    # what costs). The tokenizer the benchmark carries has 49 152 ids, so the two 32k vocabularies are
    # widened to it: a wider output head, said in bench/README.md.
    "llama3.2-1b": {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "head_dim": 64,
                    "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "max_position_embeddings": 131072,
                    "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}, "use_cache": False},
    # mistralai/Mistral-7B-v0.1's layers, 8 of its 32 (1.9B): no Mistral release is this small.
    "mistral-7b-8layers": {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
                           "num_hidden_layers": 8, "num_attention_heads": 32, "num_key_value_heads": 8,
                           "vocab_size": 49152, "sliding_window": 4096, "rms_norm_eps": 1e-5,
                           "tie_word_embeddings": False, "use_cache": False},
    "gemma-2b": {"model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384, "num_hidden_layers": 18,
                 "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 256000,
                 "hidden_activation": "gelu_pytorch_tanh", "use_cache": False},
    "gemma2-2b": {"model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                  "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000,
                  "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
                  "query_pre_attn_scalar": 256, "use_cache": False},
    "gemma3-1b": {"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912,
                  "num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
                  "vocab_size": 262144, "sliding_window": 512, "query_pre_attn_scalar": 256,
                  "use_cache": False},
    "phi3-mini": {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
                  "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 49152, "sliding_window": 2047,
                  "pad_token_id": 0, "tie_word_embeddings": False, "use_cache": False},
    # Not a release: a few-MB model that lets the benchmark's plumbing run on a CPU in seconds.
    "tiny-smoke": {**_QWEN2, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 151936,
                   "tie_word_embeddings": True},
}  # fmt: skip


def model_config(arch: str) -> Any:
    """The transformers config of a listed architecture (Qwen2 where the row names no model_type)."""
    from transformers import AutoConfig

    fields = dict(ARCHS[arch])
    return AutoConfig.for_model(fields.pop("model_type", "qwen2"), **fields)


def lora_training_flops_per_token(arch: dict[str, Any], seq_len: int) -> dict[str, float]:
    """Matmul FLOPs per trained token; gradient-checkpointing recompute is not counted (MFU convention).

    `lora`: the base is frozen, so its linear layers cost forward + input gradient (4 per weight)
    and attention's two activation matmuls cost forward + both gradients (3× forward).
    `6n`: the full-fine-tuning convention (6 per weight, PaLM appendix B), for comparison with
    figures quoted elsewhere.
    """
    h, layers = arch["hidden_size"], arch["num_hidden_layers"]
    head_dim = arch.get("head_dim", h // arch["num_attention_heads"])
    q = arch["num_attention_heads"] * head_dim  # Gemma's heads are wider than hidden / heads
    kv = arch["num_key_value_heads"] * head_dim
    per_layer = h * q * 2 + h * kv * 2 + 3 * h * arch["intermediate_size"]
    linear = layers * per_layer + arch["vocab_size"] * h  # the output head runs whatever the tying
    attention_forward = layers * 4 * seq_len * q
    return {
        "lora": 4 * linear + 3 * attention_forward,
        "6n": 6 * linear + 3 * attention_forward,
    }
