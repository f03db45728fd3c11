"""Requests in flight across documents: dsforge's orchestration against a load-simulating server.

    .venv/bin/python bench/extraction_window.py [--latency-s 1.0] [--repeats 3] [--profile]

The server (bench/load_server.py, its own process) answers after `--latency-s` with at most
`slots` requests served at once, so the ideal rate is slots ÷ latency requests per second. Many
one-chunk documents (sample license paragraphs, each made distinct) are extracted with
`builder.extract.extract_documents` through the `openai-compat` provider, a fresh completion cache
per run, the sample schema:

- window-W: `extraction.max_workers` = W = slots, every chunk of every document one request of one
  window (the path a build takes);
- one-document-at-a-time: the same documents handed over one by one, as the build did before the
  window (a document's own chunks were all that could be in flight), with W = 64 slots free.

Achieved ÷ ideal requests/s is the figure of merit; client CPU ms per request is this process's CPU
time (the server runs apart); `--profile` adds where the client's time goes at 64 in flight.
Medians of `--repeats`; settings take turns within a repeat.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import load_average, machine_info, usable_cpus, write_results  # noqa: E402


def documents(count: int) -> list[Any]:
    """`count` one-chunk documents: sample paragraphs of 120–900 characters, numbered to be distinct."""
    from schemas.types import Document

    paragraphs = []
    for path in sorted((REPO / "samples" / "docs").glob("*.txt")):
        paragraphs += [
            p.strip() for p in path.read_text("utf-8").split("\n\n") if 120 <= len(p.strip()) <= 900
        ]
    texts = [f"{paragraphs[i % len(paragraphs)]}\n\nClause set {i}." for i in range(count)]
    return [
        Document(id=Document.make_id(t), source=f"doc-{i}.txt", mime="text/plain", text=t)
        for i, t in enumerate(texts)
    ]


def run(setting: str, slots: int, count: int, latency_s: float, profile: bool = False,
        window: int | None = None, refuse_retry_after: float | None = None) -> dict[str, Any]:
    """`window` requests in flight (default: `slots`); `refuse_retry_after`: the server answers 429 past its
    slots instead of queueing. A setting ending in `-fixed` keeps the window whatever the server answers."""
    from builder.caching_model import CachingModel
    from builder.extract import extract_documents
    from builder.language_model import create_language_model
    from builder.local_server import free_port
    from builder.llm_cache import CompletionCache
    from builder.schema_loader import load_schema
    from core.config import ProviderConfig
    from core.options.extraction import ExtractionOptions

    schema = load_schema("samples/license_schema.py:LicenseTerm", REPO)
    docs = documents(count)
    port = free_port()
    window = window or slots
    refusing = [] if refuse_retry_after is None else ["--refuse-retry-after", str(refuse_retry_after)]
    server = subprocess.Popen([sys.executable, "-m", "bench.load_server", "--port", str(port),
                               "--latency-s", str(latency_s), "--slots", str(slots), *refusing], cwd=REPO)  # fmt: skip
    try:
        _wait_for(port)
        provider = ProviderConfig(model_id="openai-compat:load-simulator", base_url=f"http://127.0.0.1:{port}/v1",
                                  params={"max_tokens": 256, "temperature": 0.0, "timeout": 600})  # fmt: skip
        resolved = create_language_model(provider, schema)
        if setting.endswith("-fixed"):  # the baseline: every refused request sent again at the window's size
            resolved.model.concurrency.busy = lambda *_: None
        options = ExtractionOptions(max_char_buffer=1200, batch_length=4, max_workers=window, retries=0)
        with tempfile.TemporaryDirectory() as tmp:
            cache = CompletionCache(Path(tmp) / "cache.sqlite")
            model = CachingModel(resolved.model, cache, fingerprint={"model_id": setting}, retries=0)
            profilers = _profile_every_thread() if profile else None
            cpu, wall = time.process_time(), time.perf_counter()
            if setting == "one-document-at-a-time":
                chunks = sum(extract_documents([d], schema, model, options, "load").chunks for d in docs)
            else:
                chunks = extract_documents(docs, schema, model, options, "load").chunks
            if profilers is not None:
                threading.setprofile(None)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            cache.close()
    finally:
        server.terminate()
        server.wait()
    achieved = chunks / wall
    ideal = slots / latency_s
    result = {"setting": setting, "slots": slots, "documents": count, "requests": chunks, "wall_s": round(wall, 2),
              "requests_per_s": round(achieved, 2), "ideal_requests_per_s": ideal,
              "of_ideal": round(achieved / ideal, 3), "client_cpu_ms_per_request": round(1000 * cpu / chunks, 2),
              "failures": model.stats.failures, "peak_in_flight_client": resolved.model.peak_in_flight,
              "window": window, "busy_answers": resolved.model.busy_answers,
              "answered_of_ideal": round((chunks - model.stats.failures) / wall / ideal, 3),
              "lowest_concurrency": resolved.model.concurrency.lowest}  # fmt: skip
    if profilers is not None:
        result["profile"] = _where_time_goes(profilers)
    return result


def _profile_every_thread() -> list[cProfile.Profile]:
    """A cProfile per thread started from now on (the window's and the documents' threads)."""
    profilers: list[cProfile.Profile] = []

    def start(*_: Any) -> None:
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()  # replaces this hook for the rest of the thread

    threading.setprofile(start)
    return profilers


def _wait_for(port: int) -> None:
    import httpx

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the load server did not start")


_GROUPS = {
    "langextract: prompting, chunking": (
        "langextract/prompting",
        "langextract/chunking",
        "langextract/annotation",
    ),
    "langextract: parsing + alignment": ("langextract/resolver", "langextract/core/format_handler"),
    "dsforge: grounding + validation": ("builder/grounding", "builder/extract", "schemas/"),
    "dsforge: cache": ("builder/llm_cache", "sqlite3"),
    "HTTP client (httpx, json)": ("httpx", "httpcore", "h11", "json/"),
    "waiting (locks, sleeps, sockets)": (
        "threading",
        "concurrent/futures",
        "acquire",
        "sleep",
        "'poll'",
        "'select'",
        "recv",
        "sendall",
        "'connect'",
        "_queue",
    ),
}


def _where_time_goes(profilers: list[cProfile.Profile]) -> dict[str, float]:
    """Own time (tottime) by group of modules, seconds, summed over the profiled threads."""
    stats = pstats.Stats(*profilers).stats  # type: ignore[attr-defined]
    groups = dict.fromkeys([*_GROUPS, "other"], 0.0)
    others: dict[str, float] = {}
    for (filename, _, name), (_, _, tottime, _, _) in stats.items():
        where = f"{filename} {name}"
        group = next((g for g, keys in _GROUPS.items() if any(k in where for k in keys)), "other")
        groups[group] += tottime
        if group == "other":
            others[where] = others.get(where, 0.0) + tottime
    top = sorted(others.items(), key=lambda kv: -kv[1])[:8]
    return {**{k: round(v, 3) for k, v in groups.items()}, "top_other": {k: round(v, 3) for k, v in top}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-s", type=float, default=1.0)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slots", default="1,8,64,256")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--refusing", action="store_true",
                        help="instead: a server of 8 slots that answers 429 past them (Retry-After 1 s), a window "
                        "of 64, with and without the adaptive limit")
    args = parser.parse_args()
    if args.refusing:
        refusing(args)
        return
    machine = machine_info(["langextract", "httpx"])
    settings = []
    for slots in (int(s) for s in args.slots.split(",")):
        # Enough documents for ~25 ideal seconds, at most --documents (2 000 at 64 and 256 in flight).
        settings.append(
            (f"window-{slots}", slots, min(args.documents, max(25, int(25 * slots / args.latency_s))))
        )
    settings.append(("one-document-at-a-time", 64, 64))
    runs = []
    for repeat in range(args.repeats):
        for setting, slots, count in settings:
            runs.append({**run(setting, slots, count, args.latency_s), "repeat": repeat})
            print(runs[-1], flush=True)
    profile = run("window-64", 64, args.documents, args.latency_s, profile=True) if args.profile else None
    summary = {}
    for setting, slots, count in settings:
        mine = [r for r in runs if r["setting"] == setting]
        summary[setting] = {"slots": slots, "documents": count,
                            **{k: statistics.median(r[k] for r in mine) for k in
                               ("wall_s", "requests_per_s", "of_ideal", "client_cpu_ms_per_request")},
                            "ideal_requests_per_s": slots / args.latency_s,
                            "peak_in_flight_client": max(r["peak_in_flight_client"] for r in mine),
                            "failures": sum(r["failures"] for r in mine)}  # fmt: skip
    payload = {"machine": machine, "latency_s": args.latency_s, "repeats": args.repeats, "runs": runs,
               "summary": summary, "profile": profile, "load_average_at_end": load_average()}  # fmt: skip
    print(f"results: {write_results('extraction_window', payload)}")
    print(
        f"\nlatency {args.latency_s} s; medians of {args.repeats}; {machine['cpu_model']}, {usable_cpus()} CPUs\n"
    )
    print(
        "| setting | slots | documents | requests/s | ideal | of ideal | client CPU ms / request | peak in flight |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in summary.items():
        print(f"| {name} | {r['slots']} | {r['documents']} | {r['requests_per_s']:.1f} | {r['ideal_requests_per_s']:.0f} "
              f"| {r['of_ideal']:.2f} | {r['client_cpu_ms_per_request']:.1f} | {r['peak_in_flight_client']} |")  # fmt: skip
    if profile:
        print("\nwhere the client's time goes at 64 in flight (own seconds, summed over its threads):\n")
        print("| group | seconds |\n|---|---:|")
        for group, seconds in profile["profile"].items():
            if group != "top_other":
                print(f"| {group} | {seconds:.2f} |")
        print("largest of 'other':", profile["profile"]["top_other"])


def refusing(args: argparse.Namespace) -> None:
    """A window larger than a refusing server's slots: the adaptive limit against a fixed window."""
    slots, window, count = 8, 64, 200
    runs = []
    for repeat in range(args.repeats):
        for setting in ("refusing-adaptive", "refusing-fixed"):
            row = run(setting, slots, count, args.latency_s, window=window, refuse_retry_after=1.0)
            runs.append({**row, "repeat": repeat})
            print(runs[-1], flush=True)
    summary = {}
    for setting in ("refusing-adaptive", "refusing-fixed"):
        mine = [r for r in runs if r["setting"] == setting]
        summary[setting] = {k: statistics.median(r[k] for r in mine) for k in
                            ("wall_s", "answered_of_ideal", "client_cpu_ms_per_request", "busy_answers",
                             "failures")}  # fmt: skip
        summary[setting]["lowest_concurrency"] = [r["lowest_concurrency"] for r in mine]
    payload = {"machine": machine_info(["httpx"]), "latency_s": args.latency_s, "repeats": args.repeats,
               "slots": slots, "window": window, "runs": runs, "summary": summary}  # fmt: skip
    print(f"results: {write_results('extraction_refusing', payload)}")
    print(f"\n{slots} slots refusing past them (429, Retry-After 1 s), window {window}, {count} documents, "
          f"latency {args.latency_s} s; medians of {args.repeats}\n")
    print("| setting | answered chunks/s of ideal | busy answers | failed chunks | lowest concurrency |")
    print("|---|---:|---:|---:|---|")
    for name, r in summary.items():
        print(f"| {name} | {r['answered_of_ideal']:.2f} | {r['busy_answers']:.0f} | "
              f"{r['failures']:.0f} | {r['lowest_concurrency']} |")


if __name__ == "__main__":
    main()
