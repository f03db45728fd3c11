"""Who may log in to the embedded server, with secrets from the environment.

A secret not set in the environment is generated once and kept in the
server's home folder (mode 0600), like argilla's own `~/.argilla`; it is
never printed by anything but `dsforge review serve` and never written to
build artifacts. A secret taken from the environment is never printed at all.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from core import atomic
from core.options.review import ReviewOptions

FILE = "credentials.json"


@dataclass(frozen=True)
class UserCredentials:
    username: str
    role: str
    password: str
    api_key: str
    from_env: bool  # the password came from the environment
    key_from_env: bool


def annotator_password_env(username: str) -> str:
    return "DSFORGE_ARGILLA_PASSWORD_" + username.upper().replace("-", "_")


def resolve(options: ReviewOptions, home: Path) -> list[UserCredentials]:
    """The owner first, then the annotators; generated secrets are persisted so restarts keep them."""
    path = home / FILE
    stored: dict[str, dict[str, str]] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    users: list[UserCredentials] = []
    wanted = [(options.owner, "owner", options.owner_password_env, options.api_key_env)] + [
        (a.username, "annotator", a.password_env or annotator_password_env(a.username), None)
        for a in options.annotators
    ]
    changed = False
    for username, role, password_env, key_env in wanted:
        saved = stored.setdefault(username, {})
        password = os.environ.get(password_env) or saved.get("password")
        api_key = (os.environ.get(key_env) if key_env else None) or saved.get("api_key")
        if not password:
            password = saved["password"] = secrets.token_urlsafe(12)
            changed = True
        if not api_key:
            api_key = saved["api_key"] = "dsf." + secrets.token_urlsafe(24)
            changed = True
        from_env = bool(os.environ.get(password_env))
        key_from_env = bool(key_env and os.environ.get(key_env))
        users.append(UserCredentials(username, role, password, api_key, from_env, key_from_env))
    if changed:
        home.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, stored)
        os.chmod(path, 0o600)
    return users


def owner_api_key(options: ReviewOptions, home: Path) -> str:
    return next(user.api_key for user in resolve(options, home) if user.role == "owner")
