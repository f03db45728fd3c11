"""One real argilla-server for all review tests: started once per session, stopped at the end.

The server venv is built on first use and cached (see annotate/server/venv.py),
so later sessions start in seconds plus argilla-server's import time.
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from annotate.options import EmbeddedServerOptions, ReviewOptions  # noqa: E402
from annotate.server import credentials, supervisor  # noqa: E402
from builder.config import load_config  # noqa: E402
from sample_build import write_sample_build  # noqa: E402

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
        return httpx.Client(base_url=self.url, headers={"X-Argilla-Api-Key": self.user(username).api_key}, timeout=60)

    def ensure_running(self) -> None:
        supervisor.serve(self.options)


@pytest.fixture(scope="session")
def review_server(tmp_path_factory) -> ReviewServer:
    home = tmp_path_factory.mktemp("argilla-home")
    options = ReviewOptions(server=EmbeddedServerOptions(home=home, port=free_port()))
    supervisor.serve(options)
    yield ReviewServer(options, home)
    supervisor.stop(options)


@pytest.fixture
def make_project(tmp_path, review_server, license_schema):
    """A project folder with a real sample build and a config pointing at the session server."""

    def make(dataset: str, **review: object):
        (tmp_path / "license_schema.py").write_text(SCHEMA_FILE.read_text("utf-8"), "utf-8")
        records = write_sample_build(tmp_path / "build", license_schema)
        settings = {
            "server": {"home": str(review_server.home), "port": review_server.options.server.port},
            "dataset": dataset,
            "vectors": False,
            "batch_size": 4,
            **review,
        }
        config_path = tmp_path / "dsforge.yaml"
        config_path.write_text(
            yaml.safe_dump({"input": "docs", "output": "build", "schema": "license_schema.py:LicenseTerm",
                            "review": settings}),
            "utf-8",
        )
        review_server.ensure_running()
        return load_config(config_path), records

    return make
