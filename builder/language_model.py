"""Turn the provider config into a schema-constrained langextract model and its fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import langextract as lx
from langextract.core import base_model
from langextract.core import exceptions as lx_exceptions

from builder.config import ProviderConfig
from builder.errors import ConfigError
from schemas.base import ExtractionSchema

LOCAL_PREFIX = "dsforge-gguf:"
REPLAY_PREFIX = "dsforge-replay:"
# Parameters that change how fast a completion comes, not what it says: a cache
# hit must survive a change of thread count or worker count.
RUNTIME_ONLY_PARAMS = frozenset({"n_threads", "n_parallel", "max_workers", "timeout", "latency_s"})


@dataclass
class ResolvedModel:
    model: base_model.BaseLanguageModel
    fingerprint: dict[str, Any]
    provenance: dict[str, Any]
    constrained: bool


def create_language_model(provider: ProviderConfig, schema: type[ExtractionSchema]) -> ResolvedModel:
    """Build the provider and constrain its output to the schema where it can be."""
    _register_project_providers()
    kwargs = dict(provider.params)
    key = provider.api_key()
    if provider.api_key_env and not key:
        raise ConfigError(
            f"provider.api_key_env names {provider.api_key_env}, but that environment variable is "
            "not set; export it before running dsforge."
        )
    if key:
        kwargs["api_key"] = key
    if provider.base_url:
        # Where the model is reached, not what it says: kept out of the cache key.
        kwargs["base_url"] = provider.base_url
    try:
        model = lx.factory.create_model(lx.factory.ModelConfig(model_id=provider.model_id, provider_kwargs=kwargs))
    except (lx_exceptions.InferenceConfigError, ValueError) as exc:
        raise ConfigError(f"provider.model_id {provider.model_id!r} cannot be used: {exc}") from None
    constrained = True
    try:
        model.apply_output_schema(schema.output_schema())
    except lx_exceptions.InferenceConfigError:
        # Providers without structured output still work from the prompt and examples.
        constrained = False
    provenance = _provenance(provider.model_id)
    fingerprint = {
        "model_id": provider.model_id,
        "params": {k: v for k, v in sorted(provider.params.items()) if k not in RUNTIME_ONLY_PARAMS},
        "weights_sha256": provenance.get("sha256"),
        "constrained": constrained,
    }
    served = getattr(model, "served_model", None)
    if served is not None:
        # What a server reports it serves: a different model behind the same name is a cache miss.
        provenance["served_model"] = fingerprint["served_model"] = served
    return ResolvedModel(model=model, fingerprint=fingerprint, provenance=provenance, constrained=constrained)


def _provenance(model_id: str) -> dict[str, Any]:
    if model_id.startswith(LOCAL_PREFIX):
        from builder.model_store import model_provenance

        return {"model_id": model_id, **model_provenance(model_id[len(LOCAL_PREFIX) :])}
    return {"model_id": model_id}


def _register_project_providers() -> None:
    # Importing registers them with langextract's router (also reachable as entry points).
    import builder.providers.llamacpp  # noqa: F401
    import builder.providers.openai_compat  # noqa: F401
    import builder.providers.replay  # noqa: F401
