"""Provider table: model-id prefix → langextract model class, plus what dsforge needs to know of it.

The build (builder.language_model) and the judge (train.judge) both create
their models through `create_model`, so a provider registered here serves
both. A new provider is one module:

    @register_provider("acme:")
    class AcmeLanguageModel(langextract.core.base_model.BaseLanguageModel): ...

imported before the build (or installed with a `dsforge.plugins` entry point;
langextract's own `langextract.providers` entry points keep working, and ids
no dsforge provider claims go to langextract's router unchanged).

Built-ins are lazy rows (core.registry): this module never imports them, so
they can import it; a model id imports only the provider whose prefix it has.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import langextract as lx
from langextract.core import base_model
from langextract.core import exceptions as lx_exceptions
from langextract.providers import router

from core.config import GGUF_PREFIX, ProviderConfig
from core.errors import ConfigError
from core.registry import Registry

Provenance = Callable[[str], dict[str, Any]]
ModelClass = type[base_model.BaseLanguageModel]


@dataclass(frozen=True)
class Provider:
    prefix: str
    model_class: ModelClass
    # What the model id names (weights sha256, packages) for lineage; None: the id says it all.
    provenance: Provenance | None = None
    # infer(..., json_schema=...) constrains a single call (how the judge gets a bare score).
    json_schema_per_call: bool = False


# Prefix → provider; the rows name the classes that pyproject.toml's langextract entry points name.
PROVIDERS: Registry[Provider] = Registry(
    "provider prefix",
    group="dsforge.providers",
    builtins={
        GGUF_PREFIX: "builder.providers.llamacpp:LlamaCppLanguageModel",
        "dsforge-replay:": "builder.providers.replay:ReplayLanguageModel",
        "openai-compat:": "builder.providers.openai_compat:OpenAICompatLanguageModel",
    },
)


def register_provider(
    prefix: str,
    *,
    provenance: Provenance | None = None,
    json_schema_per_call: bool = False,
    priority: int = 50,
) -> Callable[[ModelClass], ModelClass]:
    """Class decorator: model ids starting with `prefix` build this class (also in langextract's router)."""

    def decorate(cls: ModelClass) -> ModelClass:
        router.register(rf"^{re.escape(prefix)}", priority=priority)(cls)
        PROVIDERS.register(prefix, Provider(prefix, cls, provenance, json_schema_per_call))
        return cls

    return decorate


def provider_for(model_id: str) -> Provider | None:
    """The registered provider whose prefix starts `model_id` (the longest one), if any."""
    matches = [prefix for prefix in PROVIDERS.names() if model_id.startswith(prefix)]
    return PROVIDERS.get(max(matches, key=len)) if matches else None


def provenance(model_id: str) -> dict[str, Any]:
    """What lineage records about a model: its id, and what its provider adds."""
    provider = provider_for(model_id)
    if provider is None or provider.provenance is None:
        return {"model_id": model_id}
    return {"model_id": model_id, **provider.provenance(model_id)}


def create_model(config: ProviderConfig, setting: str = "provider") -> base_model.BaseLanguageModel:
    """The langextract model `config` names; its key comes from the environment variable it names.

    `setting` is the config section errors point at (`provider`, `eval.judge`).
    """
    provider_for(config.model_id)  # imports it, which registers it with langextract's router
    kwargs = dict(config.params)
    key = config.api_key()
    if config.api_key_env and not key:
        raise ConfigError(
            f"{setting}.api_key_env names {config.api_key_env}, but that environment variable is "
            "not set; export it before running dsforge."
        )
    if key:
        kwargs["api_key"] = key
    if getattr(config, "base_url", None):
        # Where the model is reached, not what it says: kept out of the cache key.
        kwargs["base_url"] = config.base_url
    try:
        model_config = lx.factory.ModelConfig(model_id=config.model_id, provider_kwargs=kwargs)
        return lx.factory.create_model(model_config)
    except (lx_exceptions.InferenceConfigError, ValueError) as exc:
        raise ConfigError(f"{setting}.model_id {config.model_id!r} cannot be used: {exc}") from None

