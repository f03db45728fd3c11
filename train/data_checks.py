"""How the data meets the options: token counts, and what users would otherwise learn too late."""

from __future__ import annotations

from typing import Any

from core.errors import TrainError
from core.options.train import TrainOptions
from train.data import to_prompt_completion


def data_warnings(data: Any, opts: TrainOptions, tokenizer: Any) -> list[str]:
    """What users learn too late otherwise: too little data, answers cut by max_seq_len."""
    warnings = []
    n_train, n_val = len(data["train"]), len(data["validation"])
    if n_train < opts.min_train_examples:
        warnings.append(
            f"only {n_train} training records (fewer than {opts.min_train_examples}): expect the "
            "adapter to memorise rather than generalise; build more records before trusting the report."
        )
    if n_val < 10:
        warnings.append(f"only {n_val} validation records: early stopping will follow noise.")
    too_long = dropped = 0
    for row in data["train"]:
        pair = to_prompt_completion(row)
        prompt = token_count(tokenizer, pair["prompt"], add_generation_prompt=True)
        full = token_count(tokenizer, pair["prompt"] + pair["completion"])
        too_long += full > opts.max_seq_len
        dropped += prompt >= opts.max_seq_len
    if dropped == n_train:
        raise TrainError(
            f"every training prompt is at least train.max_seq_len={opts.max_seq_len} tokens, so no answer "
            "token would be left to learn from; raise max_seq_len."
        )
    if too_long:
        warnings.append(
            f"{too_long} of {n_train} training records exceed train.max_seq_len={opts.max_seq_len} tokens "
            f"and are truncated, which cuts their answers ({dropped} lose them entirely and are dropped); "
            "raise max_seq_len."
        )
    return warnings


def token_count(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> int:
    """Tokens of `messages` as the chat template renders them, whichever type the tokenizer returns."""
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt)
    return len(ids["input_ids"] if hasattr(ids, "keys") else ids)
