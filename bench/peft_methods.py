"""The fine-tuning methods side by side, and replay on and off, on the sample license data (CPU).

Each run is its own process (so peak RSS is that run's), on the same exported dataset:
the sample license texts turned into records by tests/builder/license_records.py and
split + exported by the real stages. Every method trains the same number of steps at
its own default learning rate, then `dsforge eval` scores it against the base. The
replay pair trains LoRA twice, without and with `train.replay`, at a learning rate high
enough for forgetting to show, and the replay run's report probes both adapters.

    .venv/bin/python bench/peft_methods.py                  # ~30 min on 2 busy cores
    .venv/bin/python bench/peft_methods.py --steps 2 --methods lora,prompt --no-replay-pair  # plumbing
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results  # noqa: E402

METHODS = ("qlora", "lora", "dora", "ia3", "prefix", "prompt")
METRICS = ("rouge_l", "token_f1", "schema_valid", "perplexity", "probe_perplexity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--docs", type=int, default=30, help="sample license documents to build records from")
    parser.add_argument("--test-examples", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--replay", type=float, default=0.25)
    parser.add_argument("--replay-steps", type=int, default=20)
    parser.add_argument("--replay-lr", type=float, default=1e-3)
    parser.add_argument("--no-replay-pair", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child: run the project at this path
    parser.add_argument("--collect", type=Path, help="tabulate the finished runs of an earlier run's folder")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(Path(args.one))))
        return
    if args.collect:
        collect(args.collect)
        return

    work = Path(tempfile.mkdtemp(prefix="peft-methods-"))
    common = {
        "base_model": "smollm2-135m",
        "batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_seq_len": 192,
        "eval_steps": args.steps,  # one validation pass, at the end
        "logging_steps": 1,
        "lora_r": 8,
        "num_virtual_tokens": 16,
    }
    eval_ = {
        "max_examples": args.test_examples,
        "max_new_tokens": args.max_new_tokens,
        "batch_size": 6,
        "examples_shown": 2,
    }
    runs: dict[str, dict[str, Any]] = {}
    for method in [m for m in args.methods.split(",") if m]:  # --methods "": the replay pair only
        train = {**common, "method": method, "max_steps": args.steps}
        runs[method] = child(work / method, args.docs, train, eval_)
        print(f"{method}: {runs[method]['train_seconds']} s", file=sys.stderr)
    pair: dict[str, Any] = {}
    if not args.no_replay_pair:
        base = {**common, "method": "lora", "max_steps": args.replay_steps, "learning_rate": args.replay_lr}
        base["eval_steps"] = args.replay_steps
        pair["off"] = child(work / "replay-off", args.docs, {**base, "replay": 0.0}, eval_)
        pair["on"] = child(
            work / "replay-on",
            args.docs,
            {**base, "replay": args.replay},
            {**eval_, "probe_adapters": [str(work / "replay-off" / "build" / "train")]},
        )
    settings = {"common": common, "steps": args.steps, "eval": eval_, "docs": args.docs, "threads": THREADS}
    settings["replay_pair"] = {
        "replay": args.replay,
        "steps": args.replay_steps,
        "learning_rate": args.replay_lr,
    }
    report(settings, runs, pair)


PACKAGES = ["torch", "transformers", "peft", "trl", "bitsandbytes"]
THREADS = 1  # one torch thread per run: the 2 cores are shared, and two spinning threads run slower


def child(folder: Path, docs: int, train: dict[str, Any], eval_: dict[str, Any]) -> dict[str, Any]:
    """Write the project, then train + evaluate it in a fresh process; that process's peak RSS is the run's."""
    from builder.schema_loader import load_schema
    from tests.builder.license_records import reviewed_records
    from tests.train.train_projects import write_project

    schema = load_schema("samples/license_schema.py:LicenseTerm", REPO)
    records, _ = reviewed_records(schema, limit=docs)
    write_project(folder, records, REPO, train=train, eval_=eval_)
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(folder)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{folder.name} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_one(folder: Path) -> dict[str, Any]:
    from core.config import load_config
    from train.evaluate import evaluate
    from train.recipe import train

    config = load_config(folder / "dsforge.yaml")
    train(config, show_progress=False)
    evaluate(config, show_progress=False)
    return summary(folder)


def summary(folder: Path) -> dict[str, Any]:
    """One finished run, from its run card and eval metrics."""
    from train.run_card import read_run_card

    build = folder / "build"
    card = read_run_card(build / "train" / "run.json")
    assert card is not None
    result = json.loads((build / "eval" / "metrics.json").read_text("utf-8"))
    trainable = int(str(card.memory_policy.trainable_parameters).split()[0])
    replay = card.dataset.replay
    return {
        "method": card.hyperparameters.method,
        "learning_rate": card.hyperparameters.learning_rate,
        "replay": replay.model_dump(mode="json") if replay else None,
        "sizes": card.dataset.sizes,
        "trainable_parameters": trainable,
        "train_seconds": card.train_seconds,
        "steps": card.steps,
        "peak_rss_gib": card.peak_memory.peak_rss_gib,
        "best_eval_loss": card.best_eval_loss,
        "base": {k: result["overall"]["base"].get(k) for k in METRICS},
        "tuned": {k: result["overall"]["tuned"].get(k) for k in METRICS},
        "forgetting": result["forgetting"],
        "report": str(folder / "build" / "eval" / "report.md"),
    }


def report(settings: dict[str, Any], runs: dict[str, Any], pair: dict[str, Any]) -> None:
    """Print the tables and write the results JSON: one format for a whole run and a collected one."""
    if runs:
        print(table(runs))
    if pair:
        print(replay_table(pair))
    path = write_results(
        "peft_methods",
        {"settings": settings, "methods": runs, "replay_pair": pair, "machine": machine_info(PACKAGES)},
    )
    print(f"results: {path}")


def collect(work: Path) -> None:
    """The table and results JSON from whichever runs of `work` finished (an interrupted run's)."""
    done = [f for f in sorted(work.iterdir()) if (f / "build" / "eval" / "metrics.json").is_file()]
    runs = {f.name: summary(f) for f in done if not f.name.startswith("replay-")}
    pair = {f.name.removeprefix("replay-"): summary(f) for f in done if f.name.startswith("replay-")}
    settings = {"collected_from": str(work), "finished": [f.name for f in done]}
    for f in done:
        config = yaml.safe_load((f / "dsforge.yaml").read_text("utf-8"))
        settings[f.name] = {"train": config["train"], "eval": config["eval"]}
    report(settings, runs, pair)


def table(runs: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| method | lr | trainable params | train s | peak RSS GiB | best val loss | ROUGE-L | token F1 "
        "| schema-valid | ref. perplexity | probe perplexity (Δ vs base) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    first = next(iter(runs.values()), None)
    if first:
        b = first["base"]
        lines.append(
            f"| base (no adapter) | – | 0 | – | – | – | {_f(b['rouge_l'])} | {_f(b['token_f1'])} | "
            f"{_f(b['schema_valid'])} | {_f(b['perplexity'], 2)} | {_f(b['probe_perplexity'], 2)} |"
        )
    for name, r in runs.items():
        t = r["tuned"]
        lines.append(
            f"| {name} | {r['learning_rate']:g} | {r['trainable_parameters']:,} | {r['train_seconds']:.1f} | "
            f"{r['peak_rss_gib']:.2f} | {_f(r['best_eval_loss'])} | {_f(t['rouge_l'])} | {_f(t['token_f1'])} | "
            f"{_f(t['schema_valid'])} | {_f(t['perplexity'], 2)} | {_f(t['probe_perplexity'], 2)} "
            f"({r['forgetting']['change']:+.1%}) |"
        )
    return "\n".join(lines)


def replay_table(pair: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| LoRA run | replay records | probe perplexity base | tuned | forgetting | ROUGE-L tuned | warning |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in pair.items():
        f = r["forgetting"]
        lines.append(
            f"| replay {name} | {(r['replay'] or {}).get('records', 0)} | {_f(r['base']['probe_perplexity'], 2)} | "
            f"{_f(r['tuned']['probe_perplexity'], 2)} | {f['change']:+.2%} | {_f(r['tuned']['rouge_l'])} | "
            f"{'yes' if f['warning'] else 'no'} |"
        )
    return "\n".join(lines)


def _f(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
