"""What every command shares: the --config and --progress options, and how a DsforgeError is reported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from core.config import CONFIG_NAME
from core.errors import DsforgeError

_stderr = Console(stderr=True)

ConfigOption = typer.Option(Path(CONFIG_NAME), "--config", "-c", help="project config file")
ProgressOption = typer.Option(True, help="show progress bars")


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
