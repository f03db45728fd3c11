"""Ingest, clean and dedup speed on CPU: dsforge against a plain pandas/regex cleaner, at 1×, 4×, 16×.

    .venv/bin/python bench/build_cpu.py [--base-copies 16] [--sizes 1 4 16] [--repeats 3] [--quick]

The corpus is samples/docs/ replicated with variations (bench/license_corpus.py):
1× is `--base-copies` copies of its 29 files (34 documents each), 4× and 16×
the first 4 and 16 times as many; every size holds planted exact and near
duplicates and mostly distinct documents. Written once to a temp folder.

Two measurements, each repeated and reported as medians:

- ingest: `builder.ingest.ingest_folder` over the mixed-format folder (pdf, docx,
  html, md, txt, jsonl) with the config's default IngestOptions, in total and per
  format; no baseline, since the pandas cleaner reads only text.
- clean + dedup: both sides get the same plain-text twin (one .txt per document,
  html as raw markup), read it, clean it and drop exact and near duplicates.
  dsforge is `ingest_folder` + `builder.clean.clean_documents` with the config's
  default CleanOptions (NFKC, control chars, known-tag HTML strip, whitespace,
  line unwrapping, exact dedup, MinHash-LSH near dedup at 0.85 via datasketch);
  its near-dedup share is timed again on its own (`find_near_duplicates` after a
  run without it). The baseline is bench/naive_clean.py; its O(n²) near dedup
  stops at `--near-cap-s` and is then reported as "> N s" (and skipped at larger
  sizes, which can only be slower).

Throughput is MB (10^6 bytes) of UTF-8 input text per second; "× vs baseline"
is dsforge MB/s ÷ baseline MB/s; "vs 1×" is a size's MB/s ÷ the 1× MB/s of the
same tool (1.0 = linear scaling). Kept/dropped counts of both sides are shown
next to the planted ones, so the two are seen doing the same job.
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

from bench import naive_clean
from bench.license_corpus import Corpus, corpus_of, write_pool
from bench.machine import machine_info, write_results
from builder.clean import clean_documents
from builder.clean.dedup import find_near_duplicates
from builder.ingest import ingest_folder
from core.config import DsforgeConfig
from core.options.clean import CleanOptions, NearDedupOptions
from core.options.ingest import IngestOptions

MB = 1e6
FORMATS = {
    "pdf": ["**/*.pdf"],
    "docx": ["**/*.docx"],
    "html": ["**/*.html"],
    "text": ["**/*.txt", "**/*.md", "**/*.jsonl"],
}
PACKAGES = [
    "pandas",
    "datasketch",
    "pypdf",
    "python-docx",
    "selectolax",
    "fpdf2",
    "numpy",
    "pydantic",
    "rich",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-copies", type=int, default=16, help="copies of samples/docs in the 1× corpus")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16], help="multiples of the 1× corpus")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (medians)")
    parser.add_argument(
        "--near-cap-s", type=float, default=60.0, help="stop the baseline's O(n²) near dedup here"
    )
    parser.add_argument("--work", type=Path, help="folder for the generated corpus (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated corpus")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 base copy, 1 repeat, 5 s cap")
    args = parser.parse_args()
    if args.quick:
        args.base_copies, args.repeats, args.near_cap_s = 1, 1, 5.0
    sizes = sorted(set(args.sizes))
    ingest_options, clean_options = _config_defaults()
    machine = machine_info(PACKAGES)
    work = args.work or Path(tempfile.mkdtemp(prefix="dsforge-build-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        plans = write_pool(work / "pool", args.base_copies * sizes[-1])
        print(
            f"corpus of {args.base_copies * sizes[-1]} copies written in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        runs: list[dict[str, Any]] = []
        near_capped = False
        for size in sizes:
            corpus = corpus_of(work / "pool", plans, args.base_copies * size, work / f"{size}x")
            for repeat in range(args.repeats):
                run = {"size": size, "repeat": repeat, "input": _describe(corpus)}
                run["ingest"] = measure_ingest(corpus, ingest_options)
                for name in ("dsforge", "baseline") if repeat % 2 == 0 else ("baseline", "dsforge"):
                    # Who goes first alternates, so neither always runs on a warmer machine.
                    if name == "dsforge":
                        run[name] = measure_dsforge(corpus, ingest_options, clean_options)
                    else:
                        run[name] = measure_baseline(corpus, args.near_cap_s, skip_near=near_capped)
                near_capped = near_capped or not run["baseline"]["near_finished"]
                runs.append(run)
                print(_progress(run), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summary = summarise(runs, args.near_cap_s)
    payload = {
        "benchmark": "build_cpu",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine,
        "clean_options": clean_options.model_dump(),
        "summary": summary,
        "runs": runs,
    }
    path = write_results("build_cpu", payload)
    print(f"results: {path}")
    print_tables(summary, machine, args)


def _config_defaults() -> tuple[IngestOptions, CleanOptions]:
    """The options a `dsforge build` gets when dsforge.yaml leaves ingest and clean out."""
    fields = DsforgeConfig.model_fields
    return fields["ingest"].default_factory(), fields["clean"].default_factory()  # type: ignore[misc]


def _describe(corpus: Corpus) -> dict[str, Any]:
    return {
        "copies": corpus.copies,
        "files": corpus.files,
        "file_bytes": corpus.mixed_bytes,
        "plain_docs": corpus.plain_docs,
        "plain_bytes": corpus.plain_bytes,
        "planned": dict(corpus.planned),
    }


def measure_ingest(corpus: Corpus, options: IngestOptions) -> dict[str, Any]:
    """The whole mixed folder, then each format on its own (include globs) for the breakdown."""
    out: dict[str, Any] = {}
    seconds, result = _timed(lambda: ingest_folder(corpus.mixed, options))
    out.update(
        seconds=seconds,
        documents=len(result.documents),
        text_bytes=_text_bytes(result.documents),
        files_not_ok=sum(1 for f in result.files if f.status != "ok"),
    )
    for name, include in FORMATS.items():
        only = options.model_copy(update={"include": include})
        seconds, part = _timed(lambda only=only: ingest_folder(corpus.mixed, only))
        files = [f for f in part.files if f.status == "ok"]
        out[name] = {
            "seconds": seconds,
            "files": len(files),
            "file_bytes": sum((corpus.mixed / f.path).stat().st_size for f in files),
        }
    return out


def measure_dsforge(corpus: Corpus, ingest: IngestOptions, clean: CleanOptions) -> dict[str, Any]:
    read_s, ingested = _timed(lambda: ingest_folder(corpus.plain, ingest))
    docs = ingested.documents
    clean_s, result = _timed(lambda: clean_documents(docs, clean))
    no_near = clean.model_copy(update={"dedup_near": NearDedupOptions(enabled=False)})
    text_exact_s, partial = _timed(lambda: clean_documents(docs, no_near))
    near_s, _ = _timed(lambda: find_near_duplicates(partial.documents, clean.dedup_near))
    dropped = {step.name: step.documents_dropped for step in result.steps if step.documents_dropped}
    return {
        "read_s": read_s,
        "clean_dedup_s": clean_s,
        "text_exact_s": text_exact_s,
        "near_s": near_s,
        "near_finished": True,
        "docs_in": len(docs),
        "kept": len(result.documents),
        "dropped_empty": dropped.get("min_chars", 0),
        "dropped_exact": dropped.get("dedup_exact", 0),
        "dropped_near": dropped.get("dedup_near", 0),
    }


def measure_baseline(corpus: Corpus, cap_s: float, skip_near: bool) -> dict[str, Any]:
    read_s, frame = _timed(lambda: naive_clean.read_folder(corpus.plain))
    text_exact_s, (cleaned, exact) = _timed(lambda: _clean_then_exact(frame))
    near = None if skip_near else naive_clean.near_duplicates(exact, cap_s)
    finished = bool(near and near.finished)
    return {
        "read_s": read_s,
        "text_exact_s": text_exact_s,
        "near_s": near.seconds if finished else None,
        "clean_dedup_s": text_exact_s + near.seconds if finished else None,
        "near_finished": finished,
        "near_skipped": skip_near,
        "docs_in": len(frame),
        "kept": near.keep.count(True) if finished else None,
        "dropped_empty": len(frame) - len(cleaned),
        "dropped_exact": len(cleaned) - len(exact),
        "dropped_near": near.dropped if finished else None,
    }


def _clean_then_exact(frame: Any) -> tuple[Any, Any]:
    cleaned = naive_clean.clean(frame)
    return cleaned, naive_clean.drop_exact(cleaned)


def _timed(fn: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _text_bytes(docs: list[Any]) -> int:
    return sum(len(doc.text.encode("utf-8")) for doc in docs)


def _progress(run: dict[str, Any]) -> str:
    d, b = run["dsforge"], run["baseline"]
    near = f"{b['near_s']:.2f}" if b["near_finished"] else "capped"
    return (
        f"{run['size']}x repeat {run['repeat']}: ingest {run['ingest']['seconds']:.2f} s; "
        f"dsforge clean+dedup {d['clean_dedup_s']:.2f} s (near {d['near_s']:.2f}); "
        f"baseline clean+exact {b['text_exact_s']:.2f} s, near {near}"
    )


def _median(values: list[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else statistics.median(values)  # type: ignore[type-var]


def summarise(runs: list[dict[str, Any]], cap_s: float) -> list[dict[str, Any]]:
    """Medians per size, then throughput, dsforge ÷ baseline ratios and scaling against 1×."""
    rows = []
    for size in dict.fromkeys(r["size"] for r in runs):
        mine = [r for r in runs if r["size"] == size]
        inp = mine[0]["input"]
        plain_mb = inp["plain_bytes"] / MB
        ingest = {"seconds": _median([r["ingest"]["seconds"] for r in mine])}
        ingest["file_mb_per_s"] = inp["file_bytes"] / MB / ingest["seconds"]
        ingest["text_mb_per_s"] = mine[0]["ingest"]["text_bytes"] / MB / ingest["seconds"]
        ingest["docs_per_s"] = mine[0]["ingest"]["documents"] / ingest["seconds"]
        ingest["documents"] = mine[0]["ingest"]["documents"]
        ingest["text_bytes"] = mine[0]["ingest"]["text_bytes"]
        ingest["files_not_ok"] = mine[0]["ingest"]["files_not_ok"]
        for name in FORMATS:
            seconds = _median([r["ingest"][name]["seconds"] for r in mine])
            part = mine[0]["ingest"][name]
            ingest[name] = {
                "seconds": seconds,
                "files": part["files"],
                "file_mb_per_s": part["file_bytes"] / MB / seconds,
            }
        row: dict[str, Any] = {"size": size, "input": inp, "ingest": ingest}
        for side in ("dsforge", "baseline"):
            got = [r[side] for r in mine]
            med = {
                k: _median([g[k] for g in got]) for k in ("read_s", "text_exact_s", "near_s", "clean_dedup_s")
            }
            med["near_finished"] = all(g["near_finished"] for g in got)
            for k in ("docs_in", "kept", "dropped_empty", "dropped_exact", "dropped_near"):
                med[k] = got[-1][k]
            clean_s = med["clean_dedup_s"]
            med["clean_dedup_mb_per_s"] = plain_mb / clean_s if clean_s else None
            med["text_exact_mb_per_s"] = plain_mb / med["text_exact_s"]
            total = med["read_s"] + clean_s if clean_s else None
            med["read_clean_dedup_mb_per_s"] = plain_mb / total if total else None
            if not med["near_finished"]:
                # The capped run took more than text_exact + cap seconds: an upper bound on its MB/s.
                med["clean_dedup_mb_per_s_below"] = plain_mb / (med["text_exact_s"] + cap_s)
            row[side] = med
        row["ratios"] = _ratios(row["dsforge"], row["baseline"])
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["scaling_vs_smallest"] = {
            "ingest": row["ingest"]["file_mb_per_s"] / base["ingest"]["file_mb_per_s"],
            "dsforge": _div(row["dsforge"]["clean_dedup_mb_per_s"], base["dsforge"]["clean_dedup_mb_per_s"]),
            "baseline": _div(
                row["baseline"]["clean_dedup_mb_per_s"], base["baseline"]["clean_dedup_mb_per_s"]
            ),
        }
    return rows


def _ratios(mine: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """dsforge ÷ baseline throughput; with a capped baseline, the least the ratio can be."""
    out = {
        "clean_dedup": _div(mine["clean_dedup_mb_per_s"], base["clean_dedup_mb_per_s"]),
        "text_exact": _div(mine["text_exact_mb_per_s"], base["text_exact_mb_per_s"]),
        "near": _div(base["near_s"], mine["near_s"]),
        "read": _div(base["read_s"], mine["read_s"]),
        "clean_dedup_at_least": None,
    }
    if not base["near_finished"]:
        out["clean_dedup_at_least"] = _div(mine["clean_dedup_mb_per_s"], base["clean_dedup_mb_per_s_below"])
    return out


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def print_tables(rows: list[dict[str, Any]], machine: dict[str, Any], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    where = f"{machine['cpu_model']}, {machine['usable_cpus']} CPUs, load at start {machine['load_average_at_start']}"
    ingest = Table(title=f"dsforge ingest, mixed formats (medians of {args.repeats}; {where})")
    scale = f"MB/s vs {rows[0]['size']}×"
    for col in ("size", "files", "file MB", "docs", "text MB", "s", "file MB/s", "docs/s", scale,
                "pdf s", "docx s", "html s", "txt/md/jsonl s", "files not ok"):  # fmt: skip
        ingest.add_column(col, justify="right")
    for r in rows:
        i, inp = r["ingest"], r["input"]
        ingest.add_row(
            f"{r['size']}×",
            str(inp["files"]),
            f"{inp['file_bytes'] / MB:.2f}",
            str(i["documents"]),
            f"{i['text_bytes'] / MB:.2f}",
            f"{i['seconds']:.2f}",
            f"{i['file_mb_per_s']:.2f}",
            f"{i['docs_per_s']:.0f}",
            f"{r['scaling_vs_smallest']['ingest']:.2f}",
            *(f"{i[n]['seconds']:.2f}" for n in FORMATS),
            str(i["files_not_ok"]),
        )
    console.print(ingest)

    table = Table(
        title=f"clean + dedup on the same plain text: dsforge vs pandas/regex baseline (medians of {args.repeats})"
    )
    for col in ("size", "tool", "input MB", "docs", "planned exact/near", "read s", "clean+exact s",
                "near-dup s", "clean+dedup MB/s", "× vs baseline", scale, "kept", "dropped exact",
                "dropped near"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in rows:
        inp, ratio = r["input"], r["ratios"]
        planned = f"{inp['planned'].get('exact', 0)}/{inp['planned'].get('near', 0)}"
        for side in ("dsforge", "baseline"):
            m = r[side]
            capped = not m["near_finished"]
            near = f"> {args.near_cap_s:g}" if capped else f"{m['near_s']:.2f}"
            mbps = (
                f"< {m['clean_dedup_mb_per_s_below']:.2f}" if capped else f"{m['clean_dedup_mb_per_s']:.2f}"
            )
            if side == "dsforge":
                vs = (
                    f"≥ {ratio['clean_dedup_at_least']:.1f}"
                    if ratio["clean_dedup_at_least"]
                    else _fmt(ratio["clean_dedup"], 1)
                )
            else:
                vs = "1.0"
            table.add_row(
                f"{r['size']}×" if side == "dsforge" else "",
                side,
                f"{inp['plain_bytes'] / MB:.2f}",
                str(m["docs_in"]),
                planned if side == "dsforge" else "",
                f"{m['read_s']:.2f}",
                f"{m['text_exact_s']:.2f}",
                near,
                mbps,
                vs,
                _fmt(r["scaling_vs_smallest"][side], 2),
                _fmt(m["kept"]),
                str(m["dropped_exact"]),
                _fmt(m["dropped_near"]),
            )
    console.print(table)


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
