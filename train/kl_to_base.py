"""KL to the base against forgetting: hold the tuned model's next-token distribution near the base's.

Replay (train/replay.py) rehearses general answers among the domain records; this is the
other remedy: every training step also reads one general sequence — a record of the packaged
replay set, chat-formatted as training formats its own records — and adds
`train.kl_to_base` · KL(base ‖ tuned), averaged over that sequence's tokens, to the loss. The
base is the same model with its adapter disabled, run without gradients: no second copy in
memory. The cost is one forward without and one forward + backward with the adapter on one
sequence a step, whose full logits exist for that sequence only.

The general sequences go through in a seeded order, the set repeated as often as the run needs;
the forgetting probe (train/data/general_probe.txt) is other text, so the probe stays a fair
measure of what the term bought.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from train.data import prompt_messages
from train.replay import read_set

KL_LOGIT_BYTES = 16  # per logit of the KL sequence: bf16 logits, both fp32 log-softmaxes, the gradient


class KlToBase:
    """The KL term's general sequences and its value on the model being trained."""

    def __init__(self, tokenizer: Any, coefficient: float, max_len: int, seed: int) -> None:
        self.coefficient = coefficient
        self._sequences = general_sequences(tokenizer, max_len, seed)

    def term(self, model: Any) -> Any:
        """KL(base ‖ tuned) over the next general sequence's tokens; differentiable through the adapter."""
        import torch

        ids = torch.tensor([next(self._sequences)], device=model.device)
        with torch.no_grad(), model.disable_adapter():
            base_logits = model(input_ids=ids, use_cache=False).logits
        tuned_logits = model(input_ids=ids, use_cache=False).logits
        return token_kl(base_logits, tuned_logits)


def token_kl(base_logits: Any, tuned_logits: Any) -> Any:
    """Mean over positions of KL(base ‖ tuned) of the next-token distributions, in float32."""
    import torch.nn.functional as F

    base = F.log_softmax(base_logits.float(), dim=-1)
    tuned = F.log_softmax(tuned_logits.float(), dim=-1)
    positions = base.shape[0] * base.shape[1]
    return F.kl_div(tuned, base, log_target=True, reduction="sum") / positions


def general_sequences(tokenizer: Any, max_len: int, seed: int) -> Iterator[list[int]]:
    """Token ids of the replay set's records as training formats a record (prompt, then the answer),
    each cut to `max_len`, in a seeded order, round after round."""
    rows = read_set()
    rounds = 0
    while True:
        order = list(range(len(rows)))
        random.Random(seed + rounds).shuffle(order)
        for i in order:
            row = rows[i]
            messages = [*prompt_messages(row), {"role": "assistant", "content": row["output"].strip()}]
            ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
            yield list(ids)[:max_len]
        rounds += 1


def kl_sequence_bytes(vocab_size: int, max_len: int) -> int:
    """Memory the KL sequence's logits take at their peak, beside its one row of activations."""
    return vocab_size * max_len * KL_LOGIT_BYTES

