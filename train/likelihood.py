"""How well a model predicts given tokens: summed NLL, perplexity, and the probe's windows.

The bottom of the evaluation stack: `evaluate` (test answers), `forgetting` (the
general-text probe) and the reports above them all score text through here, and
nothing here imports them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any


def sequence_nll(
    model: Any, items: Sequence[tuple[list[int], int]], batch_size: int, pad_id: int
) -> tuple[float, int]:
    """Summed negative log-likelihood of the last `n` tokens of each sequence, and their count.

    Sequences are left-padded so the scored tokens sit at the right edge; only
    those positions' logits are computed (`logits_to_keep`), never the full
    vocabulary × sequence tensor.
    """
    import torch

    total, count = 0.0, 0
    for batch in batches(list(items), batch_size):
        width = max(len(ids) for ids, _ in batch)
        keep = max(n for _, n in batch) + 1
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, _) in enumerate(batch):
            input_ids[i, width - len(ids) :] = torch.tensor(ids)
            mask[i, width - len(ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = model(
                input_ids=input_ids.to(model.device),
                attention_mask=mask.to(model.device),
                position_ids=positions.to(model.device),
                logits_to_keep=min(keep, width),
            ).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        kept = logprobs.shape[1]
        for i, (ids, n) in enumerate(batch):
            n = min(n, len(ids) - 1)
            targets = torch.tensor(ids[len(ids) - n :], device=logprobs.device)
            rows = logprobs[i, kept - n - 1 : kept - 1]
            total -= rows.gather(-1, targets[:, None]).sum().item()
            count += n
    return total, count


def perplexity(nll: float, n: int) -> float:
    """exp of the mean token NLL; NaN when nothing was scored (not a misleading 1.0)."""
    return math.exp(nll / n) if n else float("nan")


def probe_windows(tokenizer: Any, text: str, window: int) -> list[tuple[list[int], int]]:
    """The probe cut into windows of `window` tokens, each scored on all but its first token."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    chunks = [ids[i : i + window] for i in range(0, len(ids), window)]
    return [(c, len(c) - 1) for c in chunks if len(c) > 1]


def batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
