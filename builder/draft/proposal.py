"""What the model is asked to fill: the shape of a schema, then one worked example.

Both answers are decoded under a JSON schema, so a constrained provider can only
return something of this shape; `SchemaProposal` is still validated (an
unconstrained provider may not keep to it) and cleaned into names Python accepts.
"""

from __future__ import annotations

import keyword
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from schemas.base import DOCUMENT_PLACEHOLDERS, EVIDENCE_FIELD

FieldKind = Literal["choice", "text", "yes_no"]
# Names an attribute may not take: the evidence, the schema's own class attributes, template placeholders.
RESERVED = {EVIDENCE_FIELD, "extraction_class", "examples", "templates", "stratify_by", "schema_id"} | set(
    DOCUMENT_PLACEHOLDERS
)
MAX_FIELDS = 4
MAX_CHOICES = 6


class FieldProposal(BaseModel):
    name: str = Field(max_length=40, description="snake_case name of the attribute")
    kind: FieldKind = Field(description="choice: one of a closed set; text: a short free answer; yes_no: a flag")
    choices: list[str] = Field(default_factory=list, max_length=MAX_CHOICES, description="for choice: the values")
    description: str = Field(max_length=160, description="what the attribute says about the item, in a few words")


class SchemaProposal(BaseModel):
    item_name: str = Field(max_length=40, description="snake_case name of one extracted item")
    task: str = Field(max_length=600, description="2-3 sentences: what to find in such documents and what to skip")
    fields: list[FieldProposal] = Field(min_length=1, max_length=MAX_FIELDS)

    @field_validator("item_name")
    @classmethod
    def _item_name(cls, value: str) -> str:
        name = identifier(value)
        if name.endswith("_attributes"):
            name = name.removesuffix("_attributes") or "item"
        return name

    def cleaned(self) -> SchemaProposal:
        """Identifiers Python and the schema accept, distinct names, closed sets of at least two values."""
        fields: list[FieldProposal] = []
        seen: set[str] = set()
        for proposed in self.fields:
            name = identifier(proposed.name)
            if name in RESERVED or name == self.item_name:
                name = f"{name}_value"
            if name in seen:
                continue
            seen.add(name)
            choices = _distinct([plain(c).lower() for c in proposed.choices if plain(c)])
            kind = proposed.kind
            if kind == "choice" and len(choices) < 2:
                kind, choices = "text", []  # a closed set of one is no choice
            fields.append(
                FieldProposal(
                    name=name,
                    kind=kind,
                    choices=choices if kind == "choice" else [],
                    description=plain(proposed.description) or name.replace("_", " "),
                )
            )
        return SchemaProposal(item_name=self.item_name, task=plain(self.task), fields=fields)

    @property
    def class_name(self) -> str:
        return "".join(part.capitalize() for part in self.item_name.split("_") if part) or "Item"


def example_json_schema(proposal: SchemaProposal, max_items: int = 4) -> dict[str, Any]:
    """The example answer's shape: items with a verbatim evidence and each proposed attribute."""
    properties: dict[str, Any] = {EVIDENCE_FIELD: {"type": "string", "maxLength": 400}}
    for proposed in proposal.fields:
        properties[proposed.name] = _value_schema(proposed)
    item = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item, "minItems": 1, "maxItems": max_items}},
        "required": ["items"],
        "additionalProperties": False,
    }


def proposal_json_schema() -> dict[str, Any]:
    """SchemaProposal's JSON schema with its definitions inlined (every decoder reads that)."""
    field_schema = FieldProposal.model_json_schema()
    field_schema["properties"]["choices"]["items"] = {"type": "string", "maxLength": 40}
    field_schema["required"] = ["name", "kind", "choices", "description"]
    schema = SchemaProposal.model_json_schema()
    schema.pop("$defs", None)
    schema["properties"]["fields"]["items"] = field_schema
    return schema


def identifier(text: str) -> str:
    """snake_case Python identifier from whatever the model wrote ("Risk level" → "risk_level")."""
    name = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    if not name:
        return "item"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"f_{name}"
    return name


def plain(text: str) -> str:
    """One line of text without braces (template placeholders) or quotes that end a docstring."""
    text = re.sub(r"\s+", " ", text.replace("{", "(").replace("}", ")").replace("\\", "/")).strip()
    return text.replace('"""', "'''")


def _value_schema(proposed: FieldProposal) -> dict[str, Any]:
    if proposed.kind == "choice":
        return {"type": "string", "enum": proposed.choices}
    if proposed.kind == "yes_no":
        return {"type": "boolean"}
    return {"type": "string", "maxLength": 200}


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))
