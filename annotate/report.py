"""The review report, as JSON for lineage and Markdown for people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotate import item_report
from core import atomic


def write_review_report(report: dict[str, Any], json_path: Path, md_path: Path) -> None:
    atomic.write_json(json_path, report)
    atomic.write_text(md_path, render_markdown(report))


def render_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Review report: {report.get('dataset', '')}", ""]
    if report.get("unreviewed_training_data"):
        lines += ["**Auto mode: nobody reviewed these records. They are marked `auto` in every row.**", ""]
    if report.get("unit") == "item":
        lines += [
            f"- mode: {report['mode']}, one review per item ({report['items']} items)",
            f"- items approved: {report.get('approved_items', 0)}; records rendered from them: {report.get('approved', 0)}",
            f"- items by status: {_inline(report.get('by_status', {}))}",
        ]
    else:
        lines += [
            f"- mode: {report['mode']}",
            f"- records: {report['records']}, approved for training: {report.get('approved', 0)}",
            f"- by status: {_inline(report.get('by_status', {}))}",
        ]
    if report.get("server"):
        lines.append(f"- server: {report['server']} (workspace `{report.get('workspace')}`)")
    annotators = report.get("annotators") or {}
    if annotators:
        lines += ["", "## Annotators", "", "| annotator | submitted | draft | discarded | pending |", "|---|---|---|---|---|"]
        unit = "items" if report.get("unit") == "item" else "records"
        lines[-2] = f"| annotator | {unit} submitted | draft | discarded | pending |"
        for name, counts in annotators.items():
            lines.append(
                f"| {name} | {counts.get('submitted', 0)} | {counts.get('draft', 0)} | "
                f"{counts.get('discarded', 0)} | {counts.get('pending', 0)} |"
            )
    agreement = report.get("agreement") or {}
    if agreement:
        lines += ["", "## Agreement", "", "| question | records with ≥2 reviews | percent | Krippendorff's alpha | note |",
                  "|---|---|---|---|---|"]
        for question, value in agreement.items():
            lines.append(
                f"| {question} ({value['level']}) | {value['units']} | {_num(value['percent'])} | "
                f"{_num(value['alpha'])} | {value.get('note', '')} |"
            )
    lines += item_report.markdown(report)
    lines += judge_lines(report.get("judge"))
    synthetic = report.get("synthetic")
    if synthetic:
        lines += ["", "## Records beside the items (synthetic Q&A, knowledge-graph facts)", "",
                  f"{synthetic['records']} in `{synthetic['dataset']}`, reviewed as records: "
                  f"{_inline(synthetic['by_status'])}; {synthetic['approved']} approved."]  # fmt: skip
    problems = report.get("added_problems") or []
    if problems:
        lines += ["", "## Added spans kept out", "", "| record | reviewer | problem |", "|---|---|---|"]
        lines += [f"| `{p['record']}` | {p.get('reviewer', '')} | {p['problem']} |" for p in problems[:200]]
    gate = report.get("gate") or {}
    if gate:
        lines += [
            "",
            "## Gate",
            "",
            f"- rule: at least {gate.get('min_submitted')} submitted review(s), {gate.get('agreement')} decision"
            + (f", alpha ≥ {gate['min_alpha']}" if gate.get("min_alpha") is not None else ""),
            f"- held back: {gate.get('held_back', 0)} ({_inline(gate.get('held_back_reasons', {}))})",
            *([f"- why: {gate['why']}"] if gate.get("why") else []),
        ]
        if gate.get("closed"):
            lines.append(f"- **gate closed:** {gate['closed']}")
        decisions = gate.get("decisions", [])
        if decisions:
            unit = "item" if report.get("unit") == "item" else "record"
            lines += ["", f"| {unit} | status | why held back |", "|---|---|---|"]
            for row in decisions[:200]:
                lines.append(f"| `{row['id']}` | {row['status']} | {'; '.join(row['reasons'])} |")
            if len(decisions) > 200:
                lines.append(f"| … | | {len(decisions) - 200} more in review_report.json |")
    return "\n".join(lines) + "\n"


def judge_lines(judge: dict[str, Any] | None) -> list[str]:
    """How the judge's doubts matched the reviewers' decisions (annotate/judge_agreement.py)."""
    if not judge:
        return []
    lines = ["", "## The judge against the reviewers", "", judge["verdict_line"], "",
             "| measure | value | 95 % interval | counts |", "|---|---|---|---|"]  # fmt: skip
    interval = judge["kappa_interval"]
    lines.append(f"| Cohen's κ (doubtful vs rejected) | {_num(judge['kappa'])} | "
                 f"{'—' if not interval else f'{interval[0]:.3f}–{interval[1]:.3f}'} | {judge['items']} items |")  # fmt: skip
    rows = [("catch precision (rejected ÷ doubted)", judge["catch_precision"]),
            ("catch recall (doubted ÷ rejected)", judge["catch_recall"]),
            *[(f"{name}: judge's support agrees with the reviewers' keeping it", share)
              for name, share in judge["values"].items()]]  # fmt: skip
    for name, share in rows:
        low_high = share["interval"]
        lines.append(f"| {name} | {_num(share['value'])} | "
                     f"{'—' if not low_high else f'{low_high[0]:.3f}–{low_high[1]:.3f}'} | {share['hits']} of {share['n']} |")  # fmt: skip
    return lines


def _inline(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
