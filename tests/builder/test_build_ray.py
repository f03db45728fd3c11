"""The Ray Data engine builds what the local engine builds, byte for byte, and survives a killed worker.

One Ray per module (started through the engine's own `ray_session`, as
`dsforge build --engine ray` starts it) serves every build here; the model is
the recording of the real 1.5B (`tests/fixtures/replay/`), so outputs can be
compared exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from bench.license_corpus import corpus_of, write_pool
from dsforge.cli import app
from builder.clean import clean_documents
from core.config import load_config
from builder.engines import run_build
from core.options.build import RayOptions
from core.errors import ConfigError
from builder.engines.ray_engine import ingest_and_clean, ray_session
from builder.clean.pipeline import drop_duplicates
from builder.ingest import ingest_folder
from builder.ingest.walk import list_files
from builder.pipeline import build

from tests.builder.replay_project import cached_completions, make_project

ARTIFACTS = (
    "files.jsonl",
    "documents.jsonl",
    "extractions.jsonl",
    "items.jsonl",
    "rejects.jsonl",
    "records.jsonl",
    "visualization.html",
)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    with ray_session(RayOptions(num_cpus=2, object_store_mb=100), tmp_path_factory.mktemp("ray")) as where:
        yield where


@pytest.fixture(scope="module")
def local_built(tmp_path_factory):
    return build(load_config(make_project(tmp_path_factory.mktemp("local"))), show_progress=False)


@pytest.fixture(scope="module")
def ray_built(tmp_path_factory, ray_cluster):
    # 4 documents per task, their chunks in one window of 4 requests, answers finishing out of order:
    # the bytes must still be the local engine's one-request-at-a-time bytes.
    config_path = make_project(tmp_path_factory.mktemp("ray-build"), extraction={"max_workers": 4}, jitter_s=0.02)
    result = CliRunner().invoke(app, ["build", "-c", str(config_path), "--engine", "ray", "--no-progress"])
    assert result.exit_code == 0, result.output
    return load_config(config_path)


def _counts(report: dict) -> dict:
    """The report without timings and the engine's own entry."""
    counts = {k: v for k, v in report.items() if k not in {"wall_seconds", "engine"}}
    counts["extraction"] = {
        k: v for k, v in report["extraction"].items() if k not in {"seconds", "seconds_in_model"}
    }
    return counts


def _report(config) -> dict:
    return json.loads((config.output_dir / "report.json").read_text(encoding="utf-8"))


def test_ray_build_writes_the_local_engines_bytes_and_counts(local_built, ray_built):
    for name in ARTIFACTS:
        assert (ray_built.output_dir / name).read_bytes() == (local_built.paths.root / name).read_bytes(), (
            name
        )
    report = _report(ray_built)
    assert report["engine"]["name"] == "ray"
    assert report["extraction"]["llm_calls"] == local_built.report["extraction"]["chunks"] > 0
    assert _counts(report) == _counts(local_built.report)


def test_a_ray_rerun_makes_no_model_calls_and_changes_nothing(ray_built, ray_cluster):
    before = {name: (ray_built.output_dir / name).read_bytes() for name in ARTIFACTS}
    summary = run_build(
        ray_built.model_copy(update={"build": ray_built.build.model_copy(update={"engine": "ray"})})
    )
    ext = summary.report["extraction"]
    assert ext["llm_calls"] == 0
    assert ext["cache_hits"] == ext["chunks"] > 0
    assert {name: (ray_built.output_dir / name).read_bytes() for name in ARTIFACTS} == before


def test_bad_files_and_a_failing_provider_are_reported_as_the_local_engine_reports_them(
    tmp_path, ray_cluster
):
    # An empty file, a binary one, an unsupported format, and a document the recording has no
    # completion for (its chunks are rejected as provider_error after their retries).
    documents = {
        "empty.txt": b"",
        "blob.txt": bytes(range(256)) * 4,
        "notes.rtf": b"{\\rtf1 hello}",
        "terms.md": b"# Terms\n\nPermission is granted to use this text for any purpose, without fee.\n",
    }
    local = build(load_config(make_project(tmp_path / "local", documents=documents)), show_progress=False)
    config = load_config(make_project(tmp_path / "ray", documents=documents))
    config.build.engine = "ray"
    distributed = run_build(config, show_progress=False)
    for name in ARTIFACTS:
        assert (distributed.paths.root / name).read_bytes() == (local.paths.root / name).read_bytes(), name
    assert _counts(distributed.report) == _counts(local.report)
    assert local.report["files"].get("error") and local.report["extraction"]["rejects"].get("provider_error")


def test_near_duplicates_are_found_across_tasks_exactly_as_locally(tmp_path, ray_cluster, local_built):
    # 3 copies of the samples, with planted exact and near duplicates of copy 0 in copies 1 and 2;
    # 5 files per task puts each near duplicate in a different task from the document it repeats.
    corpus = corpus_of(tmp_path / "pool", write_pool(tmp_path / "pool", 3), 3, tmp_path / "3x")
    config = load_config(make_project(tmp_path / "project"))
    config = config.model_copy(
        update={"build": config.build.model_copy(update={"ray": RayOptions(files_per_task=5)})}
    )
    ingest = config.ingest
    local = clean_documents(ingest_folder(corpus.plain, ingest).documents, config.clean)

    base = corpus.plain.resolve()
    candidates = list_files(base, ingest).candidates
    assert len(candidates) > 3 * 5
    shards = ingest_and_clean(candidates, base, config)
    distributed = drop_duplicates(shards.cleaned, config.clean, shards.keys, shards.signatures)

    assert shards.ingested == len(ingest_folder(corpus.plain, ingest).documents)
    assert distributed == local
    reasons = {drop.reason for drop in distributed.dropped}
    assert {"exact_duplicate", "near_duplicate"} <= reasons


