"""langextract provider for any OpenAI-compatible chat server: vLLM, SGLang, llama.cpp's server, Ollama.

Model ids: ``openai-compat:<model the server serves>``, with ``provider.base_url``
(e.g. ``http://127.0.0.1:8080/v1``). Output is constrained to the schema with
``response_format: {type: json_schema}``, which llama.cpp's server, vLLM and
SGLang turn into grammar-guided decoding. A batch's prompts are sent as up to
``max_workers`` concurrent requests. A failed request raises for its chunk only;
the build's caching wrapper retries that chunk with backoff, so this provider
does not retry on its own (two retry loops would multiply).

httpx, not the ``openai`` SDK: two endpoints are needed, the SDK would add its
own retry loop and dependencies, and httpx gives explicit connect/read timeouts
and one thread-safe connection pool for the concurrent requests.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from langextract.core import data, exceptions, schema
from langextract.core import types as core_types

from builder.providers.adaptive_limit import AdaptiveLimit
from builder.providers.json_schema import JsonSchemaConstraint, JsonSchemaLanguageModel
from builder.providers.registry import register_provider
from core.options.extraction import SERVER_MODEL_PREFIX

MODEL_PREFIX = SERVER_MODEL_PREFIX
PROVIDER_NAME = "openai-compat"
RESPONSE_FORMATS = ("json_schema", "json_object")
BUSY_STATUSES = (429, 503)  # "too many requests" / "unavailable for now": wait, then ask again
BUSY_BACKOFF_CAP_S = 30.0
# Fields of a /v1/models entry that identify what is served; `created` and the like change per call.
# Context sizes (llama.cpp's meta.n_ctx, vLLM's max_model_len) are left out: they change what
# fits, not what is said.
_SERVED_FIELDS = ("id", "root", "parent", "owned_by", "meta")

log = logging.getLogger(__name__)


@register_provider(MODEL_PREFIX)
class OpenAICompatLanguageModel(JsonSchemaLanguageModel):
    """Chat completions from an OpenAI-compatible HTTP server, JSON-schema constrained."""

    total_calls: int = 0
    # Process-wide sums over every instance, for benchmarks and reports: the server's own token counts.
    totals: dict[str, float] = {
        "request_s": 0.0,
        "prompt_tokens": 0,
        "cached_prompt_tokens": 0,
        "completion_tokens": 0,
    }
    _count_lock = threading.Lock()

    def __init__(
        self,
        model_id: str,
        base_url: str | None = None,
        api_key: str | None = None,
        max_tokens: int = 1024,
        temperature: float | None = 0.0,
        seed: int | None = 0,
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
        max_workers: int = 1,
        response_format: str = "json_schema",
        format_type: data.FormatType = data.FormatType.JSON,
        busy_waits: int = 8,
        **kwargs: Any,
    ) -> None:
        """Check the server now, so an unreachable URL or unknown model fails before any chunk."""
        if not model_id.startswith(MODEL_PREFIX) or not model_id[len(MODEL_PREFIX) :]:
            raise exceptions.InferenceConfigError(
                f"model_id must be '{MODEL_PREFIX}<model the server serves>', e.g. '{MODEL_PREFIX}qwen2.5-7b'."
            )
        if format_type != data.FormatType.JSON:
            raise exceptions.InferenceConfigError(
                f"{PROVIDER_NAME} only produces JSON; use format_type=JSON."
            )
        if response_format not in RESPONSE_FORMATS:
            raise exceptions.InferenceConfigError(
                f"provider.params.response_format must be one of {list(RESPONSE_FORMATS)}, got {response_format!r}."
            )
        if max_tokens < 1 or timeout <= 0 or connect_timeout <= 0 or max_workers < 1:
            raise exceptions.InferenceConfigError(
                "need max_tokens >= 1, timeout > 0, connect_timeout > 0 and max_workers >= 1."
            )
        kwargs.pop("model_url", None)  # langextract's alias of base_url
        super().__init__(**kwargs)
        self.model_id = model_id
        self.model = model_id[len(MODEL_PREFIX) :]
        self.base_url = normalise_base_url(base_url)
        self.format_type = format_type
        self.max_tokens = max_tokens
        self.temperature = 0.0 if temperature is None else float(temperature)
        self.seed = seed
        self.timeout = float(timeout)
        self.max_workers = max_workers
        self.response_format = response_format
        self.busy_waits = busy_waits
        self.busy_answers = 0  # 429 / 503 answers waited out
        self.concurrency = AdaptiveLimit()  # what a busy server lets through: the window's size until it refuses
        self.calls = 0
        self.in_flight = 0
        self.peak_in_flight = 0  # most requests this instance had open at once
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # The key lives only in the client's headers: never on self, never in a message.
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(self.timeout, connect=connect_timeout),
            # Unbounded: the extraction window bounds the requests in flight (a pool of 64 capped a window of 256).
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        )
        self.served_model = self._served_model()

    def apply_schema(self, schema_instance: schema.BaseSchema | None) -> None:
        """Constrain to a JSON schema, unless the server is only asked for some JSON object."""
        if schema_instance is not None and self.response_format != "json_schema":
            raise exceptions.InferenceConfigError(
                f"{PROVIDER_NAME} with response_format={self.response_format} does not enforce a schema."
            )
        self.require_constraint(schema_instance)
        super().apply_schema(schema_instance)

    def infer(
        self, batch_prompts: Sequence[str], **kwargs: Any
    ) -> Iterator[Sequence[core_types.ScoredOutput]]:
        """One ``[ScoredOutput]`` per prompt, in order; up to ``max_workers`` requests in flight."""
        template = self._request_template(kwargs)
        workers = min(int(kwargs.get("max_workers") or self.max_workers), len(batch_prompts))
        if workers <= 1:
            for prompt in batch_prompts:
                yield [core_types.ScoredOutput(score=1.0, output=self._complete(template, prompt))]
            return
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-compat")
        try:
            futures = [pool.submit(self._complete, template, prompt) for prompt in batch_prompts]
            for future in futures:
                yield [core_types.ScoredOutput(score=1.0, output=future.result())]
        finally:
            # A caller that stops early (a failed chunk, a timeout) does not wait for queued requests.
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def _request_template(self, runtime: dict[str, Any]) -> dict[str, Any]:
        merged = self.merge_kwargs(runtime)
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": int(merged.get("max_tokens") or merged.get("max_output_tokens") or self.max_tokens),
            "temperature": self.temperature
            if merged.get("temperature") is None
            else float(merged["temperature"]),
        }
        seed = merged.get("seed", self.seed)
        if seed is not None:
            request["seed"] = int(seed)
        for key in ("top_p", "stop"):
            if merged.get(key) is not None:
                request[key] = merged[key]
        json_schema = runtime.get("json_schema")
        if json_schema is None and isinstance(self.schema, JsonSchemaConstraint):
            json_schema = self.schema.schema_dict
        if json_schema is None or self.response_format == "json_object":
            request["response_format"] = {"type": "json_object"}
        else:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "extractions", "schema": json_schema, "strict": True},
            }
        return request

    def _complete(self, template: dict[str, Any], prompt: str) -> str:
        url = f"{self.base_url}/chat/completions"
        request = {**template, "messages": [{"role": "user", "content": prompt}]}
        with self._count_lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        started = time.perf_counter()
        try:
            response = self._post_when_served(url, request)
        except httpx.TimeoutException as exc:
            raise exceptions.InferenceRuntimeError(
                f"{url} gave no answer within {self.timeout:g} s ({type(exc).__name__}); raise "
                "provider.params.timeout for a slow server.",
                original=exc,
                provider=PROVIDER_NAME,
            ) from exc
        except httpx.HTTPError as exc:
            raise exceptions.InferenceRuntimeError(
                f"request to {url} failed: {type(exc).__name__}: {exc}", original=exc, provider=PROVIDER_NAME
            ) from exc
        finally:
            with self._count_lock:
                self.in_flight -= 1
        if response.status_code != 200:
            hint = ""
            if response.status_code == 400 and "response_format" in response.text:
                hint = " The server may not support json_schema; try provider.params.response_format: json_object."
            raise exceptions.InferenceRuntimeError(
                f"{url} answered HTTP {response.status_code}: {_error_text(response)}.{hint}",
                provider=PROVIDER_NAME,
            )
        try:
            body = response.json()
            text = body["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise exceptions.InferenceRuntimeError(
                f"{url} answered something other than a chat completion: {response.text[:200]!r}",
                provider=PROVIDER_NAME,
            ) from exc
        if not text:
            raise exceptions.InferenceRuntimeError(
                f"{self.model_id} returned no content.", provider=PROVIDER_NAME
            )
        usage = body.get("usage") or {}
        with self._count_lock:
            self.calls += 1
            cls = type(self)
            cls.total_calls += 1
            cls.totals["request_s"] += time.perf_counter() - started
            for key, value in self.record_usage(usage).items():
                cls.totals[key] += value
        return text

    def _post_when_served(self, url: str, request: dict[str, Any]) -> httpx.Response:
        """POST, waiting out a busy server: HTTP 429 / 503 mean "not now", so the request is sent again
        after the server's Retry-After (or a doubling backoff), up to `busy_waits` times, and fewer
        requests go at once until it answers (builder/providers/adaptive_limit.py). These waits are
        not failures and do not use up `extraction.retries`."""
        for attempt in range(self.busy_waits + 1):
            with self.concurrency.slot() as sent:
                response = self._client.post(url, json=request)
            if response.status_code not in BUSY_STATUSES:
                self.concurrency.served()
                return response
            if attempt == self.busy_waits:
                break
            self.concurrency.busy(*sent)  # fewer at once until the server answers again
            time.sleep(_retry_after(response, default=min(BUSY_BACKOFF_CAP_S, 0.5 * 2**attempt)))
            with self._count_lock:
                self.busy_answers += 1
        return response

    def _served_model(self) -> dict[str, Any]:
        """What `/models` says this server serves under the requested name: part of the cache key."""
        url = f"{self.base_url}/models"
        try:
            response = self._client.get(url)
        except httpx.HTTPError as exc:
            raise exceptions.InferenceConfigError(
                f"cannot reach the OpenAI-compatible server at {self.base_url} ({type(exc).__name__}: {exc}); "
                "start the server or fix provider.base_url."
            ) from None
        if response.status_code in (401, 403):
            raise exceptions.InferenceConfigError(
                f"the server at {self.base_url} refused the request (HTTP {response.status_code}); set "
                "provider.api_key_env to the variable holding its key, and check that variable's value."
            )
        if response.status_code == 404:
            log.warning("%s does not list its models; the cache key holds the model name only", url)
            return {"id": self.model, "listed": False}
        if response.status_code != 200:
            raise exceptions.InferenceConfigError(
                f"{url} answered HTTP {response.status_code}: {_error_text(response)}."
            )
        try:
            entries = [e for e in response.json().get("data", []) if isinstance(e, dict)]
        except (ValueError, AttributeError):
            raise exceptions.InferenceConfigError(f"{url} did not answer a model list.") from None
        match = next(
            (e for e in entries if self.model == e.get("id") or self.model in e.get("aliases", [])), None
        )
        if match is None and len(entries) == 1:
            # A single-model server (llama.cpp's) answers under any name; the entry still says what it is.
            match = entries[0]
        if match is None:
            served = sorted(str(e.get("id")) for e in entries)[:20]
            raise exceptions.InferenceConfigError(
                f"the server at {self.base_url} does not serve {self.model!r}; it serves {served}. "
                f"Set provider.model_id to '{MODEL_PREFIX}<one of those>'."
            )
        served = {key: match[key] for key in _SERVED_FIELDS if key in match}
        if isinstance(served.get("meta"), dict):
            served["meta"] = {k: v for k, v in served["meta"].items() if k != "n_ctx"}
        return served


def _retry_after(response: httpx.Response, default: float) -> float:
    """The server's Retry-After in seconds (capped), or `default` when it gives none we can read."""
    try:
        return min(BUSY_BACKOFF_CAP_S, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return default


def normalise_base_url(base_url: str | None) -> str:
    """``http://host:port`` or ``.../v1``; a bare host gets ``/v1``, the OpenAI convention."""
    if not base_url:
        raise exceptions.InferenceConfigError(
            f"{PROVIDER_NAME} needs provider.base_url, e.g. http://127.0.0.1:8080/v1."
        )
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise exceptions.InferenceConfigError(
            f"provider.base_url must be an http(s) URL such as http://127.0.0.1:8080/v1, got {base_url!r}."
        )
    if parts.username or parts.password or parts.query:
        raise exceptions.InferenceConfigError(
            "provider.base_url must not carry credentials or a query; put the key in the environment "
            "variable named by provider.api_key_env."
        )
    path = parts.path.rstrip("/") or "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:300]
