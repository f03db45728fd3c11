"""The one file hash: lineage, model weights and converted base models all name files by it."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 8 * 1024 * 1024


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in blocks so multi-GB weights never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
