"""Read one file with its size capped, re-checking that it still lies inside the root."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from builder.ingest import reasons
from core.errors import InputFileError

# O_NOFOLLOW: a file swapped for a symlink after listing fails instead of being followed.
# O_NONBLOCK: a file swapped for a FIFO cannot hang the build.
_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


def read_bounded(path: Path, root: Path, limit: int) -> bytes:
    """Bytes of `path`, never more than `limit` of them read into memory."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise _escape()
    try:
        fd = os.open(resolved, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _escape() from None
        hint = "grant read permission (chmod)" if isinstance(exc, PermissionError) else "check the disk"
        raise InputFileError(
            reasons.UNREADABLE, f"cannot be opened ({exc.strerror}); {hint} or exclude it."
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(reasons.SPECIAL_FILE, "is not a regular file; exclude it.")
        if info.st_size > limit:
            raise _too_large(info.st_size, limit)
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise InputFileError(
                reasons.UNREADABLE, f"read failed ({exc.strerror}); check the disk or exclude it."
            ) from None
    if len(data) > limit:  # it grew after the size check
        raise _too_large(len(data), limit)
    if not data:
        raise InputFileError(reasons.EMPTY, "is empty (0 bytes); add content or remove the file.")
    return data


def _too_large(size: int, limit: int) -> InputFileError:
    return InputFileError(
        reasons.TOO_LARGE,
        f"is {size:,} bytes, over max_file_bytes={limit:,}; split it into smaller files or raise "
        "max_file_bytes.",
    )


def _escape() -> InputFileError:
    return InputFileError(
        reasons.SYMLINK_ESCAPE,
        "resolves outside the input folder (a symlink) and was not read; copy the target into "
        "the folder if it should be ingested.",
    )
