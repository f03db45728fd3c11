"""Extraction docs/min: the embedded llama.cpp model against the same model behind an OpenAI-compatible server.

    .venv/bin/python bench/extraction_server.py [--model smollm2-135m] [--threads 2] [--repeats 3] [--quick]

A small project (`--docs`, default the longest sample license, ms-pl.md, cut
into 300-character chunks: 13; langextract extracts one document at a time, so
a document needs 8 chunks to keep 8 requests in flight; the schema
samples/license_schema.py) is built with `builder.pipeline.build`, each build
in a fresh output folder so the completion cache hides nothing:

- embedded: `dsforge-gguf:<model>` in-process, one llama.cpp slot (the default path);
- server-cN: `openai-compat:<model>` against llama.cpp's HTTP server (xllamacpp's,
  started afresh for each build on 127.0.0.1 with N slots and the same threads, so
  neither path starts with a warm prompt cache), with `extraction.max_workers` = N
  and `batch_length` = max(N, 4), so up to N requests are in flight.

Settings take turns within each repeat, so a change in the machine's load
spreads over all of them.

Per-request figures (wall seconds, prompt tokens evaluated, tokens generated)
come from llama.cpp's timings (embedded) or the server's `usage` (server); a
GPU server's throughput is projected from them in bench/README.md. On a 2-core machine
the server's N slots share the same 2 cores as the embedded model does, so
concurrency can only overlap HTTP and prompt work, not add compute.
"""

from __future__ import annotations

import argparse
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

from bench.llama_timing import Recorder, recording
from bench.machine import load_average, machine_info, usable_cpus, write_results
from builder import model_store
from core.config import load_config
from builder.local_server import serving
from builder.pipeline import build
from builder.providers.openai_compat import OpenAICompatLanguageModel

