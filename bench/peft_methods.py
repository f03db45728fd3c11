"""The fine-tuning methods side by side, and the forgetting remedies, on the sample license data (CPU).

Each run is its own process (so peak RSS is that run's), on the same exported dataset:
the sample license texts turned into records by tests/builder/license_records.py and
split + exported by the real stages. Every method trains the same number of steps at
its own default learning rate, then `dsforge eval` scores it against the base. The
forgetting comparison trains LoRA at a learning rate high enough for forgetting to show,
with neither remedy, with `train.replay`, with `train.kl_to_base`, and with both, once per
seed, and reads the forgetting probe and the task scores of each.

    .venv/bin/python bench/peft_methods.py                  # ~30 min on 2 busy cores
    .venv/bin/python bench/peft_methods.py --methods "" --seeds 1,2,3   # the forgetting comparison alone
    .venv/bin/python bench/peft_methods.py --steps 2 --methods lora,prompt --no-forgetting  # plumbing
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
    parser.add_argument("--kl", type=float, default=1.0, help="train.kl_to_base of the KL arms")
    parser.add_argument("--forgetting-steps", "--replay-steps", type=int, default=20)
    parser.add_argument("--forgetting-lr", "--replay-lr", type=float, default=1e-3)
    parser.add_argument("--seeds", default="1", help="seeds of the forgetting comparison, comma-separated")
    parser.add_argument("--no-forgetting", "--no-replay-pair", action="store_true")
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
    arms: dict[str, Any] = {}
    if not args.no_forgetting:
        base = {
            **common,
            "method": "lora",
            "max_steps": args.forgetting_steps,
            "learning_rate": args.forgetting_lr,
        }
        base["eval_steps"] = args.forgetting_steps
        remedies = {"neither": {}, "replay": {"replay": args.replay}, "kl": {"kl_to_base": args.kl},
                    "both": {"replay": args.replay, "kl_to_base": args.kl}}  # fmt: skip
        for seed in [int(s) for s in args.seeds.split(",") if s]:
            for arm, remedy in remedies.items():
                name = f"{arm}-s{seed}"
                arms[name] = child(
                    work / f"forget-{name}", args.docs, {**base, **remedy, "seed": seed}, eval_
                )
                print(f"{name}: {arms[name]['train_seconds']} s", file=sys.stderr)
    settings = {"common": common, "steps": args.steps, "eval": eval_, "docs": args.docs, "threads": THREADS}
    settings["forgetting"] = {
        "replay": args.replay,
        "kl_to_base": args.kl,
        "steps": args.forgetting_steps,
        "learning_rate": args.forgetting_lr,
        "seeds": args.seeds,
    }
    report(settings, runs, arms)


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
        "kl_to_base": card.hyperparameters.kl_to_base,
        "seed": card.hyperparameters.seed,
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


def report(settings: dict[str, Any], runs: dict[str, Any], arms: dict[str, Any]) -> None:
    """Print the tables and write the results JSON: one format for a whole run and a collected one."""
    if runs:
        print(table(runs))
    if arms:
        print(forgetting_table(arms))
    path = write_results(
        "peft_methods",
        {"settings": settings, "methods": runs, "forgetting": arms, "machine": machine_info(PACKAGES)},
    )
    print(f"results: {path}")


def collect(work: Path) -> None:
    """The tables and results JSON from whichever runs of `work` finished (an interrupted run's)."""
    done = [f for f in sorted(work.iterdir()) if (f / "build" / "eval" / "metrics.json").is_file()]
    runs = {f.name: summary(f) for f in done if not f.name.startswith("forget-")}
    arms = {f.name.removeprefix("forget-"): summary(f) for f in done if f.name.startswith("forget-")}
    settings = {"collected_from": str(work), "finished": [f.name for f in done]}
    for f in done:
        config = yaml.safe_load((f / "dsforge.yaml").read_text("utf-8"))
        settings[f.name] = {"train": config["train"], "eval": config["eval"]}
    report(settings, runs, arms)


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


def forgetting_table(arms: dict[str, dict[str, Any]]) -> str:
    """One row per remedy: probe perplexity rise and task scores, medians over seeds, and each seed's rise."""
    import statistics

    by_arm: dict[str, list[dict[str, Any]]] = {}
    for name, r in arms.items():
        by_arm.setdefault(name.rsplit("-s", 1)[0], []).append(r)
    lines = [
        "| remedy | replay records | kl_to_base | seeds | probe ppl base | tuned (median) | forgetting (median) "
        "| per seed | test ref. perplexity (median) | ROUGE-L (median) | train s (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for arm, rs in by_arm.items():
        rises = [r["forgetting"]["change"] for r in rs]
        lines.append(
            f"| {arm} | {(rs[0]['replay'] or {}).get('records', 0)} | {rs[0].get('kl_to_base') or 0:g} | {len(rs)} | "
            f"{_f(rs[0]['base']['probe_perplexity'], 2)} | "
            f"{_f(statistics.median(r['tuned']['probe_perplexity'] for r in rs), 2)} | "
            f"{statistics.median(rises):+.2%} | {' / '.join(f'{x:+.1%}' for x in rises)} | "
            f"{_f(statistics.median(r['tuned']['perplexity'] for r in rs), 2)} | "
            f"{_f(statistics.median(r['tuned']['rouge_l'] for r in rs))} | "
            f"{statistics.median(r['train_seconds'] for r in rs):.0f} |"
        )
    return "\n".join(lines)


def _f(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


if __name__ == "__main__":
    main()
