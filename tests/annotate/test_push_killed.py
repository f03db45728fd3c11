"""`dsforge review push` killed with SIGKILL at a random moment, then run again, against the real server."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from annotate.connection import endpoint
from annotate.fetch import find_dataset, iter_records, open_http, usernames
from annotate.push import push
from tests.faults import kill_when

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("moment", ["creating the dataset", "between batches"])
def test_push_killed_then_rerun_holds_each_record_exactly_once(make_project, review_server, moment):
    name = "killed-" + moment.split()[-1]
    config, records = make_project(name, batch_size=1)
    # 0: as soon as the dataset exists, before it is published; k: once k records landed.
    landed = 0 if moment == "creating the dataset" else random.randint(1, len(records) - 2)
    config_path = str(config.project_root / "dsforge.yaml")
    command = [sys.executable, "-m", "dsforge", "review", "push", "-c", config_path, "--no-progress"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with review_server.http() as http:

        def landed_enough() -> bool:
            status, count = _on_server(http, name)
            return status is not None and count >= landed

        kill_when(process, landed_enough, timeout_s=120)
        status, count = _on_server(http, name)
    if landed == 0:
        assert status == "draft", "the kill should have left a dataset that was never published"
    else:
        assert landed <= count < len(records)

    summary = push(config, show_progress=False)

    assert summary.records == len(records)
    with open_http(endpoint(config.review, config.project_root)) as http:
        named = [d for d in http.get("/api/v1/me/datasets").json()["items"] if d["name"] == name]
        assert len(named) == 1 and named[0]["status"] == "ready"
        dataset = find_dataset(http, config.review.workspace, name)
        ids = [row.external_id for row in iter_records(http, dataset["id"], usernames(http))]
    assert len(ids) == len(set(ids)) == len(records), (
        f"killed at {landed} records, {count} on the server then"
    )
    assert set(ids) == {record.id for record in records}


def _on_server(http: httpx.Client, name: str) -> tuple[str | None, int]:
    """The dataset's status (None while absent) and how many records it holds."""
    found = [d for d in http.get("/api/v1/me/datasets").json()["items"] if d["name"] == name]
    if not found:
        return None, 0
    if found[0]["status"] != "ready":
        return found[0]["status"], 0
    page = http.get(f"/api/v1/datasets/{found[0]['id']}/records", params={"limit": 1}).json()
    return "ready", page["total"]