DEFAULT_DOCS = ["ms-pl.md"]
CONCURRENCY = [1, 4, 8]
PACKAGES = ["xllamacpp", "langextract", "httpx", "pydantic"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="catalogue name or .gguf path")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads, embedded and server alike")
    parser.add_argument("--docs", nargs="+", default=DEFAULT_DOCS, help="files from samples/docs")
    parser.add_argument("--concurrency", nargs="+", type=int, default=CONCURRENCY)
    parser.add_argument("--repeats", type=int, default=3, help="builds per setting (medians)")
    parser.add_argument("--max-tokens", type=int, default=64, help="completion limit per chunk")
    parser.add_argument(
        "--chunk-chars", type=int, default=300, help="extraction.max_char_buffer (13 chunks of ms-pl.md)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: one document, 16-token outputs")
    args = parser.parse_args()
    if args.quick:
        args.docs, args.repeats, args.max_tokens, args.concurrency = ["bsd-3-clause.html"], 1, 16, [1, 4]
    machine = machine_info(PACKAGES)
    logging.getLogger("absl").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="dsforge-server-bench-"))
    runs: list[dict[str, Any]] = []
    try:
        project = make_project(work, args.docs)
        # Settings take turns within each repeat, so a change in the machine's load spreads over all.
        for repeat in range(args.repeats):
            runs.append(timed_build(project, args, "embedded", 1, None, repeat))
            print(_progress(runs[-1]), flush=True)
            for slots in args.concurrency:
                with serving(args.model, parallel=slots, threads=args.threads, n_ctx=2048) as url:
                    runs.append(timed_build(project, args, f"server-c{slots}", slots, url, repeat))
                print(_progress(runs[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarise(runs)
    machine["load_average_at_end"] = load_average()
    payload = {
        "benchmark": "extraction_server",
        "model": args.model,
        "model_provenance": model_store.model_provenance(args.model),
        "args": vars(args),
        "machine": machine,
        "summary": summary,
        "runs": runs,
    }
    path = write_results("extraction_server", payload)
    print(f"results: {path}")
    print_table(summary, args, machine)


def make_project(work: Path, docs: list[str]) -> Path:
    project = work / "project"
    (project / "docs").mkdir(parents=True)
    for name in docs:
        shutil.copy(REPO / "samples" / "docs" / name, project / "docs" / name)
    shutil.copy(REPO / "samples" / "license_schema.py", project / "license_schema.py")
    return project


def timed_build(
    project: Path, args: argparse.Namespace, setting: str, slots: int, url: str | None, repeat: int
) -> dict[str, Any]:
    """One build in a fresh output folder; docs/min over the whole build, model load included."""
    data = yaml.safe_load((REPO / "samples" / "dsforge.yaml").read_text())
    params: dict[str, Any] = {"max_tokens": args.max_tokens, "temperature": 0.0}
    if url is None:
        data["provider"] = {"model_id": f"dsforge-gguf:{args.model}",
                            "params": {**params, "n_ctx": 2048, "n_threads": args.threads, "n_parallel": 1}}  # fmt: skip
    else:
        data["provider"] = {"model_id": f"openai-compat:{args.model}", "base_url": url, "params": params}
    data["extraction"] = {**data.get("extraction", {}), "max_char_buffer": args.chunk_chars,
                          "batch_length": max(slots, 4), "max_workers": slots, "retries": 0}  # fmt: skip
    data["output"] = f"build-{setting}-{repeat}"
    config_path = project / f"dsforge-{setting}-{repeat}.yaml"
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    totals_before = dict(OpenAICompatLanguageModel.totals)
    calls_before = OpenAICompatLanguageModel.total_calls
    recorder = Recorder()
    load = load_average()
    # The embedded model loads inside each build, as in a fresh process; its calls are timed by llama.cpp.
    with recording(recorder):
        started = time.perf_counter()
        summary = build(load_config(config_path), show_progress=False)
        wall = time.perf_counter() - started
    ext = summary.report["extraction"]
    docs = summary.report["documents"]["after_cleaning"]
    if url is None:
        embedded = recorder.totals()
        requests = embedded["calls"]
        request_s = sum(call.wall_s for call in recorder.calls)
        prompt_evaluated = embedded["prompt_tokens_evaluated"]
        generated = embedded["generated_tokens"]
    else:
        totals = {k: v - totals_before[k] for k, v in OpenAICompatLanguageModel.totals.items()}
        requests = OpenAICompatLanguageModel.total_calls - calls_before
        request_s = totals["request_s"]
        prompt_evaluated = totals["prompt_tokens"] - totals["cached_prompt_tokens"]
        generated = totals["completion_tokens"]
    return {
        "setting": setting,
        "slots": slots,
        "repeat": repeat,
        "documents": docs,
        "chunks": ext["chunks"],
        "chunks_per_document": ext["chunks"] / docs,
        "llm_calls": ext["llm_calls"],
        "requests": requests,
        "failed_chunks": ext["failed_chunks"],
        "items": ext["items"],
        "wall_s": wall,
        "extraction_s": ext["seconds"],
        "docs_per_min": docs / wall * 60,
        "chunks_per_s": ext["chunks"] / ext["seconds"] if ext["seconds"] else None,
        "seconds_per_request": request_s / max(requests, 1),
        "prompt_tokens_evaluated_per_request": prompt_evaluated / max(requests, 1),
        "generated_tokens_per_request": generated / max(requests, 1),
        "load_average_at_start": load,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per setting, and each against the embedded path."""
    rows: dict[str, dict[str, Any]] = {}
    for setting in dict.fromkeys(r["setting"] for r in runs):
        mine = [r for r in runs if r["setting"] == setting]
        row = {k: statistics.median(r[k] for r in mine) for k in
               ("wall_s", "extraction_s", "docs_per_min", "chunks_per_s", "seconds_per_request",
                "prompt_tokens_evaluated_per_request", "generated_tokens_per_request")}  # fmt: skip
        row.update(slots=mine[0]["slots"], repeats=len(mine), chunks=mine[0]["chunks"],
                   llm_calls=mine[0]["llm_calls"], failed_chunks=max(r["failed_chunks"] for r in mine))  # fmt: skip
        rows[setting] = row
    base = rows.get("embedded")
    for row in rows.values():
        row["docs_per_min_vs_embedded"] = row["docs_per_min"] / base["docs_per_min"] if base else None
    return {"settings": rows}


def _progress(run: dict[str, Any]) -> str:
    return (
        f"{run['setting']} repeat {run['repeat']}: {run['documents']} docs, {run['chunks']} chunks, "
        f"{run['llm_calls']} calls, {run['wall_s']:.1f} s, {run['docs_per_min']:.2f} docs/min, "
        f"load {run['load_average_at_start']}"
    )


def print_table(summary: dict[str, Any], args: argparse.Namespace, machine: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    where = (f"{machine['cpu_model']}, {usable_cpus()} CPUs, {args.threads} llama.cpp threads, "
             f"load at start {machine['load_average_at_start']}")  # fmt: skip
    table = Table(
        title=f"extraction, {args.model} ({len(args.docs)} docs; medians of {args.repeats}; {where})"
    )
    for col in ("setting", "requests in flight", "chunks", "LLM calls", "build s", "docs/min", "× embedded",
                "chunks/s", "s per request", "prompt tok evaluated / request", "gen tok / request"):  # fmt: skip
        table.add_column(col, justify="right")
    for name, r in summary["settings"].items():
        table.add_row(name, str(r["slots"]), str(r["chunks"]), str(r["llm_calls"]), f"{r['wall_s']:.1f}",
                      f"{r['docs_per_min']:.2f}", f"{r['docs_per_min_vs_embedded']:.2f}",
                      f"{r['chunks_per_s']:.3f}", f"{r['seconds_per_request']:.2f}",
                      f"{r['prompt_tokens_evaluated_per_request']:.0f}",
                      f"{r['generated_tokens_per_request']:.0f}")  # fmt: skip
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
