"""The typed sections of a run card (run.json): base model, dataset, hyper-parameters and the rest.

Each section types the keys dsforge reads and keeps every other key as written,
and dumps exactly the keys it was given, in their order: a card from any
release reads back and writes out byte for byte, and an old card lacking a key
reads as None there instead of failing.
"""

from __future__ import annotations

from collections.abc import ItemsView
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from core.options.methods import TrainingMethod, find_method


class Section(BaseModel):
    """A run-card section: its typed fields default to None and are written only when given."""

    model_config = ConfigDict(extra="allow")
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: ModelWrapValidatorHandler[Section]) -> Section:
        section = handler(data)
        if isinstance(data, dict):
            section._order = list(data)
        return section

    @model_serializer(mode="wrap")
    def _as_written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped = handler(self)
        given = self.model_fields_set | set(self.__pydantic_extra__ or {})
        keys = [k for k in self._order if k in given] + [k for k in dumped if k in given and k not in self._order]
        return {k: dumped[k] for k in keys if k in dumped}

    def __getitem__(self, key: str) -> Any:
        """Mapping reads for scripts written against the dict sections (`card.dataset["sizes"]`)."""
        if key in self.model_fields_set or key in (self.__pydantic_extra__ or {}):
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def items(self) -> ItemsView[str, Any]:
        """The section's keys and values as written (the markdown card lists them)."""
        return self.model_dump().items()


class BaseModelRecord(Section):
    """Which base was trained on: its name or path as configured, the folder loaded, its provenance."""

    ref: str | None = None
    path: str | None = None

    @property
    def provenance(self) -> dict[str, Any]:
        """What identifies the weights (gguf hash, conversion, …): everything but ref and path."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in {"ref", "path"}}


class Replay(Section):
    """The general records mixed into the training split against forgetting (train/replay.py)."""

    ratio: float | None = None
    records: int | None = None
    share: float | None = None
    file: str | None = None
    sha256: str | None = None
    set_size: int | None = None
    repeated: bool | None = None


class DatasetRecord(Section):
    """The exported dataset trained on; a merge names its inputs' datasets instead."""

    fingerprint: str | None = None
    path: str | None = None
    sizes: dict[str, int] | None = None
    lineage: dict[str, Any] | None = None
    replay: Replay | None = None
    merged_from: list[str | None] | None = None


class Hyperparameters(Section):
    """The resolved train options (every TrainOptions field is kept) plus the optimizer; a merge's own keys."""

    method: str | None = None
    mode: str | None = None  # before `method`, the only record of it; a merge's "merge (<how>)"
    learning_rate: float | None = None
    lr_scheduler: str | None = None
    optimizer: str | None = None
    batch_size: int | str | None = None
    gradient_accumulation_steps: int | None = None
    compute_dtype: str | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    target_modules: list[str] | str | None = None
    num_virtual_tokens: int | None = None
    prompt_init_text: str | None = None
    replay: float | None = None
    kl_to_base: float | None = None
    seed: int | None = None
    max_steps: int | None = None
    epochs: float | None = None
    weights: list[float] | None = None  # merge: the inputs' weights
    density: float | None = None  # merge: ties/dare density
    inputs: list[str] | None = None  # merge: the adapter folders combined

    @property
    def trained_method(self) -> str:
        """The method; cards from before `train.method` recorded only `mode`."""
        return str(self.method or self.mode or "qlora")

    @property
    def training_method(self) -> TrainingMethod | None:
        """The method's table row; None for a merge or a method no longer in the table."""
        return find_method(self.trained_method)


class MemoryPolicy(Section):
    """What the run did to fit in memory and run fast, each choice in words."""

    method: str | None = None
    quantisation: str | None = None
    compute_dtype: str | None = None
    trainable_parameters: str | None = None
    checkpoint: str | None = None
    checkpoint_keeps: str | None = None
    liger_kernels: bool | None = None
    attention: str | None = None  # the attention the base ran with, and why (train/packing.py)


class HardwareRecord(Section):
    """Where it ran: device, platform, GPUs and, for several processes, how they shared the work."""

    device: str | None = None
    compute_dtype: str | None = None
    cpu_count: int | None = None
    gpus: list[str] | None = None
    gpu_memory_gib: float | None = None
    processes: int | None = None
    distributed: str | None = None
    global_batch: int | None = None
    sharded_tensors: int | None = None


class PeakMemory(Section):
    """Peak RSS over the process's life and, on CUDA, peak VRAM (GiB)."""

    peak_rss_gib: float | None = None
    peak_vram_allocated_gib: float | None = None
    peak_vram_reserved_gib: float | None = None


class Artifacts(Section):
    """The files a run wrote; a merge names its folder's kind."""

    adapter: str | None = None
    checkpoints: str | None = None
    merged: str | None = None
    loss_png: str | None = None
    tracking: dict[str, str] | None = None  # tracker → where its run was logged
