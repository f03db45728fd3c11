"""How every command reports a DsforgeError: a red line on stderr and exit code 2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

from core.errors import DsforgeError

_stderr = Console(stderr=True)


def fail(exc: DsforgeError) -> NoReturn:
    _stderr.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Run a command's stage calls; a DsforgeError ends the command through `fail`."""
    try:
        yield
    except DsforgeError as exc:
        fail(exc)
