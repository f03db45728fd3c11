"""Read a review dataset back: every record's responses, with reviewer names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from annotate import dataset_settings as ds
from annotate.connection import Endpoint
from annotate.decisions import Submission
from core.errors import ReviewError

PAGE = 1000  # the server's maximum page size


@dataclass
class ServerRecord:
    external_id: str
    status: str  # argilla's record status: pending / completed
    submissions: list[Submission]
    drafts: list[str]
    discarded: list[str]


def find_dataset(http: httpx.Client, workspace: str, name: str) -> dict[str, Any] | None:
    workspaces = _get(http, "/api/v1/me/workspaces")["items"]
    ids = {w["name"]: w["id"] for w in workspaces}
    if workspace not in ids:
        return None
    for dataset in _get(http, "/api/v1/me/datasets")["items"]:
        if dataset["name"] == name and dataset["workspace_id"] == ids[workspace]:
            return dataset
    return None


def require_dataset(
    http: httpx.Client, workspace: str, name: str, url: str, push_command: str
) -> dict[str, Any]:
    """The dataset a pull reads; its absence means nothing was pushed, which the error says how to fix."""
    dataset = find_dataset(http, workspace, name)
    if dataset is None:
        raise ReviewError(
            f"no dataset {name!r} in workspace {workspace!r} at {url}; run `{push_command}` first."
        )
    return dataset


def usernames(http: httpx.Client) -> dict[str, str]:
    return {user["id"]: user["username"] for user in _get(http, "/api/v1/users")["items"]}


def iter_records(http: httpx.Client, dataset_id: str, users: dict[str, str]) -> Iterator[ServerRecord]:
    for row in iter_rows(http, dataset_id):
        yield _server_record(row, users)


def iter_rows(http: httpx.Client, dataset_id: str) -> Iterator[dict[str, Any]]:
    """Every record of a dataset as the server returns it, responses included, page by page."""
    offset = 0
    while True:
        page = _get(
            http,
            f"/api/v1/datasets/{dataset_id}/records",
            params={"include": "responses", "offset": offset, "limit": PAGE},
        )["items"]
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def _server_record(row: dict[str, Any], users: dict[str, str]) -> ServerRecord:
    submissions, drafts, discarded = [], [], []
    for response in row.get("responses") or []:
        reviewer = users.get(response["user_id"], response["user_id"])
        if response["status"] == "draft":
            drafts.append(reviewer)
            continue
        if response["status"] == "discarded":
            discarded.append(reviewer)
            continue
        values = response.get("values") or {}
        rating = _value(values, ds.QUALITY)
        submissions.append(
            Submission(
                reviewer=reviewer,
                submitted_at=response["updated_at"],
                decision=_value(values, ds.DECISION),
                correction=_value(values, ds.CORRECTION),
                rating=int(rating) if rating is not None else None,
                values={name: entry.get("value") for name, entry in values.items() if isinstance(entry, dict)},
            )
        )
    return ServerRecord(row.get("external_id") or row["id"], row["status"], submissions, drafts, discarded)


def _value(values: dict[str, Any], question: str) -> Any:
    entry = values.get(question)
    return entry.get("value") if isinstance(entry, dict) else None


def _get(http: httpx.Client, path: str, params: dict | None = None) -> dict[str, Any]:
    try:
        response = http.get(path, params=params)
    except httpx.HTTPError as exc:
        raise ReviewError(
            f"cannot read from Argilla at {http.base_url}: {exc}. Is the server running?"
        ) from exc
    if response.status_code >= 400:
        raise ReviewError(f"Argilla answered {response.status_code} for {path}: {response.text[:300]}")
    return response.json()


def open_http(point: Endpoint) -> httpx.Client:
    return httpx.Client(base_url=point.url, headers=point.headers(), timeout=120)
