"""What a preference run (`train.objective: dpo`) adds to the recipe: where it starts, what it
warns about, and how well the tuned model prefers the reviewers' answers on held-out pairs.

The reference TRL compares against is never a second model in memory: starting from the
project's SFT adapter, TRL loads a frozen copy of that adapter beside the trained one
("ref"); starting from the base, the reference is the base with the adapter disabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import TrainError
from core.layout import TrainPaths
from core.options.train import TrainOptions

MIN_PAIRS = 50  # below this a preference run mostly memorises its pairs


def start_adapter(opts: TrainOptions, output: Path) -> Path | None:
    """The SFT adapter a preference run starts from, or None for a fresh adapter on the base."""
    sft = TrainPaths(output).adapter
    exists = (sft / "adapter_config.json").is_file()
    if opts.start_from == "sft" and not exists:
        raise TrainError(
            f"train.start_from is sft but there is no SFT adapter at {sft}: run `dsforge train` with "
            "objective: sft first, or set start_from: base."
        )
    return sft if exists and opts.start_from != "base" else None


def preference_warnings(data: dict[str, Any], opts: TrainOptions) -> list[str]:
    warnings = []
    n_train = len(data["train"])
    if n_train < MIN_PAIRS:
        warnings.append(
            f"only {n_train} preference pairs for training (fewer than {MIN_PAIRS}): expect the adapter to "
            "memorise them; correct more records in review before trusting the margin."
        )
    if data["validation"] is None:
        warnings.append("no validation pairs: no early stopping, the last step's adapter is kept.")
    if data["test"] is None:
        warnings.append("no test pairs: the held-out preference accuracy cannot be measured.")
    if opts.replay > 0:
        warnings.append("train.replay mixes general text into SFT only; this preference run ignores it.")
    return warnings


def pairs_only(pairs: Any) -> Any:
    """The columns TRL's preference trainers read."""
    return pairs.select_columns(["prompt", "chosen", "rejected"])


def held_out_preference(trainer: Any, test_pairs: Any) -> dict[str, Any] | None:
    """Preference accuracy and reward margin of the trained adapter on the test pairs (TRL's own metrics).

    Accuracy: the share of pairs where the tuned model gives the reviewer's answer a higher
    reward (β-scaled log-probability ratio to the reference) than the model's original.
    """
    if test_pairs is None:
        return None
    data = pairs_only(test_pairs)
    if hasattr(trainer, "tokenize_row"):  # ORPO (experimental) tokenizes only the datasets it was built with
        from trl.data_utils import maybe_apply_chat_template, maybe_extract_prompt

        data = data.map(maybe_extract_prompt).map(
            maybe_apply_chat_template, fn_kwargs={"processing_class": trainer.processing_class}
        )
        data = data.map(trainer.tokenize_row)
    metrics = trainer.evaluate(data, metric_key_prefix="test")
    # TRL logs its reward metrics under "eval_" whatever the prefix; the loss follows the prefix
    return {
        "pairs": len(test_pairs),
        "loss": metrics.get("test_loss"),
        "accuracy": metrics.get("eval_rewards/accuracies"),
        "margin": metrics.get("eval_rewards/margins"),
        "chosen_reward": metrics.get("eval_rewards/chosen"),
        "rejected_reward": metrics.get("eval_rewards/rejected"),
    }
