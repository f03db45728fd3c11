"""Turn the provider config into a schema-constrained langextract model and its fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langextract.core import base_model
from langextract.core import exceptions as lx_exceptions

from builder.providers.registry import create_model
from builder.providers.registry import provenance as model_provenance
from core.config import ProviderConfig
from schemas.base import ExtractionSchema

# Parameters that change how fast a completion comes, not what it says: a cache
# hit must survive a change of thread count or worker count.
RUNTIME_ONLY_PARAMS = frozenset({"n_threads", "max_workers", "timeout", "latency_s", "jitter_s", "busy_waits"})


def cache_params(params: dict[str, Any]) -> dict[str, Any]:
    """The provider params a cached completion depends on.

    Several embedded slots decode in batches, whose CPU logits differ in the last bits from one
    sequence's, so some completions change (bench/README.md §3d): `n_parallel` above 1 is cached
    apart, and one slot keeps the keys of configs that never named it.
    """
    kept = {k: v for k, v in sorted(params.items()) if k not in RUNTIME_ONLY_PARAMS}
    if kept.get("n_parallel", 1) == 1:
        kept.pop("n_parallel", None)
    return kept


@dataclass
class ResolvedModel:
    model: base_model.BaseLanguageModel
    fingerprint: dict[str, Any]
    provenance: dict[str, Any]
    constrained: bool


def create_language_model(provider: ProviderConfig, schema: type[ExtractionSchema]) -> ResolvedModel:
    """Build the provider and constrain its output to the schema where it can be."""
    model = create_model(provider)
    constrained = True
    try:
        model.apply_output_schema(schema.output_schema())
    except lx_exceptions.InferenceConfigError:
        # Providers without structured output still work from the prompt and examples.
        constrained = False
    provenance = model_provenance(provider.model_id)
    fingerprint = {
        "model_id": provider.model_id,
        "params": cache_params(provider.params),
        "weights_sha256": provenance.get("sha256"),
        "constrained": constrained,
    }
    served = getattr(model, "served_model", None)
    if served is not None:
        # What a server reports it serves: a different model behind the same name is a cache miss.
        provenance["served_model"] = fingerprint["served_model"] = served
    return ResolvedModel(model=model, fingerprint=fingerprint, provenance=provenance, constrained=constrained)

