"""Cosine similarity over a dataset's stored vectors, with a per-process matrix cache.

Parsing 20k JSON vectors takes most of a second, so the matrix is kept and
reused until the vectors of that setting change (count or last update differ).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from argilla_server.models import Vector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

_CACHE: "OrderedDict[UUID, tuple[tuple[int, datetime | None], list[UUID], np.ndarray]]" = OrderedDict()
_CACHE_SIZE = 4


async def load_matrix(db: AsyncSession, vector_settings_id: UUID) -> tuple[list[UUID], np.ndarray]:
    """Record ids and their L2-normalised vectors for one vector setting."""
    stamp_row = await db.execute(
        select(func.count(Vector.id), func.max(Vector.updated_at)).where(Vector.vector_settings_id == vector_settings_id)
    )
    stamp = tuple(stamp_row.one())
    cached = _CACHE.get(vector_settings_id)
    if cached and cached[0] == stamp:
        _CACHE.move_to_end(vector_settings_id)
        return cached[1], cached[2]
    rows = (
        await db.execute(select(Vector.record_id, Vector.value).where(Vector.vector_settings_id == vector_settings_id))
    ).all()
    ids = [row[0] for row in rows]
    matrix = np.asarray([row[1] for row in rows], dtype=np.float32) if rows else np.zeros((0, 0), np.float32)
    matrix = normalise(matrix)
    _CACHE[vector_settings_id] = (stamp, ids, matrix)  # type: ignore[assignment]
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return ids, matrix


def normalise(matrix: np.ndarray) -> np.ndarray:
    if matrix.size == 0:
        return matrix
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def cosine_scores(matrix: np.ndarray, query: list[float] | Any) -> np.ndarray:
    """ES `cosine` similarity scores: (1 + cos) / 2, in [0, 1]."""
    if matrix.size == 0:
        return np.zeros(0, np.float32)
    vector = normalise(np.asarray([query], dtype=np.float32))[0]
    return (1.0 + matrix @ vector) / 2.0
