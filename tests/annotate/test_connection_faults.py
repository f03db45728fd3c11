"""A refused key, a server that is not there, valkey dying mid-pull: clear errors and no damage."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import annotate.pull
from annotate.auto import auto_approve
from annotate.connection import endpoint
from annotate.fetch import find_dataset
from annotate.pull import pull
from annotate.push import push
from core import atomic
from core.errors import ReviewServerError
from tests.annotate.review_server import free_port

KEY_ENV = "DSFORGE_TEST_ARGILLA_KEY"
WRONG_KEY = "dsf.not-the-owner-key-5c1e"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_refused_key_names_its_variable_not_its_value_and_writes_nothing(
    make_project, review_server, monkeypatch
):
    config, _ = make_project("refused", api_url=review_server.url, api_key_env=KEY_ENV)
    monkeypatch.setenv(KEY_ENV, WRONG_KEY)
    before = _tree(config.project_root)

    for stage in (lambda: push(config, show_progress=False), lambda: pull(config)):
        with pytest.raises(ReviewServerError, match=rf"refused the API key in \${KEY_ENV}") as raised:
            stage()
        assert WRONG_KEY not in str(raised.value)

    assert _tree(config.project_root) == before
    with review_server.http() as http:
        assert find_dataset(http, config.review.workspace, "refused") is None


def test_an_unreachable_server_fails_after_bounded_retries_and_loses_nothing(make_project, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config, _ = make_project("unreachable", api_url=url, api_key_env=KEY_ENV, retries=2, retry_backoff_s=0.2)
    monkeypatch.setenv(KEY_ENV, WRONG_KEY)
    auto_approve(config)  # an earlier decision that a failed pull must not overwrite
    before = _tree(config.project_root)

    for stage in (lambda: push(config, show_progress=False), lambda: pull(config)):
        started = time.monotonic()
        with pytest.raises(ReviewServerError, match=rf"cannot reach Argilla at {url} after 3 attempt"):
            stage()
        assert 0.2 + 0.4 <= time.monotonic() - started < 15  # two backoffs waited, then it gave up

    assert _tree(config.project_root) == before


def test_valkey_killed_mid_pull_loses_no_record_and_a_restart_keeps_the_data(
    make_project, review_server, monkeypatch
):
    config, records = make_project("valkey-dies")
    push(config, show_progress=False)
    valkey = review_server.state.pids["valkey"]
    read_all = annotate.pull.iter_records

    def kill_valkey_after_first_record(*args):
        for index, row in enumerate(read_all(*args)):
            if index == 1:
                os.kill(valkey, signal.SIGKILL)
            yield row

    monkeypatch.setattr(annotate.pull, "iter_records", kill_valkey_after_first_record)
    report = pull(config)

    assert report["on_server"] == report["records"] == len(records)
    reviewed = atomic.read_jsonl(config.output_dir / "review" / "reviewed.jsonl")
    assert {row["id"] for row in reviewed} == {record.id for record in records}
    with pytest.raises(ReviewServerError, match=r"dsforge review serve"):
        endpoint(config.review, config.project_root)  # the half-dead server is not used
    review_server.ensure_running()
    monkeypatch.undo()
    assert pull(config, write=False)["on_server"] == len(records)
