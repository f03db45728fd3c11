"""Reaching the review server: the configured Argilla, or the embedded one with its stored owner key."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from annotate.server import credentials, supervisor
from core.errors import ReviewServerError
from core.options.review import ReviewOptions

if TYPE_CHECKING:
    import argilla as rg


@dataclass(frozen=True)
class Endpoint:
    url: str
    api_key: str
    embedded: bool
    key_env: str  # the variable the key comes from: errors name it, never the key

    def headers(self) -> dict[str, str]:
        return {"X-Argilla-Api-Key": self.api_key}


def endpoint(options: ReviewOptions, project_root: Path | None = None) -> Endpoint:
    """URL and owner key: `api_url` + the key variable, else the running embedded server."""
    if options.api_url:
        key = os.environ.get(options.api_key_env)
        if not key:
            raise ReviewServerError(
                f"review.api_url is {options.api_url} but ${options.api_key_env} is empty; export the owner's "
                "API key (Argilla: My settings → API key) in that variable."
            )
        return Endpoint(options.api_url.rstrip("/"), key, embedded=False, key_env=options.api_key_env)
    home = supervisor.server_home(options, project_root)
    state = supervisor.running_state(home)
    if state is None:
        raise ReviewServerError(
            "no review server is running; start one with `dsforge review serve`, or set review.api_url "
            f"and ${options.api_key_env} to use an existing Argilla."
        )
    return Endpoint(
        state.url, credentials.owner_api_key(options, home), embedded=True, key_env=options.api_key_env
    )


def check_reachable(point: Endpoint, retries: int = 0, backoff_s: float = 1.0) -> None:
    """Fail before anything is read or written: a server that is down, or one that refuses the key.

    A server that is starting or restarting gets `retries` more tries, with exponential backoff.
    """
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            response = httpx.get(f"{point.url}/api/v1/me", headers=point.headers(), timeout=10)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code == 401:
            raise ReviewServerError(_refused(point))
        if response.status_code >= 500:
            problem = f"HTTP {response.status_code}"
            continue
        response.raise_for_status()
        return
    raise ReviewServerError(
        f"cannot reach Argilla at {point.url} after {retries + 1} attempt(s) ({problem}). Is it running? "
        + ("Start it with `dsforge review serve`." if point.embedded else "Check review.api_url.")
    )


def _refused(point: Endpoint) -> str:
    if point.embedded:
        return (
            f"the review server at {point.url} refused the owner's API key (${point.key_env}, else the "
            f"key stored with the server); if ${point.key_env} changed since it started, run "
            "`dsforge review stop` and `dsforge review serve`."
        )
    return (
        f"Argilla at {point.url} refused the API key in ${point.key_env}; export the owner's API key "
        "(Argilla: My settings → API key) in that variable."
    )


def client(point: Endpoint, retries: int = 0, backoff_s: float = 1.0, timeout: int = 120) -> rg.Argilla:
    import argilla as rg

    check_reachable(point, retries, backoff_s)
    return rg.Argilla(api_url=point.url, api_key=point.api_key, timeout=timeout)
