"""Reaching the review server: the configured Argilla, or the embedded one with its stored owner key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from annotate.options import ReviewOptions
from annotate.server import credentials, supervisor
from builder.errors import ReviewServerError

if TYPE_CHECKING:
    import argilla as rg


@dataclass(frozen=True)
class Endpoint:
    url: str
    api_key: str
    embedded: bool

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
        return Endpoint(options.api_url.rstrip("/"), key, embedded=False)
    home = supervisor.server_home(options, project_root)
    state = supervisor.running_state(home)
    if state is None:
        raise ReviewServerError(
            "no review server is running; start one with `dsforge review serve`, or set review.api_url "
            f"and ${options.api_key_env} to use an existing Argilla."
        )
    return Endpoint(state.url, credentials.owner_api_key(options, home), embedded=True)


def check_reachable(point: Endpoint) -> None:
    try:
        response = httpx.get(f"{point.url}/api/v1/me", headers=point.headers(), timeout=10)
    except httpx.HTTPError as exc:
        raise ReviewServerError(f"cannot reach Argilla at {point.url}: {exc}. Is it running?") from exc
    if response.status_code == 401:
        raise ReviewServerError(f"Argilla at {point.url} refused the API key; check the key you exported.")
    response.raise_for_status()


def client(point: Endpoint, timeout: int = 120) -> "rg.Argilla":
    import argilla as rg

    check_reachable(point)
    return rg.Argilla(api_url=point.url, api_key=point.api_key, timeout=timeout)
