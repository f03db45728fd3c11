"""The openai-compat provider against a real llama.cpp HTTP server (xllamacpp's), started here on localhost.

SmolLM2-135M extracts poorly; these tests prove the wiring over real HTTP: a
build through the server, its free rerun from the cache, schema-constrained
decoding honoured by the server, concurrent requests (within a document and across
documents), a server killed mid-build, a busy (429) gateway waited out, a fast clear failure for an unreachable URL, and
a key that never leaves the request header.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from typer.testing import CliRunner

from builder.language_model import create_language_model
from builder.local_server import free_port, serving
from builder.model_store import is_installed
from builder.pipeline import build
from builder.providers.json_schema import JsonSchemaConstraint
from builder.providers.openai_compat import OpenAICompatLanguageModel
from core.config import ProviderConfig, load_config
from core.errors import ConfigError
from dsforge.cli import app
from tests.builder.replay_project import cached_completions
from tests.faults import LogLines

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "DSFORGE_TEST_SERVER_KEY"
KEY = "sk-planted-server-key-6c1f0e9a4d"
MODEL = "smollm2-135m"
SLOTS = 4
pytestmark = pytest.mark.skipif(not is_installed(MODEL), reason=f"run `dsforge models fetch {MODEL}`")

# Bounded so every completion closes its JSON well within max_tokens, with values only a
# constrained decoder would keep to (an enum, a length cap, no extra keys).
BOUNDED = {
    "type": "object",
    "properties": {
        "extractions": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "clause": {"type": "string", "maxLength": 40},
                    "kind": {"type": "string", "enum": ["obligation", "permission", "condition"]},
                },
                "required": ["clause", "kind"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["extractions"],
    "additionalProperties": False,
}
PROMPTS = [
    "List the clauses of: The supplier shall deliver the goods within 30 days.",
    "List the clauses of: The buyer may inspect the goods before payment.",
    "List the clauses of: Payment is due only if the goods pass inspection.",
    "List the clauses of: The tenant must pay rent monthly.",
]


@pytest.fixture(scope="module")
def server(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch_module.setenv(KEY_ENV, KEY)
    # One thread: llama.cpp threads that share busy cores stall each other at every sync.
    with serving(MODEL, parallel=SLOTS, threads=1, n_ctx=2048, api_key_env=KEY_ENV) as url:
        yield url


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def make_project(
    root: Path, base_url: str, docs: tuple[str, ...] = ("isc.txt", "ntp.txt"), **extraction: Any
) -> Path:
    (root / "docs").mkdir(parents=True)
    for name in docs:
        shutil.copy(REPO / "samples" / "docs" / name, root / "docs" / name)
    shutil.copy(REPO / "samples" / "license_schema.py", root / "license_schema.py")
    data = yaml.safe_load((REPO / "samples" / "dsforge.yaml").read_text())
    data["provider"] = {
        "model_id": f"openai-compat:{MODEL}",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "params": {"max_tokens": 64, "temperature": 0.0},
    }
    data["extraction"] = {"max_char_buffer": 600, "also_chunk_at": [], "batch_length": 4, "max_workers": SLOTS, "retries": 0,
                          **extraction}  # fmt: skip
    (root / "dsforge.yaml").write_text(yaml.safe_dump(data))
    return root / "dsforge.yaml"


def provider(base_url: str, **params: Any) -> OpenAICompatLanguageModel:
    return OpenAICompatLanguageModel(f"openai-compat:{MODEL}", base_url=base_url, api_key=KEY, **params)


def test_a_build_through_the_server_then_a_free_rerun(server: str, tmp_path: Path) -> None:
    config = load_config(make_project(tmp_path, server))
    calls_before = OpenAICompatLanguageModel.total_calls
    first = build(config, show_progress=False)
    ext = first.report["extraction"]
    assert ext["chunks"] >= 3
    assert ext["llm_calls"] == ext["chunks"] == OpenAICompatLanguageModel.total_calls - calls_before
    assert ext["failed_chunks"] == 0
    assert first.report["constrained_decoding"] is True
    served = first.report["model"]["served_model"]
    assert served["id"] == MODEL and served["meta"]["n_params"] > 0
    # Whatever the small model says, only exact, re-checked spans survive.
    assert ext["grounded_rechecked"] == ext["items"]
    assert sum(ext["rejects"].values()) + ext["items"] > 0

    second = build(config, show_progress=False)
    assert second.report["extraction"]["llm_calls"] == 0
    assert second.report["extraction"]["cache_hits"] == ext["chunks"]
    assert OpenAICompatLanguageModel.total_calls - calls_before == ext["chunks"]
    for name in ("records.jsonl", "items.jsonl", "rejects.jsonl"):
        assert (second.paths.root / name).read_bytes() == (first.paths.root / name).read_bytes()


def test_the_server_decodes_under_the_schema(server: str) -> None:
    model = provider(server, max_tokens=256)
    model.apply_schema(JsonSchemaConstraint(BOUNDED))
    outputs = [scored[0].output for scored in model.infer(PROMPTS, max_workers=SLOTS)]
    assert len(outputs) == len(PROMPTS) == model.calls
    for output in outputs:
        envelope = json.loads(output)  # bare JSON, no fences, never cut short
        assert set(envelope) == {"extractions"} and len(envelope["extractions"]) <= 2
        for item in envelope["extractions"]:
            assert set(item) == {"clause", "kind"}
            assert item["kind"] in {"obligation", "permission", "condition"}
            assert len(item["clause"]) <= 40


def test_requests_run_concurrently_up_to_max_workers(server: str) -> None:
    model = provider(server, max_tokens=48)
    list(model.infer(PROMPTS, max_workers=1))
    assert model.peak_in_flight == 1
    list(model.infer(PROMPTS, max_workers=SLOTS))
    assert model.peak_in_flight == SLOTS
    assert model.calls == 2 * len(PROMPTS)


def test_an_unreachable_server_fails_fast_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    config = load_config(make_project(tmp_path, url))
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        build(config, show_progress=False)
    assert time.monotonic() - started < 30  # before any chunk, not after retries of each
    message = str(caught.value)
    assert f"cannot reach the OpenAI-compatible server at {url}" in message
    assert "provider.base_url" in message
    assert not (tmp_path / "build" / "items.jsonl").exists()


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (None, "needs provider.base_url, e.g. http://127.0.0.1:8080/v1"),
        ("localhost:8080", "must be an http(s) URL"),
        ("http://user:sk-in-url@127.0.0.1:8080/v1", "must not carry credentials"),
    ],
)
def test_a_bad_base_url_is_a_config_error_saying_what_to_write(
    tmp_path: Path, base_url: str | None, expected: str
) -> None:
    config = load_config(make_project(tmp_path, base_url or ""))
    config.provider.base_url = base_url
    with pytest.raises(ConfigError) as caught:
        build(config, show_progress=False)
    assert expected in str(caught.value)
    assert "sk-in-url" not in str(caught.value)


def test_the_key_reaches_no_log_output_artifact_or_error(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    logs, level = LogLines(), logging.getLogger().level
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        config_path = make_project(tmp_path / "ok", server, docs=("ntp.txt",))
        result = CliRunner().invoke(app, ["build", "-c", str(config_path), "--no-progress"])
        assert result.exit_code == 0, result.output
        printed = [result.output]
        # The server refuses a wrong key; the error says so without echoing either key.
        monkeypatch.setenv(KEY_ENV, "sk-planted-wrong-key-2b8e")
        refused = CliRunner().invoke(app, ["build", "-c", str(config_path), "--no-progress"])
        assert refused.exit_code != 0
        assert "refused the request (HTTP 401)" in refused.output
        printed.append(refused.output)
        with pytest.raises(ConfigError) as caught:
            build(load_config(config_path), show_progress=False)
    finally:
        logging.getLogger().removeHandler(logs)
        logging.getLogger().setLevel(level)
    out, err = capfd.readouterr()
    texts = {"logs": "\n".join(logs.lines), "printed": "\n".join(printed), "stdout": out, "stderr": err,
             "error": str(caught.value)}  # fmt: skip
    assert any("HTTP Request: POST" in line for line in logs.lines)  # the HTTP log was captured
    for where, text in texts.items():
        assert KEY not in text and "sk-planted-wrong-key" not in text, where
    artifacts = [p for p in (tmp_path / "ok").rglob("*") if p.is_file()]
    assert any(p.name == "completions.sqlite" for p in artifacts)
    for path in artifacts:
        assert KEY.encode() not in path.read_bytes(), path
    with sqlite3.connect(tmp_path / "ok" / "build" / "cache" / "completions.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM completions").fetchone()[0] > 0


def test_the_cache_key_holds_the_served_model_not_the_url_or_runtime_knobs(
    server: str, license_schema
) -> None:
    def fingerprint(base_url: str, **params: Any) -> dict[str, Any]:
        config = ProviderConfig(
            model_id=f"openai-compat:{MODEL}", base_url=base_url, api_key_env=KEY_ENV, params=params
        )
        return create_language_model(config, license_schema).fingerprint

    first = fingerprint(server, max_tokens=96, timeout=30, max_workers=4)
    assert first["served_model"]["id"] == MODEL
    assert first["served_model"]["meta"]["ftype"] == "Q4_1" and "n_ctx" not in first["served_model"]["meta"]
    assert first["params"] == {"max_tokens": 96} and first["constrained"] is True
    # The same server reached by another spelling of its URL, with other timeouts and workers.
    assert fingerprint(server.removesuffix("/v1") + "/", max_tokens=96, timeout=5) == first
    assert fingerprint(server, max_tokens=97) != first


def test_one_window_keeps_the_slots_busy_with_one_chunk_documents(
    server: str, tmp_path: Path, license_schema
) -> None:
    """Four one-chunk documents, four slots: the requests of different documents are in flight together."""
    from builder.caching_model import CachingModel
    from builder.extract import extract_documents
    from builder.llm_cache import CompletionCache
    from schemas.types import Document

    names = ("ntp.txt", "isc.txt", "miros.md", "curl.txt")
    config = load_config(make_project(tmp_path, server, docs=names, max_char_buffer=2000))
    resolved = create_language_model(config.provider, license_schema)
    texts = [(REPO / "samples" / "docs" / name).read_text("utf-8") for name in names]
    documents = [
        Document(id=Document.make_id(text), source=name, mime="text/plain", text=text)
        for name, text in zip(names, texts, strict=True)
    ]
    cache = CompletionCache(tmp_path / "cache.sqlite")
    model = CachingModel(resolved.model, cache, fingerprint={"model_id": "window"}, retries=0)
    result = extract_documents(documents, license_schema, model, config.extraction, model_name="window")
    cache.close()
    assert result.chunks == len(names) == resolved.model.calls  # one chunk each, one request each
    assert resolved.model.peak_in_flight == SLOTS  # the four documents' requests overlapped


def test_a_server_that_dies_mid_window_costs_only_its_unanswered_chunks(tmp_path: Path, monkeypatch) -> None:
    """The server is killed while requests are in flight; the build finishes, the unanswered chunks are
    rejected with the reason, and against a new server the rerun asks for those chunks alone."""
    monkeypatch.setenv(KEY_ENV, KEY)
    names = ("ntp.txt", "isc.txt", "miros.md", "curl.txt", "mit.txt", "hpnd.txt")
    with serving(MODEL, parallel=2, threads=1, n_ctx=2048, api_key_env=KEY_ENV) as url:
        config = load_config(make_project(tmp_path, url, docs=names, max_char_buffer=2000, max_workers=4,
                                          retries=1, retry_backoff_s=0))  # fmt: skip
        cache = tmp_path / "build" / "cache" / "completions.sqlite"
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        server_pid = next(
            c.pid for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == "LISTEN"
        )

        def kill_after_two_answers() -> None:
            while cached_completions(cache) < 2:
                time.sleep(0.05)
            os.kill(server_pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_after_two_answers, daemon=True)
        killer.start()
        first = build(config, show_progress=False)
        killer.join(timeout=5)
    ext = first.report["extraction"]
    answered = cached_completions(cache)
    assert 2 <= answered < len(names) == ext["chunks"]
    assert ext["failed_chunks"] == ext["rejects"]["provider_error"] == len(names) - answered

    with serving(MODEL, parallel=2, threads=1, n_ctx=2048, api_key_env=KEY_ENV) as url:
        config = load_config(
            make_project(tmp_path / "again", url, docs=names, max_char_buffer=2000, max_workers=4)
        )
        shutil.copytree(tmp_path / "build" / "cache", tmp_path / "again" / "build" / "cache")
        second = build(config, show_progress=False)
    again = second.report["extraction"]
    assert again["llm_calls"] == len(names) - answered and again["cache_hits"] == answered
    assert again["failed_chunks"] == 0 and "provider_error" not in again["rejects"]


class BusyProxy(ThreadingHTTPServer):
    """A fault in front of the real server: its first `busy` completions are answered 429 (Retry-After 0),
    and so is any completion past `slots` open at once; the rest are forwarded to the server, as a gateway
    with a rate or concurrency limit would."""

    daemon_threads = True

    def __init__(self, upstream: str, busy: int = 0, slots: int = 10**6) -> None:
        super().__init__(("127.0.0.1", free_port()), _Forward)
        self.upstream = upstream.removesuffix("/v1")
        self.busy = busy
        self.slots, self.open = slots, 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Forward(BaseHTTPRequestHandler):
    server: BusyProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._relay(httpx.get(self.server.upstream + self.path, headers=self._headers(), timeout=60))

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            refuse = self.server.busy > 0 or self.server.open >= self.server.slots
            self.server.busy -= self.server.busy > 0
            self.server.open += not refuse
        if refuse:
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            answer = httpx.post(self.server.upstream + self.path, content=body, headers=self._headers(), timeout=120)
        finally:
            with self.server.lock:
                self.server.open -= 1
        self._relay(answer)

    def _headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}

    def _relay(self, response: httpx.Response) -> None:
        self.send_response(response.status_code)
        self.send_header("Content-Type", response.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)


@pytest.mark.parametrize("busy_waits", [8, 0])
def test_a_busy_server_is_waited_out_not_counted_as_a_failure(server: str, busy_waits: int) -> None:
    proxy = BusyProxy(server, busy=3)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        model = provider(proxy.url, max_tokens=48, busy_waits=busy_waits)
        if busy_waits:
            outputs = [scored[0].output for scored in model.infer(PROMPTS[:2], max_workers=1)]
            assert len(outputs) == 2 and all(outputs) and model.busy_answers == 3 and model.calls == 2
        else:  # no patience: the 429 is the chunk's error, which the build retries or rejects for that chunk
            with pytest.raises(Exception, match="HTTP 429"):
                list(model.infer(PROMPTS[:1], max_workers=1))
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_server_that_refuses_past_its_slots_gets_fewer_requests_at_once(server: str) -> None:
    """A gateway with one slot, refusing the rest at once (Retry-After 0): sent four at a time again, the
    refused requests would spend their waits while the slot is busy and fail; held to what it serves, all pass."""
    proxy = BusyProxy(server, slots=1)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        model = provider(proxy.url, max_tokens=16, busy_waits=8)
        outputs = [scored[0].output for scored in model.infer(PROMPTS, max_workers=len(PROMPTS))]
        assert len(outputs) == len(PROMPTS) and all(outputs) and model.calls == len(PROMPTS)
        assert model.busy_answers >= len(PROMPTS) - 1 and model.concurrency.lowest == 1
    finally:
        proxy.shutdown()
        proxy.server_close()
