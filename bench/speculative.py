"""Self-speculative decoding and parallel slots on the embedded llama.cpp: the same completions, how much sooner?

    .venv/bin/python bench/speculative.py [--documents 8] [--configs none,ngram-simple:12:48,none@4,...] [--runs 1]
                                          [--requests FILE]

Records the exact chat requests (grammar included) that a real build of the first sample
documents sends (or reads them from --requests, writing them there the first time), then
replays them in one run on a fresh in-process server per configuration
(`kind:ngram:draft@slots[+norepack]`; slots: that many llama.cpp slots, the requests sent that many
at a time as the window does; norepack: llama.cpp's repacked CPU weight layouts off): seconds, generated tokens/s, drafted and accepted tokens, and how many
completions are byte-identical to the first configuration's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from builder.engines import run_build  # noqa: E402
from builder.providers import llamacpp  # noqa: E402
from core.config import load_config  # noqa: E402
from llama_timing import Recorder, recording  # noqa: E402

DEFAULT_CONFIGS = "none,ngram-simple:12:48,ngram-simple:4:24,ngram-map-k:4:24,ngram-mod:24:64"


def record_requests(documents: int) -> tuple[list[dict], Path]:
    """The requests a real build of the first `documents` sample documents makes, in order."""
    work = Path(tempfile.mkdtemp(prefix="dsforge-speculative-"))
    project = work / "project"
    shutil.copytree(REPO / "samples", project, ignore=shutil.ignore_patterns("bench-runs", "build", "gold"))
    for extra in sorted(p for p in (project / "docs").iterdir() if p.is_file() and p.name != "SOURCES.md")[documents:]:
        extra.unlink()
    config = load_config(project / "dsforge.yaml")
    recorder = Recorder(keep_requests=10**6)
    with recording(recorder):
        run_build(config, show_progress=False)
    return recorder.requests, work


def replay(requests: list[dict], spec: tuple[str, int, int], slots: int = 1, repack: bool = True) -> dict:
    model = llamacpp.LlamaCppLanguageModel(model_id="dsforge-gguf:qwen2.5-coder-1.5b")
    server = llamacpp._load_server(model.model_path, model.n_ctx, model.n_threads, slots, model.chat_template, spec,
                                   repack=repack)  # fmt: skip
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(slots) as pool:
        responses = list(pool.map(server.handle_chat_completions, requests))
    seconds = time.perf_counter() - started
    outputs = [response["choices"][0]["message"]["content"] for response in responses]
    timings = [response.get("timings") or {} for response in responses]
    del server
    generated = sum(t.get("predicted_n", 0) for t in timings)
    predicted_ms = sum(t.get("predicted_ms", 0.0) for t in timings)
    return {
        "seconds": seconds,
        "generated": generated,
        "generated_per_s": generated / predicted_ms * 1000 if predicted_ms else None,
        "drafted": sum(t.get("draft_n", 0) for t in timings),
        "accepted": sum(t.get("draft_n_accepted", 0) for t in timings),
        "outputs": outputs,
    }


def parse(text: str) -> tuple[tuple[str, int, int], int, bool]:
    """`kind:ngram:draft@slots[+norepack]` → ((kind, ngram, draft), slots, repack)."""
    text, _, flag = text.partition("+")
    text, _, slots = text.partition("@")
    kind, *numbers = text.split(":")
    ngram, draft = (int(n) for n in numbers) if numbers else (12, 48)
    return (kind, ngram, draft), int(slots or 1), flag != "norepack"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=8)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--runs", type=int, default=1, help="replays per configuration (median reported)")
    parser.add_argument("--requests", type=Path, help="recorded requests: read if present, else written there")
    parser.add_argument("--first", type=int, default=0, help="replay only the first N requests (0: all)")
    args = parser.parse_args()
    if args.requests and args.requests.exists():
        requests, work = json.loads(args.requests.read_text("utf-8")), None
    else:
        requests, work = record_requests(args.documents)
        if args.requests:
            args.requests.write_text(json.dumps(requests), "utf-8")
    requests = requests[: args.first or None]
    print(f"{len(requests)} requests recorded from {args.documents} documents", flush=True)
    rows = {}
    for text in args.configs.split(","):
        runs = [replay(requests, *parse(text)) for _ in range(args.runs)]
        rows[text] = {**runs[0], "seconds": statistics.median(r["seconds"] for r in runs)}
        print(text, round(rows[text]["seconds"], 1), flush=True)
    base = rows[args.configs.split(",")[0]]
    print("\n| speculation (kind:n:draft@slots) | s | × | generated tok/s | drafted | accepted | identical completions |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    result = {"requests": len(requests), "documents": args.documents, "runs": args.runs, "configs": {}}
    for text, row in rows.items():
        same = sum(a == b for a, b in zip(row["outputs"], base["outputs"]))
        rate = f"{row['generated_per_s']:.1f}" if row["generated_per_s"] else "—"
        print(f"| {text} | {row['seconds']:.1f} | {row['seconds'] / base['seconds']:.2f} | {rate} | "
              f"{row['drafted']} | {row['accepted']} | {same} / {len(requests)} |")
        result["configs"][text] = {k: v for k, v in row.items() if k != "outputs"} | {"identical": same}
    out = REPO / "bench" / "results" / f"speculative-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    if work:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n→ {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