def test_the_engine_comes_from_the_config_the_environment_or_the_command_line(tmp_path, monkeypatch):
    path = make_project(tmp_path)
    assert load_config(path).build.engine == "local"
    monkeypatch.setenv("DSFORGE_BUILD__ENGINE", "ray")
    assert load_config(path).build.engine == "ray"
    monkeypatch.setenv("DSFORGE_BUILD__ENGINE", "spark")
    with pytest.raises(ConfigError, match="build.engine"):
        load_config(path)
    monkeypatch.delenv("DSFORGE_BUILD__ENGINE")
    result = CliRunner().invoke(app, ["build", "-c", str(path), "--engine", "spark", "--no-progress"])
    assert result.exit_code != 0 and "build.engine 'spark' is unknown" in result.output


def test_a_workers_config_error_reaches_the_user_as_itself(tmp_path, ray_cluster, monkeypatch):
    # The provider is built inside the extraction actors; its error must not hide in a Ray traceback.
    monkeypatch.delenv("DSFORGE_TEST_UNSET_KEY", raising=False)
    config = load_config(make_project(tmp_path))
    config.provider.api_key_env = "DSFORGE_TEST_UNSET_KEY"
    config.build.engine = "ray"
    with pytest.raises(ConfigError, match="DSFORGE_TEST_UNSET_KEY"):
        run_build(config, show_progress=False)


def test_a_killed_extraction_actor_is_restarted_and_nothing_is_lost_or_repeated(
    tmp_path, ray_cluster, local_built
):
    config = load_config(make_project(tmp_path / "project", latency_s=1.0))
    config.build.engine = "ray"
    cache = config.output_dir / "cache" / "completions.sqlite"
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(summary=run_build(config, show_progress=False)))
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and cached_completions(cache) < 2:
            time.sleep(0.05)
        victims = _working_extractors()
        while time.monotonic() < deadline and len(victims) != 1:
            time.sleep(0.02)
            victims = _working_extractors()
        assert len(victims) == 1 and cached_completions(cache) < local_built.report["extraction"]["chunks"]
        os.kill(victims[0].pid, signal.SIGKILL)
        killed = victims[0].pid
    finally:
        runner.join(timeout=180)
    assert "summary" in outcome, "the build did not finish after its extraction actor was killed"
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE

    summary = outcome["summary"]
    for name in ARTIFACTS:
        assert (summary.paths.root / name).read_bytes() == (local_built.paths.root / name).read_bytes(), name
    assert _counts_without_calls(summary.report) == _counts_without_calls(local_built.report)
    # Every chunk cached once, and counted once: answered by the model or, if it finished
    # before the kill, by the cache when its document was redone.
    chunks = local_built.report["extraction"]["chunks"]
    ext = summary.report["extraction"]
    assert cached_completions(cache) == chunks == ext["llm_calls"] + ext["cache_hits"]


def _counts_without_calls(report: dict) -> dict:
    # The killed attempt's calls are gone with its process; the retry counts only its own.
    counts = _counts(report)
    counts["extraction"] = {
        k: v for k, v in counts["extraction"].items() if k not in {"llm_calls", "cache_hits"}
    }
    return counts


def _working_extractors() -> list[psutil.Process]:
    """Extraction actors of this test's Ray that are running a task right now.

    Ray titles an actor's process `ray::<class>` and, while a task runs,
    `ray::<class>.<method>`; an idle actor of an earlier build may still be around.
    """
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            title = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "Extractor" in title and ".submit" in title:
            found.append(child)
    return found


def test_a_ray_build_killed_with_its_driver_resumes_from_the_cache(tmp_path, ray_cluster, local_built):
    # The CLI starts its own local Ray; kill -9 takes the driver down mid-extraction.
    config_path = make_project(tmp_path / "project", latency_s=1.0)
    cache = tmp_path / "project" / "build" / "cache" / "completions.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "dsforge.cli",
        "build",
        "-c",
        str(config_path),
        "--engine",
        "ray",
        "--no-progress",
    ]
    ray_folders = set(Path(tempfile.gettempdir()).glob("dsforge-ray-*"))
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and cached_completions(cache) < 2:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for folder in set(Path(tempfile.gettempdir()).glob("dsforge-ray-*")) - ray_folders:
        # The killed driver's Ray folder (its sessions end in the driver's pid), left behind.
        if any(folder.glob(f"session_*_{process.pid}")):
            shutil.rmtree(folder, ignore_errors=True)
    done_before_kill = cached_completions(cache)
    chunks = local_built.report["extraction"]["chunks"]
    assert 2 <= done_before_kill < chunks
    assert not (tmp_path / "project" / "build" / "records.jsonl").exists()

    config = load_config(config_path)
    config.build.engine = "ray"
    rerun = run_build(config, show_progress=False)
    ext = rerun.report["extraction"]
    # Chunks finished before the kill are not asked again (one more may land between count and kill).
    assert ext["cache_hits"] >= done_before_kill and ext["llm_calls"] <= chunks - done_before_kill
    assert ext["cache_hits"] + ext["llm_calls"] == chunks and cached_completions(cache) == chunks
    for name in ARTIFACTS:
        assert (rerun.paths.root / name).read_bytes() == (local_built.paths.root / name).read_bytes(), name
