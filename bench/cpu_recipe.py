"""Training on a CPU: QLoRA vs LoRA, float32 vs bf16, padded vs packed — the same steps on the sample records.

Each variant is `dsforge train` in its own process on one exported sample dataset (the sample build's
records, auto-approved, split and exported by the real stages), with `max_steps` steps and the
configured base (the default training base unless `--base`). tokens/s is the run card's: trained
(non-padding) tokens over training seconds. The first variant is the baseline every ratio is
against; each variant runs `--repeats` times and the median is shown.

    .venv/bin/python bench/cpu_recipe.py --build samples/bench-runs/baseline   # ~12 min a repeat on 2 cores
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results  # noqa: E402

# name → train options on top of the common ones; the first is the baseline.
VARIANTS: dict[str, dict[str, Any]] = {
    "qlora-fp32-padded (the old CPU default)": {"method": "qlora", "compute_dtype": "float32", "packing": "off"},
    "lora-fp32-padded": {"method": "lora", "compute_dtype": "float32", "packing": "off"},
    "lora-bf16-padded": {"method": "lora", "compute_dtype": "bfloat16", "packing": "off"},
    "auto (lora, bf16 with AMX, packed)": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True, help="a finished sample build folder (its cache)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--base", default=None, help="train.base_model (default: dsforge's default base)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cpu-recipe-"))
    project = _exported_project(work, args.build)
    rows = []
    for name, variant in VARIANTS.items():
        runs = [_train(project, name, variant, args, i) for i in range(args.repeats)]
        rows.append({"variant": name, "runs": runs, "tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs)})
    baseline = rows[0]["tokens_per_s"]
    print(f"\n| variant | tokens/s (median of {args.repeats}) | × baseline | peak RSS GiB | method | dtype | packing |")
    print("|---|---:|---:|---:|---|---|---|")
    for row in rows:
        last = row["runs"][-1]
        print(f"| {row['variant']} | {row['tokens_per_s']:.1f} | {row['tokens_per_s'] / baseline:.2f} | "
              f"{last['peak_rss_gib']} | {last['method']} | {last['dtype']} | {last['packing']} |")  # fmt: skip
    path = write_results("cpu-recipe", {"machine": machine_info(["torch", "transformers", "peft", "trl"]),
                                        "steps": args.steps, "rows": rows})  # fmt: skip
    print(f"results: {path}")


def _exported_project(work: Path, build: Path) -> Path:
    """The samples with `build` as their output: build (cache hits), auto-approve, split, export."""
    for name in ("docs", "dsforge.yaml", "license_schema.py"):
        source = REPO / "samples" / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, work / name)
    shutil.copytree(build, work / "build", ignore=shutil.ignore_patterns("train", "eval", "review", "splits", "export"))
    for stage in (["build"], ["review", "auto"], ["split"], ["export"]):
        _dsforge([*stage, "-c", str(work / "dsforge.yaml")])
    return work


def _train(project: Path, name: str, variant: dict[str, Any], args: argparse.Namespace, repeat: int) -> dict[str, Any]:
    config = yaml.safe_load((project / "dsforge.yaml").read_text())
    config["output"] = "build"
    config["train"] = {"max_steps": args.steps, "eval_steps": 1000, **variant}
    if args.base:
        config["train"]["base_model"] = args.base
    path = project / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    shutil.rmtree(project / "build" / "train", ignore_errors=True)
    print(f"{name} (repeat {repeat + 1})", flush=True)
    _dsforge(["train", "-c", str(path), "--no-progress"])
    card = json.loads((project / "build" / "train" / "run.json").read_text())
    return {
        "tokens_per_s": card["tokens_per_second"],
        "seconds": card["train_seconds"],
        "tokens": card["train_tokens"],
        "peak_rss_gib": (card.get("peak_memory") or {}).get("peak_rss_gib"),
        "method": card["hyperparameters"]["method"],
        "dtype": card["hardware"]["compute_dtype"],
        "packing": card["memory_policy"]["packing"],
        "batch": card["memory_policy"]["batch"],
    }


def _dsforge(argv: list[str]) -> None:
    subprocess.run([str(REPO / ".venv" / "bin" / "dsforge"), *argv], check=True, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
