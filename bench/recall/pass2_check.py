"""Can the embedded model check its own second-pass items? Two item-level checks, scored against the gold.

Reads the `baseline` and `recall-pass` builds `bench/recall/run.py` left in
`choosealicense/bench-runs/`; the items only the second pass found are asked
again, one call each (cached in `bench-runs/pass2-check.sqlite`):

- `yesno`: "does this phrase state <tag>?", decoded as {"answer": "yes" | "no"};
- `tags`: "which tags does this phrase state?", decoded as a list of the schema's tags;
  the item passes when its own tag is listed.

Prints, per part of the gold (tune / held out), how many right (TP) and wrong (FP) items each
check would keep, and writes the rows to bench/results/pass2-check-<check>-<time>.json.

    .venv/bin/python bench/recall/pass2_check.py --check yesno
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import get_args

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.machine import machine_info, write_results
from builder.caching_model import CachingModel
from builder.language_model import create_language_model
from builder.llm_cache import CompletionCache
from builder.schema_loader import load_schema
from core.config import load_config

ROOT = Path(__file__).resolve().parent / "choosealicense"
RUNS = ROOT / "bench-runs"
CONTEXT = 300  # characters of the document shown on each side of the phrase

QUESTIONS = {
    "yesno": (
        'Check one tag. In the text below, this phrase was tagged "{value}":\n"{evidence}"\n\n'
        'The text around it:\n"{context}"\n\n'
        'Does that phrase state "{value}" as the list above defines it? '
        'Answer with JSON: {{"answer": "yes"}} or {{"answer": "no"}}.'
    ),
    "tags": (
        'Tag one phrase. The phrase:\n"{evidence}"\n\nThe text around it:\n"{context}"\n\n'
        "Which of the tags above does that phrase itself state? List every one it states, and none it "
        'does not. Answer with JSON: {{"tags": [...]}}.'
    ),
}


def answer_schema(check: str, values: list[str]) -> dict:
    if check == "yesno":
        answer = {"answer": {"type": "string", "enum": ["yes", "no"]}}
    else:
        answer = {"tags": {"type": "array", "items": {"type": "string", "enum": values}, "uniqueItems": True}}
    return {"type": "object", "properties": answer, "required": list(answer), "additionalProperties": False}


def passes(check: str, output: str, value: str) -> bool:
    parsed = json.loads(output)
    return parsed["answer"] == "yes" if check == "yesno" else value in parsed["tags"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", choices=sorted(QUESTIONS), default="yesno")
    args = parser.parse_args()
    config = load_config(ROOT / "dsforge-short.yaml")
    schema = load_schema(config.schema_ref, config.project_root)
    split = json.loads((ROOT / "split.json").read_text())["short"]
    gold = {
        row["document"]: set(row["labels"]["rule"])
        for row in map(json.loads, (ROOT / "labels_short.jsonl").read_text().splitlines())
    }
    documents = {row["id"]: row for row in map(json.loads, (RUNS / "recall-pass" / "documents.jsonl").open())}
    first = {json.loads(line)["id"] for line in (RUNS / "baseline" / "items.jsonl").open()}
    second = [
        item
        for item in map(json.loads, (RUNS / "recall-pass" / "items.jsonl").open())
        if item["id"] not in first
    ]

    resolved = create_language_model(config.provider, schema)
    model = CachingModel(resolved.model, CompletionCache(RUNS / "pass2-check.sqlite"), resolved.fingerprint)
    model.json_schema = answer_schema(args.check, list(get_args(schema.model_fields["rule"].annotation)))
    task = " ".join((schema.__doc__ or "").split())
    rows, started = [], time.perf_counter()
    for item in second:
        document = documents[item["span"]["doc_id"]]
        name = Path(document["source"]).name
        start, end = item["span"]["start"], item["span"]["end"]
        value = item["attributes"]["rule"]
        prompt = task + "\n\n" + QUESTIONS[args.check].format(
            value=value, evidence=item["span"]["text"],
            context=document["text"][max(0, start - CONTEXT) : end + CONTEXT],
        )  # fmt: skip
        output = next(model.infer([prompt]))[0].output
        rows.append(
            {
                "part": "held_out" if name in split["held_out"] else "tune",
                "document": name,
                "tag": value,
                "right": value in gold.get(name, set()),
                "kept": passes(args.check, output, value),
            }
        )
    seconds = round(time.perf_counter() - started, 1)
    counts = Counter(
        (r["part"], "TP" if r["right"] else "FP", "kept" if r["kept"] else "dropped") for r in rows
    )
    print(
        f"{args.check}: {model.stats.calls} new calls, {seconds} s\n"
        "| part | TP kept | TP dropped | FP kept | FP dropped |"
    )
    for part in ("tune", "held_out"):
        print(
            f"| {part} | "
            + " | ".join(str(counts[(part, k, d)]) for k in ("TP", "FP") for d in ("kept", "dropped"))
            + " |"
        )
    write_results(
        f"pass2-check-{args.check}",
        {
            "machine": machine_info(["langextract", "xllamacpp"]),
            "check": args.check,
            "calls": model.stats.calls,
            "seconds": seconds,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
