"""The one timestamp format of run cards and merge records: UTC, to the second, ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """Now in UTC as `2025-01-31T12:00:00+00:00`; seconds are enough to order runs and read them."""
    return datetime.now(UTC).isoformat(timespec="seconds")
