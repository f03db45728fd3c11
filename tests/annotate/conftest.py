"""One real argilla-server for all review tests: started once per session, stopped at the end.

The server venv is built on first use and cached (see annotate/server/venv.py),
so later sessions start in seconds plus argilla-server's import time.
"""

from __future__ import annotations

import pytest
import yaml

from core.config import load_config
from tests.annotate.review_server import SCHEMA_FILE, ReviewServer, running_server
from tests.annotate.sample_build import write_sample_build


@pytest.fixture(scope="session")
def review_server(tmp_path_factory) -> ReviewServer:
    with running_server(tmp_path_factory.mktemp("argilla-home")) as server:
        yield server


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
            # The record-unit tests name their unit; item-unit tests pass unit="item".
            "unit": "record",
            **review,
        }
        config_path = tmp_path / "dsforge.yaml"
        config_path.write_text(
            yaml.safe_dump(
                {
                    "input": "docs",
                    "output": "build",
                    "schema": "license_schema.py:LicenseTerm",
                    "review": settings,
                }
            ),
            "utf-8",
        )
        review_server.ensure_running()
        return load_config(config_path), records

    return make
