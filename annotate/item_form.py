"""The schema as the review form: one question per attribute, of the kind its type asks for.

A closed attribute (Literal, Enum) becomes a label question with the allowed values, a list
of them a multi-label question, a bool a yes/no label, a small bounded integer a rating, and
anything else a text box (JSON for structured values). The model's value is the suggestion,
so a reviewer who agrees only presses submit; what comes back is turned into the schema's
own types again and validated by the schema on pull.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from schemas.base import ExtractionSchema

if TYPE_CHECKING:
    import argilla as rg

QuestionKind = Literal["label", "multi_label", "yes_no", "rating", "text", "json"]
# Names the item dataset gives its fields, metadata and own questions: an attribute called so is
# asked as `attr_<name>` (Argilla wants every name in a dataset's settings unique).
RESERVED = frozenset({
    "decision", "evidence_span", "quality", "corrected_output", "evidence", "evidence_text",
    "document", "doc_id", "model", "source", "match", "position", "embedding",
})  # fmt: skip
_UNSAFE = re.compile(r"[^a-z0-9_-]")
YES, NO = "true", "false"


@dataclass(frozen=True)
class AttributeQuestion:
    """How one schema attribute is asked and read back."""

    attribute: str
    name: str  # the Argilla question name
    kind: QuestionKind
    title: str
    description: str | None = None
    values: tuple[Any, ...] = ()  # allowed values, in the schema's own types

    def to_argilla(self) -> "rg.QuestionType":
        import argilla as rg

        if self.kind in ("label", "yes_no"):
            labels = {YES: "yes", NO: "no"} if self.kind == "yes_no" else {str(v): str(v) for v in self.values}
            return rg.LabelQuestion(name=self.name, title=self.title, labels=labels, required=False,
                                    description=self.description)
        if self.kind == "multi_label":
            return rg.MultiLabelQuestion(
                name=self.name, title=self.title, labels=[str(v) for v in self.values], required=False,
                description=self.description,
            )
        if self.kind == "rating":
            return rg.RatingQuestion(name=self.name, title=self.title, values=list(self.values), required=False,
                                     description=self.description)
        return rg.TextQuestion(
            name=self.name, title=self.title, description=self.description, required=False, use_markdown=False
        )

    def suggestion(self, value: Any) -> Any:
        """The model's value as the question's answer; None when there is nothing to suggest."""
        if value is None or value == "" or value == []:
            return None
        if self.kind == "yes_no":
            return YES if value else NO
        if self.kind == "label":
            return str(value)
        if self.kind == "multi_label":
            return [str(v) for v in value]
        if self.kind == "rating":
            return int(value)
        if self.kind == "text":
            return str(value)
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def read(self, answer: Any) -> Any:
        """A reviewer's answer in the schema's types; raises ValueError with what is wrong."""
        if self.kind == "yes_no":
            return {YES: True, NO: False}[str(answer)]
        if self.kind == "label":
            return self._known(answer)
        if self.kind == "multi_label":
            return [self._known(v) for v in answer]
        if self.kind == "rating":
            return int(answer)
        if self.kind == "text":
            return str(answer)
        try:
            return json.loads(answer)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.attribute}: not valid JSON ({exc})") from exc

    def _known(self, answer: Any) -> Any:
        for value in self.values:
            if str(value) == str(answer):
                return value
        raise ValueError(f"{self.attribute}: {answer!r} is not one of {[str(v) for v in self.values]}")


def attribute_questions(schema: type[ExtractionSchema]) -> list[AttributeQuestion]:
    """One question per attribute of the schema, in field order."""
    specs = schema.attribute_json_schema()
    questions, names = [], set()
    for attribute in schema.attribute_fields():
        name = _question_name(attribute)
        if name in names or name in RESERVED:
            name = f"attr_{name}"
        names.add(name)
        description = schema.model_fields[attribute].description
        kind, values = _kind(_without_null(specs[attribute]))
        title = attribute.replace("_", " ").capitalize()
        questions.append(AttributeQuestion(attribute, name, kind, title, description, tuple(values)))
    return questions


def _question_name(attribute: str) -> str:
    return _UNSAFE.sub("_", attribute.lower()) or "attribute"


def _without_null(spec: dict[str, Any]) -> dict[str, Any]:
    """An Optional[X] attribute is asked as X; an empty answer means None."""
    options = [s for s in spec.get("anyOf", []) if s.get("type") != "null"]
    return options[0] if len(options) == 1 else spec


def _kind(spec: dict[str, Any]) -> tuple[QuestionKind, list[Any]]:
    closed = spec.get("enum") or ([spec["const"]] if "const" in spec else None)
    if closed:
        return "label", list(closed)
    kind = spec.get("type")
    if kind == "boolean":
        return "yes_no", [True, False]
    if kind == "array":
        items = spec.get("items", {})
        closed_items = items.get("enum") or ([items["const"]] if "const" in items else None)
        return ("multi_label", list(closed_items)) if closed_items else ("json", [])
    if kind == "integer":
        low, high = spec.get("minimum"), spec.get("maximum")
        if low is not None and high is not None and 0 <= low < high <= 10:
            return "rating", list(range(int(low), int(high) + 1))
        return "json", []
    if kind == "string":
        return "text", []
    return "json", []
