"""report.md, report.json and a plot for an extraction scored against gold."""

from __future__ import annotations

from typing import Any

from core import atomic
from core.layout import ExtractionEvalPaths
from core.plots import grouped_bars_png

SHOWN = 25  # misses and extras listed per level in report.md; report.json keeps them all


def write_extraction_report(scores: dict[str, Any], paths: ExtractionEvalPaths) -> ExtractionEvalPaths:
    """Every file written atomically; the plot shows per-value P/R of the first label level."""
    atomic.write_json(paths.json, scores)
    plotted = _plot(scores)
    if plotted is not None:
        atomic.write_bytes(paths.plot, plotted)
    atomic.write_text(paths.md, render_markdown(scores, plotted is not None))
    return paths


def render_markdown(scores: dict[str, Any], with_plot: bool = False) -> str:
    lines = [
        "# Extraction scored against gold",
        "",
        f"Gold `{scores['gold']}` ({scores['format']}), {scores['documents']} documents, "
        f"{scores['items_scored']} items scored ({scores['items_outside_gold']} in documents without gold).",
    ]
    if scores["skipped_duplicates"]:
        lines.append(
            f"Not counted (dropped by cleaning as duplicates): {', '.join(scores['skipped_duplicates'])}."
        )
    lines += [
        "",
        "| level | TP | FP | FN | precision | recall | F1 | 95 % interval (P / R / F1, documents resampled) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, level in scores["levels"].items():
        ci = level["interval95"]
        interval = " / ".join(f"{ci[k][0]:.2f}–{ci[k][1]:.2f}" for k in ("precision", "recall", "f1"))
        lines.append(
            f"| {name} | {level['tp']} | {level['fp']} | {level['fn']} | {level['precision']:.3f} | "
            f"{level['recall']:.3f} | {level['f1']:.3f} | {interval} |"
        )
    if with_plot:
        lines += ["", "![per-value precision and recall](per_value.png)"]
    for name, level in scores["levels"].items():
        if not level["per_value"]:
            continue
        lines += [
            "",
            f"## {name} per value",
            "",
            "| value | TP | FP | FN | P | R | F1 |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for value, s in level["per_value"].items():
            lines.append(
                f"| {value} | {s['tp']} | {s['fp']} | {s['fn']} | {s['precision']:.2f} | {s['recall']:.2f} | {s['f1']:.2f} |"
            )
        for kind in ("misses", "extras"):
            rows = level[kind]
            if not rows:
                continue
            lines += [
                "",
                f"{kind.capitalize()} ({len(rows)}{', first ' + str(SHOWN) if len(rows) > SHOWN else ''}):",
                "",
            ]
            for row in rows[:SHOWN]:
                quote = row.get("text") or row.get("evidence") or ""
                where = f" [{row['start']}:{row['end']}]" if "start" in row else ""
                lines.append(
                    f"- {row['document']}{where} `{row['value']}`"
                    + (f" — “{_one_line(quote)}”" if quote else "")
                )
    return "\n".join(lines) + "\n"


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _plot(scores: dict[str, Any]) -> bytes | None:
    label_levels = [level for name, level in scores["levels"].items() if name.startswith("label:")]
    if not label_levels or not label_levels[0]["per_value"]:
        return None
    per_value = label_levels[0]["per_value"]
    names = list(per_value)
    series = {metric: [per_value[n][metric] for n in names] for metric in ("precision", "recall")}
    return grouped_bars_png(names, series, "label level, per value", rotation=40)
