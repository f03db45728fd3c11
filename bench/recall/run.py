"""Recall levers measured alone on labelled dev corpora: P / R / F1 before and after each, and their cost.

Each lever is a set of `extraction:` options applied to a corpus's own
dsforge.yaml; every lever builds into its own folder, seeded with the
baseline's completion cache so shared prompts are not asked twice (a lever
that changes no prompt — re-grounding — costs no model call at all). Scores
come from `dsforge eval-extraction`'s own code on two disjoint parts of each
gold: `tune` (used to choose defaults) and `held_out` (never used to choose).

    .venv/bin/python bench/recall/run.py choosealicense-short samples --levers baseline,no-reground,...
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results
from builder.engines import run_build
from builder.extraction_eval import evaluate_extraction
from core.config import load_config

HERE = Path(__file__).resolve().parent
RUNS = "bench-runs"  # <corpus project folder>/bench-runs/<lever>/
CORPORA: dict[str, dict[str, Any]] = {
    "samples": {
        "config": REPO / "samples" / "dsforge.yaml",
        "gold": REPO / "samples" / "gold" / "clauses.jsonl",
        "split": json.loads((REPO / "samples" / "gold" / "split.json").read_text()),
        "level": "span:overlap:kind",
    },
    "choosealicense-short": {
        "config": HERE / "choosealicense" / "dsforge-short.yaml",
        "gold": HERE / "choosealicense" / "labels_short.jsonl",
        "split": json.loads((HERE / "choosealicense" / "split.json").read_text())["short"],
        "level": "label:rule",
    },
    "choosealicense-long": {
        "config": HERE / "choosealicense" / "dsforge-long.yaml",
        "gold": HERE / "choosealicense" / "labels_long.jsonl",
        "split": json.loads((HERE / "choosealicense" / "split.json").read_text())["long"],
        "level": "label:rule",
    },
}
# Each lever alone against the baseline: one pass in 1200-character chunks (the defaults before §7's
# measurements); "before" is re-grounding off. Every lever states its chunking, whatever the defaults are.
ONE_PASS: dict[str, Any] = {"max_char_buffer": 1200, "also_chunk_at": []}
LEVERS: dict[str, dict[str, Any]] = {
    name: {**ONE_PASS, **options}
    for name, options in {
        "no-reground": {"reground": False},
        "baseline": {},
        "recall-pass": {"recall_pass": True},
        "chunk-600": {"max_char_buffer": 600},
        "chunk-2400": {"max_char_buffer": 2400},
        "chunk-600-pass2": {"max_char_buffer": 600, "recall_pass": True},
        "speculative": {},
        "chunk-600-speculative": {"max_char_buffer": 600},
        "chunk-600+1200": {"max_char_buffer": 600, "also_chunk_at": [1200]},
    }.items()
}
# Provider parameters a lever sets beside its extraction options.
PROVIDER_LEVERS: dict[str, dict[str, Any]] = {
    "speculative": {"speculative": "ngram-simple", "speculative_ngram": 4, "speculative_draft": 24},
    "chunk-600-speculative": {"speculative": "ngram-simple", "speculative_ngram": 4, "speculative_draft": 24},
}
# A lever whose passes other levers already asked starts from their caches (merged).
SEEDS = {"chunk-600-pass2": ["chunk-600"], "chunk-600+1200": ["chunk-600", "baseline"]}


def run_lever(corpus: str, lever: str) -> dict[str, Any]:
    spec = CORPORA[corpus]
    config = load_config(spec["config"])
    config.extraction = config.extraction.model_copy(update=LEVERS[lever])
    params = {**config.provider.params, **PROVIDER_LEVERS.get(lever, {})}
    config.provider = config.provider.model_copy(update={"params": params})
    # builds stay inside the corpus's project folder, as dsforge requires of every output
    config.output = Path(RUNS) / lever  # type: ignore[misc]
    cache = config.output_dir / "cache" / "completions.sqlite"
    if lever != "baseline" and not cache.exists():
        seeds = [
            config.resolve(Path(RUNS) / seed) / "cache" / "completions.sqlite"
            for seed in SEEDS.get(lever, ["baseline"])
        ]
        _merge_caches([seed for seed in seeds if seed.is_file()], cache)
    started = time.perf_counter()
    summary = run_build(config, show_progress=True)
    seconds = time.perf_counter() - started
    extraction = summary.report["extraction"]
    documents = summary.report["documents"]["after_cleaning"]
    row: dict[str, Any] = {
        "corpus": corpus,
        "lever": lever,
        "options": {**LEVERS[lever], **PROVIDER_LEVERS.get(lever, {})},
        "documents": documents,
        "prompts_per_document": round(extraction["chunks"] / max(1, documents), 2),
        "new_llm_calls": extraction["llm_calls"],
        "seconds_in_model": extraction["seconds_in_model"],
        "wall_seconds": round(seconds, 1),
        "items": extraction["items"],
        "rejects": extraction["rejects"],
    }
    for part in ("tune", "held_out"):
        gold = _subset(spec["gold"], set(spec["split"][part]))
        scored = evaluate_extraction(config, gold, config.output_dir / f"extraction_eval_{part}").scores
        row[part] = {
            name: {k: level[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1", "interval95")}
            for name, level in scored["levels"].items()
            if name.count(":") <= 1 or name == spec["level"]
        }
        row[part]["match_methods"] = scored["match_methods"]
    return row


def _merge_caches(seeds: list[Path], cache: Path) -> None:
    """One completion cache holding every seed's rows (the first seed's on a clash; keys never clash in practice)."""
    import sqlite3

    if not seeds:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(seeds[0], cache)
    with sqlite3.connect(cache) as db:
        for seed in seeds[1:]:
            db.execute("ATTACH DATABASE ? AS seed", (str(seed),))
            db.execute("INSERT OR IGNORE INTO completions SELECT * FROM seed.completions")
            db.commit()
            db.execute("DETACH DATABASE seed")


def _subset(gold: Path, sources: set[str]) -> Path:
    rows = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [r for r in rows if r.get("document", r.get("document_id")) in sources]
    handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
    handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
    handle.close()
    return Path(handle.name)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        "| corpus | lever | part | level | TP | FP | FN | P | R | F1 | prompts/doc | new calls | s in model |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        level = CORPORA[row["corpus"]]["level"]
        shown = [level] + (["label:kind"] if row["corpus"] == "samples" else [])
        for part in ("tune", "held_out"):
            for name in shown:
                s = row[part][name]
                print(
                    f"| {row['corpus']} | {row['lever']} | {part} | {name} | {s['tp']} | {s['fp']} | {s['fn']} | "
                    f"{s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {row['prompts_per_document']} | "
                    f"{row['new_llm_calls']} | {row['seconds_in_model']} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpora", nargs="+", choices=sorted(CORPORA))
    parser.add_argument(
        "--levers", default=",".join(LEVERS), help="comma-separated, from: " + ", ".join(LEVERS)
    )
    args = parser.parse_args()
    levers = [name.strip() for name in args.levers.split(",") if name.strip()]
    rows = []
    for corpus in args.corpora:
        # the baseline first: the others are seeded with its cache
        for lever in sorted(levers, key=lambda name: name != "baseline"):
            rows.append(run_lever(corpus, lever))
            print(f"done {corpus} / {lever}", flush=True)
    print_table(rows)
    path = write_results("recall", {"machine": machine_info(["langextract", "xllamacpp"]), "rows": rows})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
