"""Read + clean + dedup throughput: the local engine against the Ray engine at 1 and 2 workers.

    .venv/bin/python bench/build_ray.py [--base-copies 16] [--sizes 1 16] [--workers 1 2] [--repeats 3] [--quick]

Input is the plain-text twin of bench/license_corpus.py's corpus (the one
bench/build_cpu.py cleans): 1× is `--base-copies` copies of samples/docs, 16×
sixteen times that, with planted exact and near duplicates.

- local: `ingest_folder` + `clean_documents` in this process, as `dsforge build`
  runs them (config defaults; near dedup: MinHash LSH at 0.85).
- ray N: a local Ray started by the engine's own `ray_session` with num_cpus=N;
  `ingest_and_clean` (read, text steps, exact keys and MinHash signatures as
  Ray Data tasks of `files_per_task` files) then `drop_duplicates` (the one
  global exact + LSH pass, on the driver). Each worker count gets its own Ray;
  the first run after start-up (worker processes importing dsforge) is
  reported apart and left out of the medians.

Every run checks that the Ray engine's cleaned corpus equals the local one.
MB/s is MB (10^6 bytes) of UTF-8 input text per second of read + clean + dedup
(Ray fuses reading into its tasks, so the local figure includes reading too;
local clean + dedup alone is shown beside it as bench/build_cpu.py reports it).

Projection: the serial part of a Ray run is the driver's work — parsing the
rows the tasks return and the global dedup pass — measured on its own; the rest
is spread over workers. With the 1-worker run as the per-worker figure,
T(N) = (T(1) − serial) / N + serial estimates N workers of a cluster.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.license_corpus import Corpus, corpus_of, write_pool
from bench.machine import machine_info, write_results
from builder.clean import clean_documents
from builder.clean.pipeline import drop_duplicates
from core.config import DsforgeConfig
from core.options.build import BuildOptions, RayOptions
from builder.engines.ray_engine import ingest_and_clean, ray_session
from builder.ingest import ingest_folder
from builder.ingest.walk import list_files
from schemas.types import Document

MB = 1e6
PACKAGES = ["ray", "datasketch", "pyarrow", "pydantic"]
PROJECTED_WORKERS = (4, 8, 16, 32, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-copies", type=int, default=16, help="copies of samples/docs in the 1× corpus")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16], help="multiples of the 1× corpus")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray CPUs (task workers)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size and engine (medians)")
    parser.add_argument("--files-per-task", type=int, default=64)
    parser.add_argument("--work", type=Path, help="folder for the generated corpus (default: a temp folder)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 base copy, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.base_copies, args.repeats = 1, 1
    sizes = sorted(set(args.sizes))
    machine = machine_info(PACKAGES)
    work = args.work or Path(tempfile.mkdtemp(prefix="dsforge-ray-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    config = DsforgeConfig(
        **{"schema": "unused.py:Unused"},
        project_root=work,
        build=BuildOptions(engine="ray", ray=RayOptions(files_per_task=args.files_per_task)),
    )
    runs: list[dict[str, Any]] = []
    startups: list[dict[str, Any]] = []
    try:
        plans = write_pool(work / "pool", args.base_copies * sizes[-1])
        corpora = {
            size: corpus_of(work / "pool", plans, args.base_copies * size, work / f"{size}x")
            for size in sizes
        }
        references = {size: measure_local(corpora[size], config) for size in sizes}
        for workers in args.workers:
            options = RayOptions(num_cpus=workers, object_store_mb=512)
            started = time.perf_counter()
            with ray_session(options, work / f"ray{workers}") as where:
                up_s = time.perf_counter() - started
                first = measure_ray(corpora[sizes[0]], config, references[sizes[0]][1])
                startups.append(
                    {"workers": workers, "ray_start_s": up_s, "first_run_s": first["total_s"], **where}
                )
                print(
                    f"ray {workers}: started in {up_s:.1f} s, first run {first['total_s']:.1f} s", flush=True
                )
                for size in sizes:
                    for repeat in range(args.repeats):
                        # Who goes first alternates, so neither always runs on a warmer machine.
                        order = ("local", "ray") if repeat % 2 == 0 else ("ray", "local")
                        for engine in order:
                            if engine == "local":
                                run, _ = measure_local(corpora[size], config)
                            else:
                                run = measure_ray(corpora[size], config, references[size][1])
                            run.update(size=size, workers=workers if engine == "ray" else 0, repeat=repeat)
                            run["input"] = _describe(corpora[size])
                            runs.append(run)
                            print(_progress(run), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarise(runs)
    payload = {
        "benchmark": "build_ray",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine,
        "startups": startups,
        "summary": summary,
        "runs": runs,
    }
    path = write_results("build_ray", payload)
    print(f"results: {path}")
    print_tables(summary, startups, machine, args)


def measure_local(corpus: Corpus, config: DsforgeConfig) -> tuple[dict[str, Any], Any]:
    read_s, ingested = _timed(lambda: ingest_folder(corpus.plain, config.ingest))
    clean_s, result = _timed(lambda: clean_documents(ingested.documents, config.clean))
    run = {
        "engine": "local",
        "read_s": read_s,
        "clean_dedup_s": clean_s,
        "total_s": read_s + clean_s,
        "serial_s": read_s + clean_s,
        **_counts(result),
    }
    return run, result


def measure_ray(corpus: Corpus, config: DsforgeConfig, reference: Any) -> dict[str, Any]:
    base = corpus.plain.resolve()

    def run() -> Any:
        candidates = list_files(base, config.ingest).candidates
        shards = ingest_and_clean(candidates, base, config)
        stage_done = time.perf_counter()
        result = drop_duplicates(shards.cleaned, config.clean, shards.keys, shards.signatures)
        return shards.cleaned, result, stage_done

    gc.collect()
    started = time.perf_counter()
    per_task, result, stage_done = run()
    total = time.perf_counter() - started
    # The driver's own share: parsing what the tasks returned, then the global dedup pass.
    parse_s, _ = _timed(
        lambda: [Document.model_validate_json(d.model_dump_json()) for d in per_task.documents]
    )
    return {
        "engine": "ray",
        "stage_s": stage_done - started,
        "dedup_pass_s": total - (stage_done - started),
        "driver_parse_s": parse_s,
        "total_s": total,
        "serial_s": total - (stage_done - started) + parse_s,
        "same_as_local": result == reference,
        **_counts(result),
    }


def _counts(result: Any) -> dict[str, int]:
    dropped = {step.name: step.documents_dropped for step in result.steps if step.documents_dropped}
    return {
        "kept": len(result.documents),
        "dropped_exact": dropped.get("dedup_exact", 0),
        "dropped_near": dropped.get("dedup_near", 0),
    }


def _describe(corpus: Corpus) -> dict[str, Any]:
    return {"copies": corpus.copies, "plain_docs": corpus.plain_docs, "plain_bytes": corpus.plain_bytes}


def _timed(fn: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _progress(run: dict[str, Any]) -> str:
    who = "local" if run["engine"] == "local" else f"ray {run['workers']}"
    same = "" if run["engine"] == "local" else f", same as local: {run['same_as_local']}"
    return f"{run['size']}x {who} repeat {run['repeat']}: {run['total_s']:.2f} s{same}"


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per size and engine, MB/s, ratio to local, and the projection from 1 worker."""
    rows = []
    for size in dict.fromkeys(r["size"] for r in runs):
        mine = [r for r in runs if r["size"] == size]
        mb = mine[0]["input"]["plain_bytes"] / MB
        local_runs = [r for r in mine if r["engine"] == "local"]
        local_s = statistics.median(r["total_s"] for r in local_runs)
        clean_s = statistics.median(r["clean_dedup_s"] for r in local_runs)
        row: dict[str, Any] = {
            "size": size,
            "input": mine[0]["input"],
            "local": {
                "total_s": local_s,
                "mb_per_s": mb / local_s,
                "clean_dedup_s": clean_s,
                "clean_dedup_mb_per_s": mb / clean_s,
                **{k: local_runs[-1][k] for k in ("kept", "dropped_exact", "dropped_near")},
            },
            "ray": {},
        }
        for workers in sorted({r["workers"] for r in mine if r["engine"] == "ray"}):
            got = [r for r in mine if r["engine"] == "ray" and r["workers"] == workers]
            med = {
                k: statistics.median(r[k] for r in got)
                for k in ("total_s", "stage_s", "dedup_pass_s", "serial_s")
            }
            med["mb_per_s"] = mb / med["total_s"]
            med["vs_local"] = local_s / med["total_s"]
            med["same_as_local"] = all(r["same_as_local"] for r in got)
            med.update({k: got[-1][k] for k in ("kept", "dropped_exact", "dropped_near")})
            row["ray"][workers] = med
        one = row["ray"].get(1)
        if one:
            parallel = max(one["total_s"] - one["serial_s"], 0.0)
            row["per_worker_mb_per_s"] = mb / parallel if parallel else None
            row["projected"] = {
                n: {
                    "seconds": parallel / n + one["serial_s"],
                    "mb_per_s": mb / (parallel / n + one["serial_s"]),
                }
                for n in (2, *PROJECTED_WORKERS)
            }
            row["ceiling_mb_per_s"] = mb / one["serial_s"] if one["serial_s"] else None
        rows.append(row)
    return rows


