"""For the fault tests: a real SIGKILL at a moment the test observes, and what got logged meanwhile."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], timeout_s: float = 300) -> None:
    """SIGKILL `process` (with its process group, if it leads one) as soon as `ready()` holds.

    Fails if the process ended by itself first: the crash the test is about never happened.
    """
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, f"{process.args} ended before the kill"


class LogLines(logging.Handler):
    """Every record it is given, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
