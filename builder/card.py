"""The dataset card (README.md, Hugging Face style), rendered from lineage.json.

The card is for people deciding whether to trust the data; every fact on it
comes from the lineage (builder.lineage), so card and lineage never disagree.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from builder.export_formats import export_formats
from core import atomic
from core.layout import PREFERENCE_FOLDER, SPLITS, ExportPaths
from core.options.export import ExportOptions

SOURCES_SHOWN = 100


def render_card(lineage: dict[str, Any], options: ExportOptions) -> str:
    """README.md: HF metadata header, then what a reader needs to judge the data."""
    from huggingface_hub import DatasetCardData

    sizes = lineage["dataset"]["sizes"]
    total = sum(sizes.values())
    header = DatasetCardData(
        pretty_name=lineage["dataset"]["name"],
        license=options.license,
        language=options.language,
        task_categories=["text-generation"],
        size_categories=[_size_category(total)],
        tags=["instruction-tuning", "dsforge", "grounded"],
        configs=[
            {
                "config_name": fmt.name,
                "default": fmt.default,
                "data_files": [
                    {"split": name, "path": f"{fmt.name}/{name}.jsonl"} for name in SPLITS if sizes.get(name)
                ],
            }
            for fmt in export_formats()
        ]
        + _preference_config(lineage),
    ).to_yaml()
    parts = [f"---\n{header}\n---", f"# {lineage['dataset']['name']}", _summary(lineage)]
    parts += [_structure(lineage), _sources(lineage), _schema(lineage), _model(lineage), _cleaning(lineage)]
    parts += [_review(lineage), _splits(lineage), _synthetic(lineage), _leakage(lineage), _limits(lineage)]
    parts.append(_lineage_note())
    return "\n\n".join(part.strip() for part in parts if part) + "\n"


def write_card(lineage: dict[str, Any], paths: ExportPaths, options: ExportOptions) -> None:
    atomic.write_json(paths.lineage, lineage)
    atomic.write_text(paths.card, render_card(lineage, options))


def _summary(lineage: dict[str, Any]) -> str:
    build = lineage["build"] or {}
    model = (
        (build.get("model") or {}).get("model_id")
        or ", ".join(lineage["record_models"])
        or "an unrecorded model"
    )
    review = lineage["review"]
    reviewed = "reviewed by people" if review["reviewed"] else "unreviewed (accepted automatically)"
    docs = sum(1 for s in lineage["sources"] if s["records"])
    total = sum(lineage["dataset"]["sizes"].values())
    return (
        f"{total} instruction records (Alpaca: instruction, input, output) drawn from {docs} source "
        "documents. "
        f"Every record's input is a verbatim span of its source document, extracted by `{model}`; "
        f"records are {reviewed}, split by document so that no document feeds two splits, and "
        "checked for duplicates across splits."
    )


def _structure(lineage: dict[str, Any]) -> str:
    sizes = lineage["dataset"]["sizes"]
    lines = ["## Dataset structure", "", "| split | records |", "|---|---|"]
    lines += [f"| {name} | {sizes.get(name, 0)} |" for name in SPLITS]
    lines += [
        "",
        "Columns of `dataset/` (`datasets.load_from_disk`): "
        + ", ".join(f"`{c}`" for c in lineage["dataset"]["columns"])
        + " (`provenance`: model, source, item id, evidence spans with character offsets, review).",
        "",
        "Files: " + ", ".join(fmt.card_line for fmt in export_formats()) + ", `lineage.json`.",
    ]
    preference = lineage.get("preference") or {}
    pairs = preference.get("pairs") or {}
    if sum(pairs.values()):
        sources = ", ".join(f"{n} from {source}s" for source, n in preference["by_source"].items())
        lines += [
            "",
            f"Preference pairs (`preference/<split>.jsonl`, config `preference`; {preference['format']}): "
            + ", ".join(f"{name} {pairs.get(name, 0)}" for name in SPLITS)
            + f" — {sources}; the reviewer's version is `chosen`, the model's original `rejected`"
            + (f"; {preference['dropped_identical']} identical pairs dropped" if preference["dropped_identical"] else "")
            + ".",
        ]
    return "\n".join(lines)


def _preference_config(lineage: dict[str, Any]) -> list[dict[str, Any]]:
    """The Hub's `preference` config, when reviewers' corrections made pairs."""
    pairs = (lineage.get("preference") or {}).get("pairs") or {}
    if not sum(pairs.values()):
        return []
    files = [
        {"split": name, "path": f"{PREFERENCE_FOLDER}/{name}.jsonl"} for name in SPLITS if pairs.get(name)
    ]
    return [{"config_name": PREFERENCE_FOLDER, "data_files": files}]


def _sources(lineage: dict[str, Any]) -> str:
    used = [s for s in lineage["sources"] if s["records"]]
    lines = [
        "## Source documents",
        "",
        f"{len(lineage['sources'])} documents after cleaning, {len(used)} of them contribute records. "
        "sha256 is of the cleaned text the spans index; all of them are in `lineage.json`.",
        "",
        "| source | title | sha256 | records |",
        "|---|---|---|---|",
    ]
    for source in used[:SOURCES_SHOWN]:
        digest = f"`{source['sha256'][:16]}…`" if source["sha256"] else "unknown"
        lines.append(
            f"| {_cell(source['source'] or source['doc_id'])} | {_cell(source['title'] or '')} "
            f"| {digest} | {source['records']} |"
        )
    if len(used) > SOURCES_SHOWN:
        lines.append(f"| … {len(used) - SOURCES_SHOWN} more in lineage.json | | | |")
    return "\n".join(lines)


def _schema(lineage: dict[str, Any]) -> str:
    schema = lineage["schema"]
    if schema is None:
        return "## Schema\n\nThe extraction schema was not given to the export."
    lines = [
        "## Schema",
        "",
        f"`{schema['name']}` extracts `{schema['extraction_class']}` items; templates: "
        + ", ".join(f"`{t}`" for t in schema["templates"])
        + f"; stratified on `{schema['stratify_by']}`.",
        "",
        "> " + schema["description"].replace("\n", " "),
        "",
        "| attribute | type | allowed |",
        "|---|---|---|",
    ]
    for name, spec in schema["attributes"].items():
        allowed = ", ".join(map(str, spec.get("enum", []))) or "free text"
        lines.append(f"| {name} | {spec.get('type', 'any')} | {_cell(allowed)} |")
    return "\n".join(lines)


def _model(lineage: dict[str, Any]) -> str:
    build = lineage["build"]
    if build is None:
        models = ", ".join(f"`{m}`" for m in lineage["record_models"]) or "none"
        return (
            "## Extraction model\n\nNo build report was found, so weights and packages are not recorded; "
            f"the records name: {models}."
        )
    model = build.get("model") or {}
    lines = ["## Extraction model", "", f"- model: `{model.get('model_id', 'unknown')}`"]
    if model.get("sha256"):
        lines.append(f"- weights sha256: `{model['sha256']}`")
    for package in model.get("packages") or []:
        lines.append(f"- package: `{package.get('name')}=={package.get('version')}`")
    for key in ("license", "source"):
        if model.get(key):
            lines.append(f"- {key}: {model[key]}")
    lines.append(f"- constrained decoding: {build.get('constrained_decoding')}")
    extraction = build.get("extraction") or {}
    if extraction:
        lines.append(
            f"- chunks {extraction.get('chunks')}, items {extraction.get('items')}, rejects "
            f"{json.dumps(extraction.get('rejects', {}), sort_keys=True)}"
        )
    return "\n".join(lines)


def _cleaning(lineage: dict[str, Any]) -> str:
    build = lineage["build"]
    if build is None:
        return ""
    lines = ["## Cleaning", ""]
    docs = build.get("documents") or {}
    if docs:
        lines.append(
            f"Documents ingested {docs.get('ingested')}, after cleaning {docs.get('after_cleaning')}."
        )
        lines.append("")
    cleaning = build.get("cleaning") or {}
    lines += ["| step | documents changed | detail |", "|---|---|---|"]
    for step in cleaning.get("steps", []):
        detail = ", ".join(
            f"{k}={v}" for k, v in step.items() if k not in {"name", "changed", "documents_changed"}
        )
        lines.append(
            f"| {step.get('name')} | {step.get('documents_changed', step.get('changed', ''))} "
            f"| {_cell(detail)} |"
        )
    dropped = Counter(d.get("reason", "?") for d in cleaning.get("dropped", []))
    if dropped:
        lines += ["", "Documents dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) + "."]
    records = build.get("records") or {}
    if records:
        lines += [
            "",
            f"Records kept {records.get('kept')}; dropped "
            + (", ".join(f"{k} {v}" for k, v in sorted((records.get("dropped") or {}).items())) or "none")
            + ".",
        ]
    return "\n".join(lines)


def _review(lineage: dict[str, Any]) -> str:
    review = lineage["review"]
    statuses = ", ".join(f"{k} {v}" for k, v in review["statuses"].items())
    if not review["reviewed"]:
        return (
            "## Review\n\nunreviewed: no person checked these records "
            f"({review['auto_accepted']} accepted automatically; statuses: {statuses})."
        )
    lines = [
        "## Review",
        "",
        f"- statuses: {statuses}",
        f"- annotators: {len(review['reviewers'])} ({', '.join(review['reviewers'])})",
        f"- mean agreement: {review['mean_agreement']}",
        f"- accepted automatically: {review['auto_accepted']}",
    ]
    report = review["report"] or {}
    for key, value in report.items():
        if key == "measured":
            continue
        if isinstance(value, (str, int, float, bool)) or value is None:
            lines.append(f"- {key}: {value}")
        else:
            lines.append(f"- {key}: `{json.dumps(value, sort_keys=True)[:300]}`")
    return "\n".join(lines + _measured(report.get("measured")))


def _measured(measured: dict[str, Any] | None) -> list[str]:
    """The extractor as reviewers measured it: precision of what it found, share of what it missed."""
    if not measured:
        return []
    def rate(value: float | None, interval: list[float] | None) -> str:
        if value is None:
            return "—"
        return f"{value:.2f} ({interval[0]:.2f}–{interval[1]:.2f})" if interval else f"{value:.2f}"

    lines = [
        "",
        "### The extractor, as reviewers measured it",
        "",
        f"Precision: the model's items reviewers accepted or corrected ÷ those they judged. Miss rate: items "
        f"reviewers added ÷ (correct model items + added), over the {measured['checked_documents']} document(s) "
        "checked for misses. 95 % Wilson intervals.",
        "",
        f"| {measured['label']} | accepted | corrected | rejected | added by reviewers | precision | miss rate |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for label, r in [*measured["by_value"].items(), ("**all**", measured["overall"])]:
        lines.append(
            f"| {label} | {r['accepted']} | {r['corrected']} | {r['rejected']} | {r['added']} | "
            f"{rate(r['precision'], r['precision_ci'])} | {rate(r['miss_rate'], r['miss_rate_ci'])} |"
        )
    return lines


def _splits(lineage: dict[str, Any]) -> str:
    split = lineage["split"]
    strata = sorted({s for counts in split["strata"].values() for s in counts})
    total = sum(split["sizes"].values()) or 1
    lines = [
        "## Splits",
        "",
        f"Grouped by `{split['group_by']}`, stratified on `{split['stratify_by']}`, seed {split['seed']}: "
        f"{split['method']}.",
        "",
        "| split | target | achieved | records | " + " | ".join(strata) + " |",
        "|---|---|---|---|" + "---|" * len(strata),
    ]
    for name in SPLITS:
        size = split["sizes"].get(name, 0)
        counts = split["strata"].get(name, {})
        cells = [f"{counts.get(s, 0)} ({counts.get(s, 0) / size:.0%})" if size else "0" for s in strata]
        lines.append(
            f"| {name} | {split['ratios'].get(name, 0):g} | {size / total:.3f} | {size} | "
            + " | ".join(cells)
            + " |"
        )
    if split["notes"]:
        lines += ["", *[f"- {_cell(note)}" for note in split["notes"]]]
    return "\n".join(lines)


def _synthetic(lineage: dict[str, Any]) -> str:
    """Synthetic Q&A records apart: their share of each split and the model that wrote them."""
    block = lineage.get("synthetic")
    if not block:
        return ""
    lines = [
        "## Synthetic records",
        "",
        f"{block['records']} records are question/answer pairs a model wrote from the documents "
        f"({', '.join(f'`{g}`' for g in block['generators'])}), each answer's evidence re-checked as the "
        "document's own text (`meta.synthetic: true`, the span in `spans`). Their share of each split:",
        "",
        "| split | synthetic records | share |",
        "|---|---|---|",
        *[f"| {name} | {part['records']} | {part['share']:.1%} |" for name, part in block["per_split"].items()],
    ]
    return "\n".join(lines)


def _leakage(lineage: dict[str, Any]) -> str:
    leak = lineage["leakage"]
    thresholds = leak.get("thresholds", {})
    repair = leak.get("repair", {})
    before, after = leak.get("before", {}), leak.get("after", {})
    kinds = [k for k in before if k != "total"]
    lines = [
        "## Leakage check",
        "",
        f"Pairs of records in different splits compared on {leak.get('compared_on')}: exact, MinHash "
        f"Jaccard ≥ {thresholds.get('near_jaccard')}"
        + (f", MiniLM cosine ≥ {thresholds['semantic_cosine']}" if thresholds.get("semantic_cosine") else "")
        + ".",
        "",
        "| check | " + " | ".join(kinds) + " | total |",
        "|---|" + "---|" * (len(kinds) + 1),
        "| before repair | "
        + " | ".join(str(before.get(k, 0)) for k in kinds)
        + f" | {before.get('total', 0)} |",
        "| after repair | "
        + " | ".join(str(after.get(k, 0)) for k in kinds)
        + f" | {after.get('total', 0)} |",
        "",
        f"Repair ({repair.get('action')}): {repair.get('moved_records', 0)} records moved "
        f"({len(repair.get('moved_documents', []))} documents), "
        f"{len(repair.get('dropped_records', []))} dropped.",
    ]
    return "\n".join(lines)


def _limits(lineage: dict[str, Any]) -> str:
    limits = []
    review = lineage["review"]
    total = sum(lineage["dataset"]["sizes"].values())
    if not review["reviewed"]:
        limits.append("No person reviewed the records: extraction errors (wrong label, weak summary) remain.")
    elif review["auto_accepted"]:
        limits.append(f"{review['auto_accepted']} of {total} records were accepted without a person looking.")
    model = ((lineage["build"] or {}).get("model") or {}).get("model_id")
    if model:
        limits.append(
            f"Outputs are what `{model}` wrote about each span; spans are verbatim, summaries are not."
        )
    thresholds = lineage["leakage"].get("thresholds", {})
    if not thresholds.get("semantic_cosine"):
        limits.append(
            "Paraphrases were not checked for leakage (semantic check off); only copies and near copies "
            f"(Jaccard ≥ {thresholds.get('near_jaccard')}) were."
        )
    limits += [
        note for note in lineage["split"]["notes"] if note.startswith("stratum") or "not stratified" in note
    ]
    limits.append(
        "Splits keep documents apart, not topics: different documents about the same subject can sit "
        "in train and test."
    )
    return "## Known limits\n\n" + "\n".join(f"- {_cell(limit)}" for limit in limits)


def _lineage_note() -> str:
    return (
        "## Lineage\n\n`lineage.json` holds the full record: every source document with its sha256, the "
        "build report's model provenance and counts, review statistics, the split manifest's hash, the "
        "leakage result and the sha256 of every exported file."
    )


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if n < limit:
            return name
    return "1M<n<10M"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
