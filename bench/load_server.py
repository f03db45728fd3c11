"""A load-simulating OpenAI-compatible server, for measuring dsforge's own orchestration (bench only).

A real HTTP server on 127.0.0.1 (the standard library's threading server) that answers
`POST /v1/chat/completions` after a fixed latency with at most `slots` requests served at once
(the others wait their turn, as a server's queue holds them), and `GET /v1/models`. The answer
is the schema's JSON envelope with one item quoting the first sentence of the prompt's chunk, so
the client parses, aligns and grounds it exactly as a model's. Never used by tests in place of a
model: it says nothing about what a model would extract, only how fast the client keeps up.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "load-simulator"
_CHUNK = re.compile(r"\nQ: (.*?)\nA: *$", re.S)


class LoadServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, port: int, latency_s: float, slots: int, refuse_retry_after: float | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.latency_s = latency_s
        self.slots = threading.BoundedSemaphore(slots)
        # Set: a request finding every slot busy is answered 429 with this Retry-After (a gateway's
        # concurrency limit) instead of waiting its turn.
        self.refuse_retry_after = refuse_retry_after
        self.refused = 0
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.served = 0


class _Handler(BaseHTTPRequestHandler):
    server: LoadServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet: thousands of requests
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.rstrip("/").endswith("/models"):
            self._send({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})
        else:
            self._send({"error": "not found"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            prompt = body["messages"][-1]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            # Answer every request: a handler that dies leaves its client waiting out its timeout.
            self._send({"error": f"bad request: {type(exc).__name__}"}, 400)
            return
        if self.server.refuse_retry_after is not None and not self.server.slots.acquire(blocking=False):
            with self.server.lock:
                self.server.refused += 1
            self.send_response(429)
            self.send_header("Retry-After", f"{self.server.refuse_retry_after:g}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.server.refuse_retry_after is None:
            self.server.slots.acquire()
        try:
            with self.server.lock:
                self.server.in_flight += 1
                self.server.peak_in_flight = max(self.server.peak_in_flight, self.server.in_flight)
            time.sleep(self.server.latency_s)
            with self.server.lock:
                self.server.in_flight -= 1
                self.server.served += 1
        finally:
            self.server.slots.release()
        self._send({
            "id": "load", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer(prompt)}}],
            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 40},
        })  # fmt: skip

    def _send(self, payload: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def answer(prompt: str) -> str:
    """The sample schema's envelope with one permission quoting the chunk's first sentence."""
    found = _CHUNK.search(prompt)
    chunk = found.group(1) if found else ""
    quote = re.split(r"(?<=[.!?])\s", chunk.strip(), maxsplit=1)[0][:300]
    item = {"clause": quote, "clause_attributes": {"kind": "permission", "summary": "A quoted sentence."}}
    return json.dumps({"extractions": [item] if len(quote) >= 20 else []})


@contextmanager
def load_server(port: int, latency_s: float, slots: int) -> Iterator[LoadServer]:
    """The server running on a thread; yields it (its counters) and stops it after."""
    server = LoadServer(port, latency_s, slots)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    """`python -m bench.load_server --port P --latency-s L --slots N`: serve until killed."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-s", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--refuse-retry-after", type=float, default=None,
                        help="answer 429 with this Retry-After when every slot is busy, instead of queueing")
    args = parser.parse_args()
    LoadServer(args.port, args.latency_s, args.slots, args.refuse_retry_after).serve_forever()


if __name__ == "__main__":
    main()
