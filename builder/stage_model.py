"""The model a build stage beyond extraction asks (the judge, synthetic Q&A): its provider, cache and schema.

Such a stage answers in its own JSON, not langextract's envelope: where the provider decodes under a
JSON schema handed per call, the stage's schema is set on the cached model, so it is part of every
cache key, and calls go through the build's completion cache with extraction's retries and timeout
— a rerun on unchanged input asks nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.caching_model import CachingModel
from builder.language_model import create_language_model
from builder.llm_cache import CompletionCache
from core.config import ProviderConfig
from core.options.extraction import ExtractionOptions
from schemas.base import ExtractionSchema


def provider_of(model_id: str | None, params: dict[str, Any], api_key_env: str | None, base_url: str | None,
                project: ProviderConfig) -> ProviderConfig:  # fmt: skip
    """A stage's own provider when it names a model, else the project's (its model and settings)."""
    if model_id is None:
        return project
    return ProviderConfig(model_id=model_id, params=params, api_key_env=api_key_env, base_url=base_url)


def stage_model(
    provider: ProviderConfig,
    schema: type[ExtractionSchema],
    cache_path: Path,
    stage: str,
    extraction: ExtractionOptions,
    json_schema: dict[str, Any],
) -> tuple[CachingModel, CompletionCache]:
    """The cached model for `stage`, decoding under `json_schema` where the provider can; close the cache after.

    Raises whatever the provider raises when it cannot be set up (a server that cannot be reached).
    """
    resolved = create_language_model(provider, schema)
    cache = CompletionCache(cache_path)
    model = CachingModel(
        resolved.model,
        cache,
        fingerprint={**resolved.fingerprint, "stage": stage},
        retries=extraction.retries,
        backoff_s=extraction.retry_backoff_s,
        timeout_s=extraction.timeout_s,
    )
    if model.takes_json_schema_per_call:
        model.json_schema = json_schema
    return model, cache


def ask(model: CachingModel, key: str, prompt: str) -> tuple[str | None, Any]:
    """One prompt through a view of `model` named `key` (an item, a chunk): its output, or None when the
    provider failed after retries, and the view's call counts (whose last event says why)."""
    view = model.for_document(key)
    view.json_schema = model.json_schema
    output = next(view.infer([prompt]))[0].output
    return (None if view.stats.failures else output or ""), view.stats
