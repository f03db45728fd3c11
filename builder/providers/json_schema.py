"""The JSON schema dsforge's providers constrain decoding to, and what those providers share.

langextract asks a provider for its schema class, builds one from the examples (or a
user's envelope schema) and hands it back through `apply_schema`; the servers behind
dsforge's providers emit bare JSON either way, so no output is ever fenced.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from langextract.core import base_model, data, exceptions, schema
from langextract.core import output_schema as output_schema_lib
from langextract.core import types as core_types


@dataclasses.dataclass(frozen=True)
class JsonSchemaConstraint(schema.BaseSchema):
    """JSON schema the decoder is constrained to; the envelope langextract parses."""

    schema_dict: dict[str, Any]
    from_output_schema: bool = dataclasses.field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Parallel requests share the instance; a caller mutating its dict must not reach them.
        object.__setattr__(self, "schema_dict", copy.deepcopy(self.schema_dict))

    @classmethod
    def from_schema_dict(cls, output_schema: core_types.JsonSchema) -> JsonSchemaConstraint:
        """Keep a user-authored envelope schema after langextract's envelope checks."""
        return cls(output_schema_lib.validate_output_schema(output_schema), from_output_schema=True)

    @classmethod
    def from_examples(
        cls,
        examples_data: Sequence[data.ExampleData],
        attribute_suffix: str = data.ATTRIBUTE_SUFFIX,
    ) -> JsonSchemaConstraint:
        """An ``{"extractions": [...]}`` schema whose items use the examples' class names."""
        classes = sorted({e.extraction_class for ex in examples_data for e in ex.extractions})
        variants = [
            {
                "type": "object",
                "properties": {
                    cls_name: {"type": "string"},
                    f"{cls_name}{attribute_suffix}": {"type": "object"},
                },
                "required": [cls_name],
                "additionalProperties": False,
            }
            for cls_name in classes
        ]
        if not variants:
            items: dict[str, Any] = {"type": "object"}
        elif len(variants) == 1:
            items = variants[0]
        else:
            items = {"anyOf": variants}
        return cls(
            {
                "type": "object",
                "properties": {data.EXTRACTIONS_KEY: {"type": "array", "items": items}},
                "required": [data.EXTRACTIONS_KEY],
            }
        )

    def to_provider_config(self) -> dict[str, Any]:
        """Provider kwargs carrying the schema."""
        return {"json_schema": copy.deepcopy(self.schema_dict)}

    @property
    def requires_raw_output(self) -> bool:
        """Constrained decoding emits bare JSON, never fenced."""
        return True



def usage_counts(usage: dict[str, Any]) -> dict[str, int]:
    """Prompt, cached-prompt and completion tokens of an OpenAI-style `usage` (0 where absent).

    `cached_prompt_tokens` are the prompt's tokens the server reused from an earlier request (the
    task and examples every chunk shares), not evaluated again.
    """
    return {
        "prompt_tokens": int(usage.get("prompt_tokens") or 0),
        "cached_prompt_tokens": int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
        "completion_tokens": int(usage.get("completion_tokens") or 0),
    }


class JsonSchemaLanguageModel(base_model.BaseLanguageModel):
    """A provider constrained by a `JsonSchemaConstraint`, whose server emits bare JSON."""

    @classmethod
    def get_schema_class(cls) -> type[schema.BaseSchema]:
        """Schema type langextract builds for this provider."""
        return JsonSchemaConstraint

    def require_constraint(self, schema_instance: schema.BaseSchema | None) -> None:
        """Refuse a schema this provider cannot turn into constrained decoding."""
        if schema_instance is not None and not isinstance(schema_instance, JsonSchemaConstraint):
            raise exceptions.InferenceConfigError(
                f"{type(self).__name__} needs a JsonSchemaConstraint, got {type(schema_instance).__name__}."
            )

    def record_usage(self, usage: dict[str, Any]) -> dict[str, int]:
        """Add one answer's OpenAI-style `usage` to this model's token counts (call under its lock);
        returns that answer's counts."""
        counts = usage_counts(usage)
        totals = self.__dict__.setdefault("token_usage", dict.fromkeys(counts, 0))
        for key, value in counts.items():
            totals[key] += value
        return counts

    @property
    def requires_fence_output(self) -> bool:
        """Bare JSON with or without a schema, unless the caller says otherwise."""
        if self._fence_output_override is not None:
            return self._fence_output_override
        return False
