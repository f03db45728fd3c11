"""Crash-safe file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, fsync, then rename over the target."""
    write_file(path, lambda tmp: tmp.write_bytes(data))


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` fills a temp file beside `path` (a library's own writer); it is fsynced and renamed over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(_plain(obj), ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    lines = [json.dumps(_plain(row), ensure_ascii=False) for row in rows]
    write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _plain(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    return obj


def replace_dir(target: Path, write: Callable[[Path], object]) -> None:
    """Fill a staging folder beside `target` with `write(staging)`, then swap it in.

    Readers see the old folder or the new one, never half of one. A failure
    removes the staging folder and keeps the old one; the leftovers of a
    killed run (hidden `.NAME.tmp` / `.NAME.old` siblings) are cleared first.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp")
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(staging, ignore_errors=True)
    if old.exists() and not target.exists():
        os.replace(old, target)  # killed between the two renames: the old folder is still whole
    shutil.rmtree(old, ignore_errors=True)
    try:
        staging.mkdir()
        write(staging)
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.replace(old, target)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


def fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry is flushed too.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
