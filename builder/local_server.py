"""Serve a packaged GGUF model over llama.cpp's OpenAI-compatible HTTP server (the one xllamacpp ships).

    python -m builder.local_server --model smollm2-135m --port 8080 --parallel 4

It is what a GPU box would run as vLLM, SGLang or `llama-server`, with nothing
to install: the `openai-compat:` provider, its tests and its benchmark talk to
it over real HTTP. The key, when wanted, is read from the environment variable
named by `--api-key-env`, never from the command line (visible in `ps`).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from builder import model_store

READY = "dsforge-local-server ready"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start(
    model: str, host: str, port: int, parallel: int, threads: int, n_ctx: int, api_key: str | None
) -> object:
    """Load the model and start listening; the returned server serves until the process ends."""
    import xllamacpp

    entry = model_store.CATALOGUE.get(model)
    params = xllamacpp.CommonParams()
    params.model.path = str(model_store.resolve_gguf(model))
    params.hostnames = [host]
    params.port = port
    # llama.cpp splits the context across slots; each request gets the full n_ctx.
    params.n_ctx = n_ctx * parallel
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.model_alias = {model}
    params.verbosity = -1
    params.endpoint_metrics = False
    params.ui = False
    if api_key:
        params.api_keys = [api_key]
    if entry and entry.chat_template:
        params.chat_template = entry.chat_template
    return xllamacpp.Server(params)


@contextmanager
def serving(
    model: str = "smollm2-135m",
    parallel: int = 1,
    threads: int = 2,
    n_ctx: int = 2048,
    api_key_env: str | None = None,
    startup_timeout_s: float = 120.0,
) -> Iterator[str]:
    """Run the server in its own process on a free localhost port; yields its base URL (``.../v1``)."""
    port = free_port()
    command = [sys.executable, "-m", "builder.local_server", "--model", model, "--port", str(port),
               "--parallel", str(parallel), "--threads", str(threads), "--n-ctx", str(n_ctx)]  # fmt: skip
    if api_key_env:
        command += ["--api-key-env", api_key_env]
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    ready = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith(READY):
                ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not ready.wait(0.1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server did not start: {' | '.join(lines[-20:])}")
        url = f"http://127.0.0.1:{port}/v1"
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).raise_for_status()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="catalogue name or .gguf path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--parallel", type=int, default=1, help="llama.cpp slots: requests decoded together")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--n-ctx", type=int, default=4096, help="context per slot")
    parser.add_argument("--api-key-env", help="environment variable holding the key clients must send")
    args = parser.parse_args()
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        raise SystemExit(f"--api-key-env names {args.api_key_env}, which is not set.")
    server = start(args.model, args.host, args.port, args.parallel, args.threads, args.n_ctx, api_key)
    print(f"{READY} at http://{args.host}:{args.port}/v1 (model {args.model})", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    del server


if __name__ == "__main__":
    main()
