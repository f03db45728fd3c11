"""langextract provider running GGUF models in-process with llama.cpp (xllamacpp).

Model ids: ``dsforge-gguf:<catalogue name>`` or ``dsforge-gguf:/path/to/model.gguf``.
"""

from __future__ import annotations

import concurrent.futures
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langextract.core import data, exceptions, schema
from langextract.core import types as core_types

from builder import model_store
from builder.providers.json_schema import JsonSchemaConstraint, JsonSchemaLanguageModel
from builder.providers.registry import register_provider
from core.config import GGUF_PREFIX

PROVIDER_NAME = GGUF_PREFIX.rstrip(":")

# llama.cpp's self-speculative decoding: a draft taken from n-grams already in the context (an
# answer that quotes its chunk repeats the prompt) is checked by the model in one batch, and only
# tokens the model would have chosen itself are kept. (kind, n-gram size, draft length.)
Speculation = tuple[str, int, int]
SPECULATIVE_KINDS = ("none", "ngram-simple", "ngram-map-k", "ngram-mod")

_servers: dict[tuple[Any, ...], Any] = {}
_servers_lock = threading.Lock()


def gguf_provenance(model_id: str) -> dict[str, Any]:
    """The GGUF file's sha256, size and the packages that carry it."""
    return model_store.model_provenance(model_id[len(GGUF_PREFIX) :])


@register_provider(GGUF_PREFIX, provenance=gguf_provenance, json_schema_per_call=True)
class LlamaCppLanguageModel(JsonSchemaLanguageModel):
    """Chat completions from a local GGUF model, JSON-constrained, one loaded copy per process."""

    total_calls: int = 0
    _count_lock = threading.Lock()

    def __init__(
        self,
        model_id: str,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = 1024,
        temperature: float | None = 0.0,
        seed: int = 0,
        n_parallel: int = 1,
        speculative: str = "none",
        speculative_ngram: int = 12,
        speculative_draft: int = 48,
        format_type: data.FormatType = data.FormatType.JSON,
        **kwargs: Any,
    ) -> None:
        """Resolve the model file now (clear errors early); load weights on first use."""
        if not model_id.startswith(GGUF_PREFIX):
            raise exceptions.InferenceConfigError(
                f"model_id must start with '{GGUF_PREFIX}', e.g. '{GGUF_PREFIX}qwen2.5-coder-1.5b'."
            )
        if format_type != data.FormatType.JSON:
            raise exceptions.InferenceConfigError(
                f"{PROVIDER_NAME} only produces JSON; use format_type=JSON."
            )
        if n_ctx < 256 or max_tokens < 1 or n_parallel < 1:
            raise exceptions.InferenceConfigError("need n_ctx >= 256, max_tokens >= 1 and n_parallel >= 1.")
        if speculative not in SPECULATIVE_KINDS or speculative_ngram < 1 or speculative_draft < 1:
            raise exceptions.InferenceConfigError(
                f"speculative must be one of {list(SPECULATIVE_KINDS)} with speculative_ngram and "
                f"speculative_draft >= 1, got {speculative!r}, {speculative_ngram}, {speculative_draft}."
            )
        super().__init__(**kwargs)
        self.model_id = model_id
        self.format_type = format_type
        target = model_id[len(GGUF_PREFIX) :]
        self.model_path: Path = model_store.resolve_gguf(target)
        entry = model_store.CATALOGUE.get(target)
        self.chat_template = entry.chat_template if entry else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _available_cpus()
        self.max_tokens = max_tokens
        self.temperature = 0.0 if temperature is None else temperature
        self.seed = seed
        self.n_parallel = n_parallel
        self.speculation: Speculation = (speculative, speculative_ngram, speculative_draft)
        self.calls = 0
        self.last_timings: dict[str, Any] = {}

    def apply_schema(self, schema_instance: schema.BaseSchema | None) -> None:
        """Accept only schemas this provider can turn into constrained decoding."""
        self.require_constraint(schema_instance)
        super().apply_schema(schema_instance)

    def infer(
        self, batch_prompts: Sequence[str], **kwargs: Any
    ) -> Iterator[Sequence[core_types.ScoredOutput]]:
        """One ``[ScoredOutput]`` per prompt, in order; raises on any failed completion."""
        server = self._server()
        request = self._request_template(kwargs)
        if self.n_parallel > 1 and len(batch_prompts) > 1:
            with concurrent.futures.ThreadPoolExecutor(max_workers=self.n_parallel) as pool:
                texts = pool.map(lambda p: self._complete(server, request, p), batch_prompts)
                for text in texts:
                    yield [core_types.ScoredOutput(score=1.0, output=text)]
            return
        for prompt in batch_prompts:
            yield [core_types.ScoredOutput(score=1.0, output=self._complete(server, request, prompt))]

    def _request_template(self, runtime: dict[str, Any]) -> dict[str, Any]:
        merged = self.merge_kwargs(runtime)
        json_schema = runtime.get("json_schema")
        if json_schema is None and isinstance(self.schema, JsonSchemaConstraint):
            json_schema = self.schema.schema_dict
        if json_schema is None:
            json_schema = merged.get("json_schema")
        if json_schema is None:
            response_format: dict[str, Any] = {"type": "json_object"}
        else:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": "extractions", "schema": json_schema},
            }
        temperature = merged.get("temperature")
        seed = merged.get("seed")
        return {
            "max_tokens": int(merged.get("max_tokens") or merged.get("max_output_tokens") or self.max_tokens),
            "temperature": self.temperature if temperature is None else float(temperature),
            "seed": self.seed if seed is None else int(seed),
            "response_format": response_format,
        }

    def _complete(self, server: Any, template: dict[str, Any], prompt: str) -> str:
        request = {**template, "messages": [{"role": "user", "content": prompt}]}
        try:
            response = server.handle_chat_completions(request)
        except Exception as exc:
            raise exceptions.InferenceRuntimeError(
                f"llama.cpp rejected the request for {self.model_id}: {exc}",
                original=exc,
                provider=PROVIDER_NAME,
            ) from exc
        if not isinstance(response, dict) or "error" in response:
            detail = response.get("error", response) if isinstance(response, dict) else response
            raise exceptions.InferenceRuntimeError(
                f"llama.cpp failed for {self.model_id}: {detail}. If the prompt is too long, "
                "raise n_ctx or lower langextract's max_char_buffer.",
                provider=PROVIDER_NAME,
            )
        choice = response["choices"][0]
        # A completion cut at max_tokens is returned as is: at temperature 0 a retry
        # would cut it again, and the caller reports the broken JSON per chunk.
        text = choice["message"].get("content")
        if not text:
            raise exceptions.InferenceRuntimeError(
                f"{self.model_id} returned no content.", provider=PROVIDER_NAME
            )
        with self._count_lock:
            self.calls += 1
            type(self).total_calls += 1
            self.last_timings = dict(response.get("timings") or {})
            self.record_usage(response.get("usage") or {})
        return text

    def _server(self) -> Any:
        key = (str(self.model_path), self.n_ctx, self.n_threads, self.n_parallel, self.chat_template,
               self.speculation)  # fmt: skip
        with _servers_lock:
            server = _servers.get(key)
            if server is None:
                server = _load_server(
                    self.model_path, self.n_ctx, self.n_threads, self.n_parallel, self.chat_template,
                    self.speculation,
                )
                _servers[key] = server
        return server


