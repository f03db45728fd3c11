"""trl's SFTTrainer without the per-step host work that a small model's step cannot hide.

A checkpointed step of a 0.5B model on a big GPU is paced by the host (bench/README.md §1b,
§1f), so every millisecond of Python between kernels is a millisecond of step time. Per
step, transformers' Trainer walks the whole module tree five times for bookkeeping whose
answer does not change during a run (0.5B under QLoRA: 2 001 modules, 627 parameters of
which 336 train; `bench/trainer_overhead.py` times each walk):

- `floating_point_ops` counts the non-embedding parameters again (`num_parameters`):
  counted once here.
- `_track_num_input_tokens` ("non_padding") counts tokens on the GPU and reads the count
  back, a host-device sync at the start of the step. A padding-free packed batch has no
  padding: its token count is its length, known on the host.
- `model.train()` sets `training` on every module: skipped while nothing has left
  training mode through the top-level model since the last full pass.
- `_clip_grad_norm` and `model.zero_grad()` iterate every parameter for the few that
  have gradients: here they go straight to the trainable ones (one process only; DDP and
  FSDP keep transformers' own paths, which they need to recognise the model).

Everything else — loss, metrics, logs, checkpoints — is trl's, plus, where the run asks for
it, the KL-to-base term against forgetting (train/kl_to_base.py) on top of trl's loss.
"""

from __future__ import annotations

import types
from typing import Any

from trl import SFTTrainer

from train.kl_to_base import KlToBase


class LeanSFTTrainer(SFTTrainer):
    """SFTTrainer whose per-step bookkeeping stays off the GPU's critical path."""

    def __init__(self, *args: Any, kl_to_base: KlToBase | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kl_to_base = kl_to_base
        self._non_embedding_parameters: int | None = None
        # One plain process: the model the loop sees is this one, unwrapped, so its walks can be short-cut.
        self._one_process = self.accelerator.num_processes == 1 and not (self.is_deepspeed_enabled or self.is_fsdp_enabled)
        self._trainable = [p for p in self.model.parameters() if p.requires_grad] if self._one_process else []
        if self._one_process:
            remember_train_mode(self.model)
            clear_gradients_of(self.model, self._trainable)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """trl's loss; in training with `kl_to_base`, plus its weighted KL term on one general sequence.

        The term is weighted so an optimiser step adds coefficient × the mean KL whatever the
        gradient accumulation: where trl's loss is already a share of the accumulated step's mean,
        each micro-step's KL is divided by the accumulation steps like it.
        """
        out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self._kl_to_base is None or not model.training:
            return out
        kl = self._kl_to_base.term(self.accelerator.unwrap_model(model))
        self._metrics["train"]["kl_to_base"].append(float(kl.detach()))
        weight = self._kl_to_base.coefficient
        if self._loss_scaled_for_accumulation(num_items_in_batch):
            weight /= self.current_gradient_accumulation_steps
        if return_outputs:
            loss, outputs = out
            return loss + weight * kl, outputs
        return out + weight * kl

    def _loss_scaled_for_accumulation(self, num_items_in_batch: Any) -> bool:
        """transformers' own test (Trainer.training_step) of whether it will divide the loss itself."""
        if getattr(self, "loss_is_scaled_for_ga", None) is not None:
            return bool(self.loss_is_scaled_for_ga)
        return bool(self.model_accepts_loss_kwargs and num_items_in_batch is not None) or (
            self.compute_loss_func is not None
        )

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
        main_input = getattr(self.model, "main_input_name", "input_ids")
        padding_free = "position_ids" in inputs and "attention_mask" not in inputs and main_input in inputs
        if self.args.include_num_input_tokens_seen == "no" or not padding_free or not self._one_process:
            super()._track_num_input_tokens(inputs)
            return
        self.state.num_input_tokens_seen += int(inputs[main_input].numel())

    def _clip_grad_norm(self, model: Any) -> Any:
        """transformers' clip over the trainable parameters only (the frozen ones have no gradient)."""
        if not self._one_process:
            return super()._clip_grad_norm(model)
        return self.accelerator.clip_grad_norm_(self._trainable, self.args.max_grad_norm)


def remember_train_mode(model: Any) -> None:
    """Make `model.train()` a no-op while the whole tree is known to be in training mode.

    The known state is set by a full `train(mode)` pass through this top-level model and
    dropped by any other (`eval()` included), so evaluation and back behave as before.
    """
    if getattr(model, "_dsforge_train_mode", None) is not None:
        return
    full_pass = model.train

    def train(self: Any, mode: bool = True) -> Any:
        if mode and self._dsforge_train_mode is True and self.training:
            return self
        out = full_pass(mode)
        self._dsforge_train_mode = bool(mode)
        return out

    model._dsforge_train_mode = False
    model.train = types.MethodType(train, model)


def clear_gradients_of(model: Any, trainable: list[Any]) -> None:
    """`model.zero_grad()` as set-to-none over the trainable parameters, not a walk of every one."""

    def zero_grad(self: Any, set_to_none: bool = True) -> None:
        for param in trainable:
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.detach_().zero_()

    model.zero_grad = types.MethodType(zero_grad, model)
