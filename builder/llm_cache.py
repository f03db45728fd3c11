"""Content-addressed store of model completions.

Keyed on everything that determines a completion (model fingerprint, decoding
parameters, the full prompt — which embeds the chunk text, task and examples),
so an unchanged rerun makes no model calls (only chunks whose provider raised
are asked again) and a killed build resumes from the last completed chunk. SQLite gives atomic, durable
commits per entry.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


def completion_key(model_fingerprint: dict[str, Any], prompt: str) -> str:
    payload = json.dumps([model_fingerprint, prompt], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


class CompletionCache:
    """A small key → completion table; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS completions ("
            " key TEXT PRIMARY KEY, prompt_sha256 TEXT NOT NULL, output TEXT NOT NULL,"
            " created REAL NOT NULL)"
        )

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT output FROM completions WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, prompt: str, output: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions (key, prompt_sha256, output, created)"
                " VALUES (?, ?, ?, ?)",
                (key, prompt_sha256(prompt), output, time.time()),
            )

    def export_rows(self) -> list[dict[str, str]]:
        """Prompt hash → output pairs: a recording a replay provider can serve."""
        with self._lock:
            rows = self._db.execute(
                "SELECT prompt_sha256, output FROM completions ORDER BY prompt_sha256"
            ).fetchall()
        return [{"prompt_sha256": sha, "output": output} for sha, output in rows]

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
