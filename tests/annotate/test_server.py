"""The embedded server's life: idempotent serve, clear failures, survival of a crash mid-push."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from annotate.connection import endpoint
from annotate.fetch import find_dataset, iter_records, open_http, usernames
from annotate.push import push
from annotate.server import supervisor, venv
from core.errors import ReviewError, ReviewServerError
from core.options.review import EmbeddedServerOptions, ReviewOptions
from tests.annotate.review_server import free_port


def test_serve_twice_finds_the_running_server(review_server):
    review_server.ensure_running()
    first = review_server.state
    again = supervisor.serve(review_server.options)
    assert again.already_running and again.state.pids == first.pids
    status = review_server.http().get("/api/v1/status").json()
    assert status["search_engine"]["distribution"] == "dsforge-sql"


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        options = ReviewOptions(server=EmbeddedServerOptions(home=tmp_path, port=port))
        with pytest.raises(ReviewServerError, match=f"port {port} .* already in use .*review.server.port"):
            supervisor.serve(options)
    assert supervisor.read_state(tmp_path) is None


def test_redis_that_does_not_answer_is_a_clear_error(tmp_path):
    dead = free_port()  # nothing listens there
    options = ReviewOptions(
        server=EmbeddedServerOptions(home=tmp_path, port=free_port(), redis_url=f"redis://127.0.0.1:{dead}/0")
    )
    with pytest.raises(ReviewServerError, match="did not answer PING"):
        supervisor.serve(options)


def test_a_venv_that_cannot_be_built_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(venv, "REQUIREMENTS", ("./no-such-package-folder",))
    with pytest.raises(ReviewServerError, match="could not install argilla-server"):
        venv.ensure_venv(tmp_path / "venv", log=lambda _m: None)
    assert not venv.is_ready(tmp_path / "venv")


def test_server_killed_mid_push_then_rerun_loses_nothing_and_duplicates_nothing(make_project, review_server):
    config, records = make_project("crash", retries=1, retry_backoff_s=0.1)

    def kill_server(done: int, total: int) -> None:
        if done == config.review.batch_size:  # after the first batch landed
            os.kill(review_server.state.pids["server"], signal.SIGKILL)

    with pytest.raises(ReviewError, match=r"pushed 4 of 14 records.*Rerun `dsforge review push`"):
        push(config, show_progress=False, on_batch=kill_server)

    review_server.ensure_running()  # restarts it; the SQLite data persisted
    push(config, show_progress=False)
    point = endpoint(config.review, config.project_root)
    with open_http(point) as http:
        dataset = find_dataset(http, config.review.workspace, config.review.dataset)
        ids = [row.external_id for row in iter_records(http, dataset["id"], usernames(http))]
    assert len(ids) == len(set(ids)) == len(records)
    assert set(ids) == {record.id for record in records}
