from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field, ValidationError

from core.errors import SchemaError
from schemas.base import Example, ExtractionSchema, RecordTemplate, item_values

TEXT = "The licensee must keep this notice. The licensee may copy the work."


def _define(**overrides):
    namespace = {
        "__doc__": "Find duties.",
        "__annotations__": {"kind": Literal["duty", "right"]},
        "kind": Field(description="duty or right"),
        "extraction_class": "clause",
        "examples": [Example(text=TEXT, items=[{"evidence": "must keep this notice", "kind": "duty"}])],
        "templates": [RecordTemplate(name="t", instruction="What is it?", output="{kind}")],
    }
    namespace.update(overrides)
    return type("Duty", (ExtractionSchema,), namespace)


def test_schema_yields_prompt_examples_and_constrained_output_schema(license_schema):
    prompt = license_schema.prompt_description()
    assert "permission, obligation, condition, limitation" in prompt
    assert "not instructions" in prompt
    envelope = license_schema.output_schema()
    item = envelope["properties"]["extractions"]["items"]
    assert item["required"] == ["clause", "clause_attributes"]
    attrs = item["properties"]["clause_attributes"]
    assert attrs["properties"]["kind"]["enum"] == ["permission", "obligation", "condition", "limitation"]
    assert set(attrs["required"]) == {"kind", "summary"}
    examples = license_schema.langextract_examples()
    assert examples[0].extractions[0].extraction_class == "clause"
    assert examples[0].extractions[0].extraction_text in examples[0].text


def test_validate_item_rejects_wrong_enum_and_short_summary(license_schema):
    clause = "Copies must include this notice."
    ok = license_schema.validate_item(clause, {"kind": "obligation", "summary": "Keep the notice."})
    assert ok.kind == "obligation"
    with pytest.raises(ValidationError):
        license_schema.validate_item(clause, {"kind": "duty", "summary": "Keep the notice."})
    with pytest.raises(ValidationError):
        license_schema.validate_item(clause, {"kind": "obligation", "summary": ""})
    with pytest.raises(ValidationError):
        license_schema.validate_item(clause, {"kind": "obligation", "summary": "ok ok", "extra": 1})
    # The sample schema's evidence rule: a sentence, never a heading.
    with pytest.raises(ValidationError, match="evidence"):
        license_schema.validate_item("## Patent Defense Clause", {"kind": "obligation", "summary": "Keep it."})


def test_a_valid_schema_defines_fine():
    schema = _define()
    assert schema.attribute_fields() == ["kind"]
    assert schema.fingerprint()["name"] == "Duty"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"extraction_class": "clause_attributes"}, "extraction_class"),
        ({"examples": []}, "at least one Example"),
        ({"templates": []}, "at least one RecordTemplate"),
        (
            {"templates": [RecordTemplate(name="t", instruction="{nope}", output="{kind}")]},
            "unknown placeholder",
        ),
        (
            {"templates": [RecordTemplate(name="t", instruction="{kind.__class__}", output="x")]},
            "not allowed",
        ),
        (
            {"examples": [Example(text=TEXT, items=[{"evidence": "not in the text", "kind": "duty"}])]},
            "not a verbatim part",
        ),
        (
            {"examples": [Example(text=TEXT, items=[{"evidence": "must keep this notice", "kind": "x"}])]},
            "invalid item",
        ),
        ({"stratify_by": "colour"}, "stratify_by"),
    ],
)
def test_broken_schemas_fail_at_definition_with_the_fix(overrides, message):
    with pytest.raises(SchemaError, match=message):
        _define(**overrides)


def test_templates_render_plain_placeholders_and_filter_by_field(license_schema):
    item = license_schema.validate_item("Keep the notice in all copies.", {"kind": "obligation", "summary": "Keep it."})
    values = item_values(item, doc_title="MIT License", doc_source="mit.txt")
    rendered = {t.name: t.render(values) for t in license_schema.templates if t.applies_to(values)}
    assert set(rendered) == {"explain_clause", "classify_clause", "licensee_duty"}
    assert rendered["licensee_duty"]["instruction"] == "What must a licensee do under the MIT License?"
    assert rendered["classify_clause"]["output"] == '{"kind": "obligation", "summary": "Keep it."}'
    permission = license_schema.validate_item("You may use it for any purpose.", {"kind": "permission", "summary": "Use it."})
    values = item_values(permission, doc_title="MIT", doc_source="mit.txt")
    assert not license_schema.templates[2].applies_to(values)
