"""trl's SFTTrainer without two per-step host costs that a small model's step cannot hide.

A checkpointed step of a 0.5B model on a big GPU is paced by the host (bench/README.md §1b,
§1f), so every millisecond of Python between kernels is a millisecond of step time:

- `Trainer.floating_point_ops` walks every module and parameter of the model on every
  step (`num_parameters(exclude_embeddings=True)`: 8 000 `named_modules` calls per step
  at 0.5B). The count never changes during a run, so it is taken once.
- `include_num_input_tokens_seen="non_padding"` counts tokens on the GPU and reads the
  count back (a host-device sync) at the start of every step. A padding-free packed batch
  has no padding, so its token count is its length, known on the host.

Everything else — the loss, the metrics, the logs, the saved state — is trl's.
"""

from __future__ import annotations

from typing import Any

from trl import SFTTrainer


class LeanSFTTrainer(SFTTrainer):
    """SFTTrainer whose per-step bookkeeping stays off the GPU's critical path."""

    _non_embedding_parameters: int | None = None

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """The same 6 · tokens · non-embedding parameters as transformers', the count taken once."""
        main_input = getattr(self.model, "main_input_name", "input_ids")
        if main_input not in inputs or not hasattr(self.model, "num_parameters"):
            return 0
        if self._non_embedding_parameters is None:
            self._non_embedding_parameters = int(self.model.num_parameters(exclude_embeddings=True))
        return 6 * inputs[main_input].numel() * self._non_embedding_parameters

    def _track_num_input_tokens(self, inputs: dict[str, Any]) -> None:
        """A padding-free batch (position ids, no attention mask) in one process: its length, no sync."""
        padding_free = "position_ids" in inputs and "attention_mask" not in inputs
        if self.args.include_num_input_tokens_seen == "no" or not padding_free or self.accelerator.num_processes > 1:
            super()._track_num_input_tokens(inputs)
            return
        main_input = getattr(self.model, "main_input_name", "input_ids")
        if main_input in inputs:
            self.state.num_input_tokens_seen += int(inputs[main_input].numel())
        else:
            super()._track_num_input_tokens(inputs)
