"""A real embedded argilla-server for tests: started in a folder of its own, reached as its users."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from annotate.server import credentials, supervisor
from core.options.review import EmbeddedServerOptions, ReviewOptions

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "samples" / "license_schema.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ReviewServer:
    options: ReviewOptions
    home: Path

    @property
    def state(self) -> supervisor.ServerState:
        state = supervisor.read_state(self.home)
        assert state is not None
        return state

    @property
    def url(self) -> str:
        return self.state.url

    def user(self, username: str) -> credentials.UserCredentials:
        return next(u for u in credentials.resolve(self.options, self.home) if u.username == username)

    def http(self, username: str = "dsforge") -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"X-Argilla-Api-Key": self.user(username).api_key}, timeout=60
        )

    def ensure_running(self) -> None:
        supervisor.serve(self.options)


@contextmanager
def running_server(home: Path, **review: object) -> Iterator[ReviewServer]:
    """Serve from `home` on a free port until the block ends; `review` sets other review options."""
    options = ReviewOptions(server=EmbeddedServerOptions(home=home, port=free_port()), **review)
    supervisor.serve(options, log=lambda _m: None)
    try:
        yield ReviewServer(options, home)
    finally:
        supervisor.stop(options)
