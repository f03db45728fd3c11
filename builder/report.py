"""The build report: JSON for tools, Markdown for people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import atomic


def write_report(report: dict[str, Any], json_path: Path, md_path: Path) -> None:
    atomic.write_json(json_path, report)
    atomic.write_text(md_path, render_markdown(report))


def render_markdown(report: dict[str, Any]) -> str:
    ext = report["extraction"]
    rec = report["records"]
    docs = report["documents"]
    items = ext["items"]
    grounded_pct = 100.0 * ext["grounded_rechecked"] / items if items else 0.0
    lines = [
        "# dsforge build report",
        "",
        f"- schema: `{report['schema']}`",
        f"- model: `{report['model'].get('model_id')}`"
        + (f" (sha256 `{report['model']['sha256'][:16]}…`)" if report["model"].get("sha256") else ""),
        f"- constrained decoding: {report['constrained_decoding']}",
        f"- wall time: {report['wall_seconds']} s",
        "",
        "## Counts",
        "",
        "| stage | count |",
        "|---|---|",
        *[f"| files {status} | {count} |" for status, count in sorted(report["files"].items())],
        f"| documents ingested | {docs['ingested']} |",
        f"| documents after cleaning | {docs['after_cleaning']} |",
        f"| chunks | {ext['chunks']} |",
        f"| LLM calls | {ext['llm_calls']} |",
        f"| cache hits | {ext['cache_hits']} |",
        *([f"| prompt tokens evaluated / reused from the server's cache, a call | "
           f"{ext['tokens']['evaluated_prompt_tokens_per_call']} / "
           f"{ext['tokens']['cached_prompt_tokens_per_call']} |",
           f"| tokens generated, a call | {ext['tokens']['completion_tokens_per_call']} |"]
          if ext.get("tokens") else []),  # fmt: skip
        *([f"| busy answers (HTTP 429 / 503) waited out; the fewest requests at once they led to | "
           f"{ext['server_busy']['answers_waited_out']}; {ext['server_busy']['lowest_concurrency']} |"]
          if ext.get("server_busy") else []),  # fmt: skip
        f"| grounded items | {items} ({grounded_pct:.1f}% re-checked exact) |",
        *[f"| rejects: {reason} | {count} |" for reason, count in sorted(ext["rejects"].items())],
        f"| records kept | {rec['kept']} |",
        *[f"| records dropped: {reason} | {count} |" for reason, count in sorted(rec["dropped"].items())],
        "",
    ]
    if report["file_errors"]:
        lines += ["## Files not ingested", "", "| file | status | reason | message |", "|---|---|---|---|"]
        for entry in report["file_errors"]:
            path = str(entry["path"]).replace("\n", "\\n").replace("|", "\\|")
            message = str(entry["message"]).replace("|", "\\|")
            lines.append(f"| `{path}` | {entry['status']} | {entry['reason']} | {message} |")
        lines.append("")
    cleaning = report["cleaning"]
    lines += ["## Cleaning", "", "| step | documents changed | detail |", "|---|---|---|"]
    for step in cleaning["steps"]:
        detail = ", ".join(f"{k}={v}" for k, v in step.items() if k not in {"name", "changed", "documents_changed"})
        lines.append(f"| {step.get('name')} | {step.get('documents_changed', step.get('changed', ''))} | {detail} |")
    for drop in cleaning["dropped"]:
        lines.append(f"- dropped `{drop.get('source', drop.get('doc_id'))}`: {drop.get('reason')} {drop.get('detail', '')}")
    lines += judge_lines(report.get("judge"))
    lines += ["", "## Records by template", ""]
    lines += [f"- {name}: {count}" for name, count in sorted(rec["by_template"].items())]
    lines += ["", "## Records by stratum", ""]
    lines += [f"- {name or '(none)'}: {count}" for name, count in sorted(rec["by_stratum"].items())]
    return "\n".join(lines) + "\n"


def judge_lines(judge: dict[str, Any] | None) -> list[str]:
    """The judge's section: what it judged, how it scored, what it doubts, what (if asked) it dropped."""
    if not judge:
        return []
    lines = [
        "",
        "## Judge",
        "",
        f"`{judge['model']}` judged {judge['judged']} items ({judge['unjudged']} unjudged), "
        f"{judge['calls']} calls, {judge['cache_hits']} from the cache, "
        f"{judge.get('seconds_per_item')} s an item. Verdicts: `judge/verdicts.jsonl`; review sorts by doubt.",
        "",
        "| score | items |",
        "|---|---|",
        *[f"| {score} | {count} |" for score, count in judge["scores"].items()],
        "",
        f"- doubtful (the judge suggests rejecting): {judge['doubtful']}",
        f"- evidence not the kind of text the task asks for: {judge['wrong_kind_of_text']}",
        *[f"- values judged unsupported, {name}: {count}" for name, count in judge["unsupported_values"].items()],
        *[f"- unjudged, {why}: {count}" for why, count in judge["unjudged_reasons"].items()],
    ]
    if judge.get("reject_below"):
        lines.append(f"- dropped (score under judge.reject_below {judge['reject_below']}): {judge['dropped']}, "
                     "listed with reasons in `judge/dropped.jsonl`")  # fmt: skip
    else:
        lines.append("- dropped: none (the judge only advises; set judge.reject_below to let it drop)")
    return lines
