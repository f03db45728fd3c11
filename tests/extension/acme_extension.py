"""An extension written the way a user writes one: a metric, an export format, a provider, a clean step
and a training method, each one registration, in a module outside dsforge's packages.

Importing it registers all five; `tests/test_extensions.py` also installs it as
a `dsforge.plugins` entry point, which is how the `dsforge` command finds it,
and the clean step and the training method alone as `dsforge.clean_steps` and
`dsforge.train_methods` entry points.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langextract.core import base_model
from langextract.core import types as lx_types

from builder.clean import TextStep, register_step
from builder.export_formats import register_export_format, user_turn
from builder.llm_cache import prompt_sha256
from builder.providers.json_schema import JsonSchemaConstraint
from builder.providers.registry import register_provider
from core.hashing import file_sha256
from core.options.clean import CleanOptions
from core.options.export import ExportOptions
from core.options.methods import LORA_LINE, TrainingMethod, register_method
from schemas.types import ReviewedRecord
from train.metrics import register_metric

PREFIX = "acme-recorded:"
BANNER = "ACME CONFIDENTIAL"


# LoRA with a larger default step: peft's LoRA config, its own row of the method table.
ACME_LORA = register_method(
    TrainingMethod("acme_lora", 5e-4, "train.methods:lora_config", LORA_LINE, lora_family=True, fused_lora=True)
)


@register_metric("length_ratio", label="answer length / reference length", chart_scale=None)
def length_ratio(prediction: str, reference: str) -> float:
    """Words in the answer per word in the reference: how much a model over- or under-answers."""
    return len(prediction.split()) / max(1, len(reference.split()))


@register_export_format("plaintext", describes="`text`: prompt and answer in one string")
def plaintext_row(record: ReviewedRecord, options: ExportOptions) -> dict[str, Any]:
    return {"id": record.id, "text": f"{user_turn(record)}\n\n{record.output}"}


@register_step("strip_acme_banner")
def make_strip_banner(options: CleanOptions) -> TextStep | None:
    """ACME's document system stamps every export; the stamp is not part of the text."""
    return strip_banner


def strip_banner(text: str) -> str:
    return re.sub(rf"^{BANNER}\s*", "", text)


class NotRecordedError(KeyError):
    """The recording holds no completion for this prompt."""


def recording_provenance(model_id: str) -> dict[str, Any]:
    path = Path(model_id[len(PREFIX) :])
    return {"recording": path.name, "recording_sha256": file_sha256(path)}


@register_provider(PREFIX, provenance=recording_provenance)
class AcmeRecordedModel(base_model.BaseLanguageModel):
    """Serves completions a real model produced (`dsforge cache export`), by prompt hash."""

    served = 0

    def __init__(self, model_id: str, **kwargs: Any) -> None:
        super().__init__()
        path = Path(model_id[len(PREFIX) :])
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        self.recording = {row["prompt_sha256"]: row["output"] for row in rows}

    @classmethod
    def get_schema_class(cls) -> type[Any] | None:
        # Constrained like the model that was recorded, so the prompts match.
        return JsonSchemaConstraint

    def infer(self, batch_prompts: Sequence[str], **kwargs: Any) -> Iterator[Sequence[lx_types.ScoredOutput]]:
        for prompt in batch_prompts:
            key = prompt_sha256(prompt)
            if key not in self.recording:
                raise NotRecordedError(f"no recorded completion for prompt {key[:12]}")
            type(self).served += 1
            yield [lx_types.ScoredOutput(score=1.0, output=self.recording[key])]
