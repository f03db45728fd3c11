"""Extraction speed on CPU: `dsforge build` with the embedded llama.cpp model against the bare model.

    .venv/bin/python bench/extraction_cpu.py [--model smollm2-135m] [--threads 2] [--repeats 1] [--quick]

A small project (`--docs`, default three sample licenses in three formats that
make 7 chunks, each document two or three, so batching has something to batch;
the schema samples/license_schema.py; samples/dsforge.yaml's provider params and
extraction options with the model swapped for `dsforge-gguf:<--model>`, by
default the smallest catalogued model that is installed, and `max_tokens` set by
`--max-tokens`, 256 by default: SmolLM2-135M seldom closes its JSON, so it
writes up to the limit, and the sample's 1024 would quadruple the run) is built with
`builder.pipeline.build` under each setting, in a fresh output folder, so the
completion cache hides nothing. Settings (langextract's `batch_length`, the
provider's `n_parallel` slots; `max_workers` stays 1 because the embedded
provider ignores it, it only parallelises remote providers):

- b1-p1: one chunk per provider call, one llama.cpp slot;
- b4-p1: four chunks per call, decoded one after another (samples/dsforge.yaml);
- b4-p2: four chunks per call, two llama.cpp slots decoding two chunks together.

llama.cpp's own per-completion timings are summed over each build (see
bench/llama_timing.py). In the same run, a bare xllamacpp server with the same
model, threads and context is given the build's own first prompts (no grammar,
no prompt cache, `--raw-generate` tokens forced) for the model's prompt and
generation tokens/s. "Share of raw speed" = (prompt tokens the build evaluated
÷ raw prompt tok/s + tokens it generated ÷ raw gen tok/s) ÷ the build's
extraction seconds without model loading: 1.0 means the pipeline runs the model
as fast as a bare loop would; "model busy" is llama.cpp's busy seconds over the
same wall time (above 100% when two slots decode at once). Finally the first
b4-p1 build is rebuilt on unchanged input: LLM calls should be 0 (every
completion is cached, unparseable ones too; only chunks whose call failed are
asked again).

llama.cpp threads stall when they share cores with other work: on a busy
machine pass `--threads 1`; the load average at start and end is saved.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.llama_timing import Recorder, raw_speed, recording
from bench.machine import load_average, machine_info, usable_cpus, write_results
from builder import model_store
from builder.pipeline import build
from core.config import GGUF_PREFIX, load_config

SETTINGS: dict[str, dict[str, int]] = {
    "b1-p1": {"batch_length": 1, "n_parallel": 1},
    "b4-p1": {"batch_length": 4, "n_parallel": 1},
    "b4-p2": {"batch_length": 4, "n_parallel": 2},
}
REFERENCE = "b4-p1"
DEFAULT_DOCS = ["ms-pl.md", "bsd-3-clause.html", "bzip2-1.0.6.pdf"]
PACKAGES = ["xllamacpp", "langextract", "datasets", "pydantic", "rich"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="catalogue name or .gguf path (default: smallest installed)"
    )
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (1 on a busy machine)")
    parser.add_argument("--docs", nargs="+", default=DEFAULT_DOCS, help="files from samples/docs")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=1, help="builds per setting (medians)")
    parser.add_argument(
        "--max-tokens", type=int, default=256, help="completion limit (samples/dsforge.yaml: 1024)"
    )
    parser.add_argument(
        "--raw-prompts", type=int, default=3, help="pipeline prompts replayed on the bare server"
    )
    parser.add_argument(
        "--raw-generate", type=int, default=128, help="tokens generated per bare-server prompt"
    )
    parser.add_argument("--work", type=Path, help="project folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the project and its builds")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: one 2-chunk document, 16-token outputs"
    )
    args = parser.parse_args()
    if args.quick:
        args.docs, args.repeats = ["bsd-3-clause.html"], 1
        args.max_tokens, args.raw_prompts, args.raw_generate = 16, 1, 8
    model = args.model or smallest_installed_model()
    machine = machine_info(PACKAGES)
    busy = (load_average() or [0.0])[0]
    if busy > 0.5 * usable_cpus() and args.threads > 1:
        print(
            f"warning: load average {busy} on {usable_cpus()} CPUs; llama.cpp with {args.threads} threads may "
            "stall beside that work, consider --threads 1",
            flush=True,
        )
    _warm_imports()
    # langextract logs each unparseable chunk; the table counts them, so the log lines are noise here.
    logging.getLogger("absl").setLevel(logging.ERROR)
    work = args.work or Path(tempfile.mkdtemp(prefix="dsforge-extraction-bench-"))
    try:
        project = make_project(work, args.docs)
        runs: list[dict[str, Any]] = []
        raws: list[dict[str, Any]] = []
        rerun: dict[str, Any] | None = None
        for repeat in range(args.repeats):
            for name in args.settings:
                config_path = write_config(project, model, args, name, repeat)
                run, recorder = timed_build(config_path)
                run.update(setting=name, repeat=repeat, **SETTINGS[name])
                runs.append(run)
                print(_progress(run), flush=True)
                if rerun is None and name == REFERENCE:
                    rerun, _ = timed_build(config_path)
                    rerun.update(setting="rerun", first_build_wall_s=run["wall_s"])
                    print(_progress(rerun), flush=True)
                if len(raws) == repeat and recorder.requests:
                    prompts = [r["messages"][0]["content"] for r in recorder.requests[: args.raw_prompts]]
                    raws.append(
                        raw_speed(
                            model_store.resolve_gguf(model),
                            run["n_ctx"],
                            args.threads,
                            _chat_template(model),
                            prompts,
                            args.raw_generate,
                        )
                    )
                    print(
                        f"raw llama.cpp: prompt {raws[-1]['prompt_tokens_per_s']:.0f} tok/s, "
                        f"generation {raws[-1]['generated_tokens_per_s']:.1f} tok/s",
                        flush=True,
                    )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    raw = summarise_raw(raws)
    summary = summarise(runs, raw, rerun, args.settings)
    payload = {
        "benchmark": "extraction_cpu",
        "model": model,
        "model_provenance": model_store.model_provenance(model),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine,
        "summary": summary,
        "raw": raws,
        "rerun": rerun,
        "runs": runs,
    }
    path = write_results("extraction_cpu", payload)
    print(f"results: {path}")
    print_table(summary, model, machine, args)


def smallest_installed_model() -> str:
    """The catalogued model with the smallest weights among those that resolve without fetching."""
    installed = [name for name in model_store.CATALOGUE if model_store.is_installed(name)]
    if not installed:
        raise SystemExit("no catalogued model is installed; run `dsforge models fetch smollm2-135m` first.")
    return min(installed, key=lambda name: model_store.resolve_gguf(name).stat().st_size)


def _chat_template(model: str) -> str | None:
    entry = model_store.CATALOGUE.get(model)
    return entry.chat_template if entry else None


def _warm_imports() -> None:
    """Pay the one-off imports a build triggers before the first timed build, not inside it."""
    import datasets  # noqa: F401
    import langextract  # noqa: F401
    import xllamacpp  # noqa: F401


def make_project(work: Path, docs: list[str]) -> Path:
    project = work / "project"
    (project / "docs").mkdir(parents=True, exist_ok=True)
    for name in docs:
        shutil.copy(REPO / "samples" / "docs" / name, project / "docs" / name)
    shutil.copy(REPO / "samples" / "license_schema.py", project / "license_schema.py")
    return project


def write_config(project: Path, model: str, args: argparse.Namespace, setting: str, repeat: int) -> Path:
    """samples/dsforge.yaml with the model, threads and setting swapped in and its own output folder."""
    data = yaml.safe_load((REPO / "samples" / "dsforge.yaml").read_text())
    params = dict(data["provider"].get("params", {}))
    params.update(n_threads=args.threads, n_parallel=SETTINGS[setting]["n_parallel"])
    params["max_tokens"] = args.max_tokens
    data["provider"] = {"model_id": f"{GGUF_PREFIX}{model}", "params": params}
    data["extraction"] = {
        **data.get("extraction", {}),
        "batch_length": SETTINGS[setting]["batch_length"],
        "max_workers": 1,
    }
    data["output"] = f"build-{setting}-{repeat}"
    path = project / f"dsforge-{setting}-{repeat}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def timed_build(config_path: Path) -> tuple[dict[str, Any], Recorder]:
    config = load_config(config_path)
    recorder = Recorder()
    with recording(recorder):
        started = time.perf_counter()
        summary = build(config, show_progress=False)
        wall = time.perf_counter() - started
    report = summary.report
    ext = report["extraction"]
    totals = recorder.totals()
    docs = report["documents"]["after_cleaning"]
    extract_s = ext["seconds"]
    model_s = max(extract_s - totals["model_load_s"], 1e-9)
    run = {
        "wall_s": wall,
        "documents": docs,
        "chunks": ext["chunks"],
        "llm_calls": ext["llm_calls"],
        "cache_hits": ext["cache_hits"],
        "failed_chunks": ext["failed_chunks"],
        "items": ext["items"],
        "rejects": ext["rejects"],
        "records": report["records"]["kept"],
        "extraction_s": extract_s,
        "extraction_without_load_s": model_s,
        "seconds_in_model_reported": ext["seconds_in_model"],
        "docs_per_min": docs / wall * 60,
        "chunks_per_s": ext["chunks"] / extract_s if extract_s else None,
        "n_ctx": config.provider.params.get("n_ctx", 4096),
        "max_tokens": config.provider.params.get("max_tokens"),
        **totals,
        "calls": [dataclasses.asdict(call) for call in recorder.calls],
    }
    run["model_busy_share"] = totals["model_busy_s"] / model_s if totals["calls"] else None
    run["generated_tokens_per_s_through_pipeline"] = (
        totals["generated_tokens"] / model_s if totals["calls"] else None
    )
    return run, recorder


def summarise_raw(raws: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not raws:
        return None
    return {
        k: statistics.median(r[k] for r in raws)
        for k in ("prompt_tokens_per_s", "generated_tokens_per_s", "prompt_tokens_median", "load_s")
    }


def summarise(
    runs: list[dict[str, Any]], raw: dict[str, Any] | None, rerun: dict[str, Any] | None, settings: list[str]
) -> dict[str, Any]:
    """Medians per setting, the share of raw model speed each keeps, and speed against b4-p1."""
    keys = ("wall_s", "extraction_s", "extraction_without_load_s", "model_load_s", "docs_per_min", "chunks_per_s",
            "model_busy_s", "model_busy_share", "prompt_tokens_per_s", "generated_tokens_per_s",
            "generated_tokens_per_s_through_pipeline", "prompt_tokens_evaluated", "prompt_tokens_from_cache",
            "generated_tokens", "chunks", "llm_calls", "items", "failed_chunks")  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for name in settings:
        mine = [r for r in runs if r["setting"] == name]
        if not mine:
            continue
        row = {k: _median([r[k] for r in mine]) for k in keys}
        row.update(SETTINGS[name], repeats=len(mine), parse_errors=mine[-1]["rejects"].get("parse_error", 0))
        if raw:
            at_raw = (
                row["prompt_tokens_evaluated"] / raw["prompt_tokens_per_s"]
                + row["generated_tokens"] / raw["generated_tokens_per_s"]
            )
            row["raw_equivalent_s"] = at_raw
            row["share_of_raw_speed"] = at_raw / row["extraction_without_load_s"]
            row["generation_vs_raw"] = _div(row["generated_tokens_per_s"], raw["generated_tokens_per_s"])
            row["prompt_vs_raw"] = _div(row["prompt_tokens_per_s"], raw["prompt_tokens_per_s"])
        rows[name] = row
    reference = rows.get(REFERENCE)
    for row in rows.values():
        row["chunks_per_s_vs_b4_p1"] = (
            _div(row["chunks_per_s"], reference["chunks_per_s"]) if reference else None
        )
    out: dict[str, Any] = {"settings": rows, "raw": raw}
    if rerun:
        out["rerun"] = {
            "llm_calls": rerun["llm_calls"],
            "cache_hits": rerun["cache_hits"],
            "wall_s": rerun["wall_s"],
            "first_build_wall_s": rerun["first_build_wall_s"],
            "wall_vs_first": rerun["wall_s"] / rerun["first_build_wall_s"],
        }
    return out


def _median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _progress(run: dict[str, Any]) -> str:
    return (
        f"{run['setting']} repeat {run.get('repeat', '-')}: {run['chunks']} chunks, {run['llm_calls']} LLM calls, "
        f"build {run['wall_s']:.1f} s (extraction {run['extraction_s']:.1f} s, model load {run['model_load_s']:.1f} s), "
        f"{run['items']} items"
    )


def print_table(
    summary: dict[str, Any], model: str, machine: dict[str, Any], args: argparse.Namespace
) -> None:
    from rich.console import Console
    from rich.table import Table

    where = f"{machine['cpu_model']}, {machine['usable_cpus']} CPUs, {args.threads} threads, load at start {machine['load_average_at_start']}"
    table = Table(
        title=f"dsforge build extraction, {model} ({len(args.docs)} docs; medians of {args.repeats}; {where})"
    )
    for col in ("setting", "batch", "slots", "chunks", "LLM calls", "build s", "extract s", "docs/min", "chunks/s",
                "× chunks/s vs b4-p1", "prompt tok/s per request", "gen tok/s per request",
                "gen tok/s through build", "model busy / wall", "share of raw speed", "parse errors"):  # fmt: skip
        table.add_column(col, justify="right")
    for name, r in summary["settings"].items():
        table.add_row(
            name,
            str(r["batch_length"]),
            str(r["n_parallel"]),
            _fmt(r["chunks"]),
            _fmt(r["llm_calls"]),
            _fmt(r["wall_s"], 1),
            _fmt(r["extraction_s"], 1),
            _fmt(r["docs_per_min"], 2),
            _fmt(r["chunks_per_s"], 3),
            _fmt(r["chunks_per_s_vs_b4_p1"], 2),
            _fmt(r["prompt_tokens_per_s"], 0),
            _fmt(r["generated_tokens_per_s"], 1),
            _fmt(r["generated_tokens_per_s_through_pipeline"], 1),
            _pct(r["model_busy_share"]),
            _pct(r.get("share_of_raw_speed")),
            str(r["parse_errors"]),
        )
    raw = summary.get("raw")
    if raw:
        table.add_row("raw xllamacpp", "", "1", *[""] * 7, _fmt(raw["prompt_tokens_per_s"], 0),
                      _fmt(raw["generated_tokens_per_s"], 1), "", "", "100%", "")  # fmt: skip
    rerun = summary.get("rerun")
    if rerun:
        table.add_row(
            "rerun, unchanged",
            "",
            "",
            "",
            str(rerun["llm_calls"]),
            f"{rerun['wall_s']:.1f} ({rerun['wall_vs_first']:.1%} of first)",
            *[""] * 10,
        )
    Console(width=220).print(table)


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if digits == 0:
        return f"{value:.0f}" if isinstance(value, float) else str(value)
    return f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


if __name__ == "__main__":
    main()
