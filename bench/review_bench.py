"""Review-stage numbers: server cold start, push/pull records/s, queue and search latency.

    .venv/bin/python bench/review_bench.py --sizes 1000 20000

Runs a throw-away embedded server (its own home and port) on synthetic
records shaped like the sample build's (real schema, templates and evidence
spans, varied text), so the numbers measure dsforge and the SQL search
plugin, not the extraction model. Vectors are off (MiniLM time is reported
separately, per record); a tenth of the records get two reviews so pull has
responses to decide.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotate.pull import pull  # noqa: E402
from annotate.push import push  # noqa: E402
from annotate.server import credentials, supervisor  # noqa: E402
from builder.schema_loader import load_schema  # noqa: E402
from core import atomic  # noqa: E402
from core.config import load_config  # noqa: E402
from core.options.review import EmbeddedServerOptions, ReviewOptions  # noqa: E402
from schemas.types import Record, content_id  # noqa: E402
from tests.annotate.sample_build import write_sample_build  # noqa: E402

WORDS = "licensee licensor copy modify distribute notice warranty liability patent source binary".split()


def synthetic(base: list[Record], n: int, seed: int = 0) -> list[Record]:
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        record = base[index % len(base)]
        extra = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        output = f"{record.output} ({extra}, variant {index})" if record.template != "classify_clause" else record.output
        instruction = f"{record.instruction} [{index}]"
        rows.append(
            record.model_copy(update={
                "id": content_id(instruction, record.input, output, prefix="rec-"),
                "instruction": instruction,
                "output": output,
            })
        )
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed_searches(http: httpx.Client, path: str, body: dict, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = http.post(path, json=body, params={"limit": 10})
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--repush-max", type=int, default=1000, help="re-push (update) only up to this size")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dsforge-review-bench-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ReviewOptions(server=EmbeddedServerOptions(home=work / "home", port=port))
    results: dict = {}
    started = time.perf_counter()
    supervisor.serve(options)
    results["cold_start_s"] = round(time.perf_counter() - started, 2)
    supervisor.stop(options)
    started = time.perf_counter()
    supervisor.serve(options)
    results["warm_restart_s"] = round(time.perf_counter() - started, 2)
    try:
        schema = load_schema("samples/license_schema.py:LicenseTerm", REPO)
        for size in args.sizes:
            project = work / f"p{size}"
            base = write_sample_build(project / "build", schema)
            records = synthetic(base, size)
            atomic.write_jsonl(project / "build" / "records.jsonl", records)
            (project / "license_schema.py").write_text((REPO / "samples" / "license_schema.py").read_text())
            (project / "dsforge.yaml").write_text(yaml.safe_dump({
                "schema": "license_schema.py:LicenseTerm",
                "review": {"server": {"home": str(work / "home"), "port": port}, "dataset": f"bench-{size}",
                           "vectors": False, "batch_size": 500},
            }))
            config = load_config(project / "dsforge.yaml")
            t = time.perf_counter()
            summary = push(config, show_progress=False)
            push_s = time.perf_counter() - t
            repush_s = None
            if size <= args.repush_max:
                t = time.perf_counter()
                push(config, show_progress=False)
                repush_s = time.perf_counter() - t

            keys = {u.username: u.api_key for u in credentials.resolve(options, work / "home")}
            state = supervisor.read_state(work / "home")
            owner = httpx.Client(base_url=state.url, headers={"X-Argilla-Api-Key": keys["dsforge"]}, timeout=300)
            ids = []
            offset = 0
            while True:
                page = owner.get(f"/api/v1/datasets/{summary.dataset_id}/records",
                                 params={"offset": offset, "limit": 1000}).json()["items"]
                ids += [row["id"] for row in page]
                if len(page) < 1000:
                    break
                offset += 1000
            reviewed = ids[: max(1, len(ids) // 10)]
            for user in ("annotator1", "annotator2"):
                client = httpx.Client(base_url=state.url, headers={"X-Argilla-Api-Key": keys[user]}, timeout=300)
                for start in range(0, len(reviewed), 100):
                    items = [{"record_id": rid, "status": "submitted",
                              "values": {"decision": {"value": random.choice(["accept", "accept", "reject"])},
                                         "quality": {"value": random.randint(2, 5)}}}
                             for rid in reviewed[start:start + 100]]
                    client.post("/api/v1/me/responses/bulk", json={"items": items}).raise_for_status()
            t = time.perf_counter()
            report = pull(config)
            pull_s = time.perf_counter() - t

            annotator = httpx.Client(base_url=state.url, headers={"X-Argilla-Api-Key": keys["annotator1"]}, timeout=300)
            me_search = f"/api/v1/me/datasets/{summary.dataset_id}/records/search"
            queue = {"filters": {"and": [
                {"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]},
                {"type": "terms", "scope": {"entity": "record", "property": "status"}, "values": ["pending"]},
            ]}}
            filtered = {
                "filters": {"and": [
                    {"type": "terms", "scope": {"entity": "metadata", "metadata_property": "stratum"}, "values": ["obligation", "condition"]},
                    {"type": "range", "scope": {"entity": "metadata", "metadata_property": "length"}, "ge": 40},
                ]},
                "sort": [{"scope": {"entity": "metadata", "metadata_property": "length"}, "order": "desc"}],
            }
            text = {"query": {"text": {"q": "copyright notice"}}}
            results[str(size)] = {
                "push_records_per_s": round(size / push_s, 1),
                "repush_records_per_s": round(size / repush_s, 1) if repush_s else None,
                "pull_records_per_s": round(size / pull_s, 1),
                "pulled_with_two_reviews": report["agreement"]["decision"]["units"],
                "annotator_queue": timed_searches(annotator, me_search, queue, args.runs),
                "filtered_sorted_search": timed_searches(owner, f"/api/v1/datasets/{summary.dataset_id}/records/search", filtered, args.runs),
                "text_search": timed_searches(annotator, me_search, text, max(5, args.runs // 4)),
            }
            print(json.dumps({size: results[str(size)]}), flush=True)
    finally:
        supervisor.stop(options)
    out = REPO / "bench" / "results" / f"review-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