def loaded_models() -> int:
    """How many llama.cpp model instances this process holds."""
    with _servers_lock:
        return len(_servers)


def unload_models() -> None:
    """Drop every loaded model; the next completion loads again."""
    with _servers_lock:
        _servers.clear()


def _load_server(
    path: Path,
    n_ctx: int,
    n_threads: int,
    n_parallel: int,
    chat_template: str | None,
    speculation: Speculation | None = None,
    repack: bool = True,
) -> Any:
    import xllamacpp  # deferred: plugin discovery imports this module in every langextract process

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    # llama.cpp splits the context across slots; each request gets the full n_ctx.
    params.n_ctx = n_ctx * n_parallel
    params.n_parallel = n_parallel
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.no_extra_bufts = not repack  # off: weights kept as stored, no CPU-specific repacked layout
    params.verbosity = -1
    params.endpoint_metrics = False
    params.ui = False
    # The embedded server also listens on localhost; an unguessable key keeps other local
    # processes out while in-process calls bypass it.
    params.api_keys = [secrets.token_urlsafe(32)]
    if chat_template:
        params.chat_template = chat_template
    if speculation and speculation[0] != "none":
        _speculate(params, *speculation)
    try:
        return xllamacpp.Server(params)
    except Exception as exc:
        raise exceptions.InferenceConfigError(
            f"llama.cpp could not load {path} (n_ctx={params.n_ctx}): {exc}. "
            "Check the file is a complete GGUF model and that enough memory is free."
        ) from exc


def _speculate(params: Any, kind: str, ngram: int, draft: int) -> None:
    """Turn on one of llama.cpp's draftless speculative decoders (no second model)."""
    import xllamacpp

    spec = params.speculative
    spec.types = [getattr(xllamacpp.common_speculative_type, "COMMON_SPECULATIVE_TYPE_" + kind.replace("-", "_").upper())]
    if kind in ("ngram-simple", "ngram-map-k"):
        settings = spec.ngram_simple if kind == "ngram-simple" else spec.ngram_map_k
        settings.size_n, settings.size_m = ngram, draft
    elif kind == "ngram-mod":
        settings = spec.ngram_mod
        settings.n_match, settings.n_max, settings.n_min = ngram, draft, min(draft, max(1, draft * 3 // 4))
    limits = spec.draft
    limits.n_max, limits.n_min = draft, 0  # llama.cpp's --draft-max caps every draft, n-gram ones too


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
