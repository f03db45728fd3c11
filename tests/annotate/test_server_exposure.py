"""The embedded server listens on loopback only and knows no default password or key."""

from __future__ import annotations

import os
import stat

import httpx
import psutil

from annotate.server import credentials
from core.options.review import ReviewOptions

# Argilla's quickstart and docker defaults: none may open the embedded server.
DEFAULT_LOGINS = [
    ("argilla", "12345678"),
    ("owner", "12345678"),
    ("admin", "12345678"),
    ("dsforge", "12345678"),
]
DEFAULT_KEYS = ["argilla.apikey", "owner.apikey", "admin.apikey"]


def test_every_process_of_the_server_listens_on_loopback_only(review_server):
    review_server.ensure_running()
    listening = [
        (name, conn.laddr.ip)
        for name, pid in review_server.state.pids.items()
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    assert {name for name, _ in listening} >= {"server", "valkey"}
    assert {ip for _, ip in listening} == {"127.0.0.1"}, listening


def test_default_logins_and_keys_are_refused_and_only_configured_users_exist(review_server):
    review_server.ensure_running()
    url = review_server.url
    for username, password in DEFAULT_LOGINS:
        response = httpx.post(f"{url}/api/v1/token", data={"username": username, "password": password})
        assert response.status_code == 401, username
    for key in DEFAULT_KEYS:
        assert httpx.get(f"{url}/api/v1/me", headers={"X-Argilla-Api-Key": key}).status_code == 401, key
    owner = review_server.user("dsforge")
    assert (
        httpx.post(
            f"{url}/api/v1/token", data={"username": "dsforge", "password": owner.password}
        ).status_code
        == 201
    )
    with review_server.http() as http:
        users = {user["username"] for user in http.get("/api/v1/users").json()["items"]}
    assert users == {"dsforge", "annotator1", "annotator2"}


def test_generated_secrets_are_random_per_server_and_kept_private(tmp_path, monkeypatch):
    options = ReviewOptions()
    for name in [options.api_key_env, options.owner_password_env] + [
        credentials.annotator_password_env(a.username) for a in options.annotators
    ]:
        monkeypatch.delenv(name, raising=False)
    first = credentials.resolve(options, tmp_path / "a")
    second = credentials.resolve(options, tmp_path / "b")
    secrets = [s for users in (first, second) for u in users for s in (u.password, u.api_key)]
    assert len(set(secrets)) == len(secrets)  # nothing shared, nothing fixed
    assert all(len(s) >= 16 for s in secrets)
    assert not set(secrets) & ({p for _, p in DEFAULT_LOGINS} | set(DEFAULT_KEYS))
    mode = stat.S_IMODE(os.stat(tmp_path / "a" / credentials.FILE).st_mode)
    assert mode == 0o600
    assert credentials.resolve(options, tmp_path / "a") == first  # kept across restarts