def print_tables(
    rows: list[dict[str, Any]], startups: list[dict[str, Any]], machine: dict[str, Any], args: Any
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    where = f"{machine['cpu_model']}, {machine['usable_cpus']} CPUs, load at start {machine['load_average_at_start']}"
    table = Table(
        title=f"read + clean + dedup, local engine vs Ray engine (medians of {args.repeats}; {where})"
    )
    for col in ("size", "engine", "input MB", "docs", "s", "MB/s", "× vs local", "driver dedup s",
                "serial s", "kept", "dropped exact", "dropped near", "same output"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in rows:
        mb, docs, loc = r["input"]["plain_bytes"] / MB, r["input"]["plain_docs"], r["local"]
        table.add_row(
            f"{r['size']}×", "local", f"{mb:.2f}", str(docs), f"{loc['total_s']:.2f}", f"{loc['mb_per_s']:.2f}",
            "1.00", "—", f"{loc['total_s']:.2f}", str(loc["kept"]), str(loc["dropped_exact"]),
            str(loc["dropped_near"]), "—",
        )  # fmt: skip
        for workers, ray in r["ray"].items():
            table.add_row(
                "", f"ray, {workers} worker{'s' if workers > 1 else ''}", f"{mb:.2f}", str(docs),
                f"{ray['total_s']:.2f}", f"{ray['mb_per_s']:.2f}", f"{ray['vs_local']:.2f}",
                f"{ray['dedup_pass_s']:.2f}", f"{ray['serial_s']:.2f}", str(ray["kept"]),
                str(ray["dropped_exact"]), str(ray["dropped_near"]), "yes" if ray["same_as_local"] else "NO",
            )  # fmt: skip
    console.print(table)
    local_only = ", ".join(f"{r['size']}× {r['local']['clean_dedup_mb_per_s']:.2f} MB/s" for r in rows)
    console.print(f"local clean + dedup alone (no reading, as bench/build_cpu.py reports it): {local_only}")
    for s in startups:
        console.print(
            f"ray {s['workers']}: Ray start {s['ray_start_s']:.1f} s, first run on fresh workers {s['first_run_s']:.1f} s"
        )
    projection = Table(title="projection from the 1-worker run: T(N) = (T(1) − serial) / N + serial")
    for col in ("size", "per-worker MB/s", "serial s", *(f"{n} workers MB/s" for n in (2, *PROJECTED_WORKERS)),
                "ceiling MB/s (serial only)"):  # fmt: skip
        projection.add_column(col, justify="right")
    for r in rows:
        if "projected" not in r:
            continue
        projection.add_row(
            f"{r['size']}×",
            f"{r['per_worker_mb_per_s']:.2f}" if r["per_worker_mb_per_s"] else "—",
            f"{r['ray'][1]['serial_s']:.2f}",
            *(f"{r['projected'][n]['mb_per_s']:.2f}" for n in (2, *PROJECTED_WORKERS)),
            f"{r['ceiling_mb_per_s']:.2f}" if r["ceiling_mb_per_s"] else "—",
        )
    console.print(projection)


if __name__ == "__main__":
    main()
