"""One expert reviews a real sample build through the Argilla web UI, once per review unit.

    .venv/bin/python bench/review_ui.py [--build samples/bench-runs/baseline] [--limit 0]

A throw-away embedded server (its own home and port) gets the build pushed twice: by record
(`review.unit: record`, every template of every item) and by item (each item once, plus the
missed-items pass). A scripted reviewer (headless Chromium driving the real UI,
`tests/annotate/browser/review_queue.mjs`) walks each queue, accepting every record as it is
and, in the missed-items pass, answering "Nothing was missed". Then each unit is pulled with
one annotator configured, so the numbers are what a lone expert gets after reviewing
everything once: decisions made, seconds in the UI, records approved for training.
A scripted click is faster than reading; the decision counts are the figure that transfers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotate.pull import pull  # noqa: E402
from annotate.push import push  # noqa: E402
from annotate.server import credentials, supervisor  # noqa: E402
from core.config import load_config  # noqa: E402
from core.options.review import EmbeddedServerOptions, ReviewOptions  # noqa: E402

BROWSER = REPO / "tests" / "annotate" / "browser"
BUILD_FILES = ("documents.jsonl", "items.jsonl", "records.jsonl")


def walk_queue(url: str, password: str, dataset_id: str, answer: str, limit: int, profile: Path) -> dict:
    """The scripted reviewer: one answer and a submit per record, timed in the browser."""
    started = time.perf_counter()
    result = subprocess.run(
        ["node", "review_queue.mjs"],
        cwd=BROWSER,
        env={**os.environ, "REVIEW_URL": url, "REVIEW_USER": "annotator1", "REVIEW_PASSWORD": password,
             "REVIEW_DATASET_ID": dataset_id, "REVIEW_ANSWER": answer, "REVIEW_LIMIT": str(limit),
             "REVIEW_PROFILE": str(profile)},
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    walked = json.loads(result.stdout.strip().splitlines()[-1])
    walked["wall_s"] = round(time.perf_counter() - started, 1)
    return walked


def dataset_id(url: str, key: str, name: str) -> str:
    import httpx

    with httpx.Client(base_url=url, headers={"X-Argilla-Api-Key": key}) as http:
        return next(d["id"] for d in http.get("/api/v1/me/datasets").json()["items"] if d["name"] == name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, default=REPO / "samples" / "bench-runs" / "baseline")
    parser.add_argument("--limit", type=int, default=0, help="records per queue (0: all)")
    args = parser.parse_args()
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER, check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="dsforge-review-ui-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = {"home": str(work / "home"), "port": port}
    options = ReviewOptions(server=EmbeddedServerOptions(home=work / "home", port=port),
                            annotators=[{"username": "annotator1"}])  # fmt: skip
    supervisor.serve(options)
    results: dict = {"build": str(args.build.relative_to(REPO)) if args.build.is_relative_to(REPO) else str(args.build)}
    try:
        keys = {u.username: u for u in credentials.resolve(options, work / "home")}
        url = supervisor.read_state(work / "home").url
        owner_key = keys["dsforge"].api_key
        password = keys["annotator1"].password
        for unit in ("record", "item"):
            project = work / unit
            (project / "build").mkdir(parents=True)
            for name in BUILD_FILES:
                shutil.copy(args.build / name, project / "build" / name)
            shutil.copy(REPO / "samples" / "license_schema.py", project / "license_schema.py")
            (project / "dsforge.yaml").write_text(yaml.safe_dump({
                "schema": "license_schema.py:LicenseTerm",
                "review": {"server": server, "unit": unit, "dataset": f"ui-{unit}", "vectors": False,
                           "annotators": [{"username": "annotator1"}]},
            }))  # fmt: skip
            config = load_config(project / "dsforge.yaml")
            summary = push(config, show_progress=False)
            limit = args.limit or summary.records
            walked = [walk_queue(url, password, summary.dataset_id, "Accept", limit, work / "profile")]
            if summary.missed_dataset:
                missed = dataset_id(url, owner_key, summary.missed_dataset)
                walked.append(walk_queue(url, password, missed, "Nothing was missed", args.limit or summary.windows,
                                         work / "profile"))  # fmt: skip
            report = pull(config)
            ms = [m for w in walked for m in w["ms"]]
            results[unit] = {
                "pushed": summary.records,
                "windows": summary.windows,
                "decisions": sum(w["submitted"] for w in walked),
                "ui_s": round(sum(w["wall_s"] for w in walked), 1),
                "median_ms_per_decision": round(statistics.median(ms)) if ms else None,
                "approved_records": report["approved"],
                "approved_items": report.get("approved_items"),
            }
            print(unit, json.dumps(results[unit]), flush=True)
    finally:
        supervisor.stop(options)
    out = REPO / "bench" / "results" / f"review-ui-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    print("\n| unit | pushed | decisions | seconds in the UI | median ms / decision | approved records |")
    print("|---|---:|---:|---:|---:|---:|")
    for unit in ("record", "item"):
        r = results[unit]
        pushed = f"{r['pushed']}" + (f" + {r['windows']} texts" if r["windows"] else "")
        print(f"| {unit} | {pushed} | {r['decisions']} | {r['ui_s']} | {r['median_ms_per_decision']} | "
              f"{r['approved_records']} |")  # fmt: skip
    print(f"\n→ {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
