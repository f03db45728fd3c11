"""Thin CLI commands for the review stage; the main CLI registers them by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from dsforge.cli_support import ConfigOption, ProgressOption, reported_errors

if TYPE_CHECKING:
    from annotate.push import PushSummary
    from annotate.server.supervisor import ServeResult

console = Console(stderr=True)
out = Console()


def review_serve(config: Path = ConfigOption) -> None:
    """Start the embedded Argilla review server (or find it running) and print how to log in."""
    from annotate.server.supervisor import serve
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        result = serve(cfg.review, cfg.project_root, log=lambda m: console.print(m))
    print_server(result)


def review_stop(config: Path = ConfigOption) -> None:
    """Stop the embedded review server; its data stays for the next `serve`."""
    from annotate.server.supervisor import stop
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        stopped = stop(cfg.review, cfg.project_root)
    out.print("review server stopped" if stopped else "no review server was running")


def review_push(config: Path = ConfigOption, progress: bool = ProgressOption) -> None:
    """Send the build's records to Argilla for expert review (re-runs update, never duplicate)."""
    from annotate.push import push
    from core.config import load_config

    with reported_errors():
        summary = push(load_config(config), show_progress=progress)
    print_push(summary)


def review_pull(config: Path = ConfigOption) -> None:
    """Fetch reviews, apply corrections, and write approved.jsonl with the gate's report."""
    from annotate.pull import pull
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        report = pull(cfg)
    print_pull(report, cfg.output_dir)


def review_status(config: Path = ConfigOption) -> None:
    """Counts by status, per-annotator progress and agreement, without writing anything."""
    from annotate.pull import pull
    from core.config import load_config

    with reported_errors():
        report = pull(load_config(config), write=False)
    _print_summary(report)


def review_auto(config: Path = ConfigOption) -> None:
    """Approve every record without review (clearly marked unreviewed in lineage)."""
    from annotate.auto import auto_approve
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        report = auto_approve(cfg)
    print_auto(report, cfg.output_dir)


def print_server(result: ServeResult) -> None:
    state = result.state
    verb = "already running" if result.already_running else f"started in {state.start_seconds:.1f} s"
    out.print(f"Argilla {verb} at [bold]{state.url}[/]")
    table = Table("user", "role", "password", "API key")
    shown = "(from environment)"
    for user in result.users:
        table.add_row(
            user.username,
            user.role,
            shown if user.from_env else user.password,
            shown if user.key_from_env else user.api_key,
        )
    out.print(table)
    out.print("Stop it with `dsforge review stop`.")


def print_push(summary: PushSummary) -> None:
    what = "items" if summary.unit == "item" else "records"
    out.print(
        f"pushed {summary.records} {what} to {summary.url} ({summary.workspace}/{summary.dataset}) "
        f"in {summary.seconds:.1f} s"
    )
    if summary.missed_dataset:
        out.print(
            f"and {summary.windows} document texts to {summary.workspace}/{summary.missed_dataset}, "
            "where reviewers mark what the model missed"
        )


def print_pull(report: dict[str, Any], output: Path) -> None:
    from core.layout import ReviewPaths

    _print_summary(report)
    if report.get("unit") == "item":
        out.print(
            f"approved: {report['approved_items']} of {report['items']} items → {report['approved']} records → "
            f"{ReviewPaths(output).approved}"
        )
        _print_measured(report.get("measured") or {})
        return
    out.print(f"approved: {report['approved']} of {report['records']} → {ReviewPaths(output).approved}")


def _print_measured(measured: dict[str, Any]) -> None:
    overall = measured.get("overall")
    if not overall:
        return
    precision = "—" if overall["precision"] is None else f"{overall['precision']:.2f}"
    miss = "—" if overall["miss_rate"] is None else f"{overall['miss_rate']:.2f}"
    out.print(
        f"extractor, as reviewed: precision {precision} ({overall['accepted'] + overall['corrected']} of "
        f"{overall['accepted'] + overall['corrected'] + overall['rejected']} judged), miss rate {miss} "
        f"({overall['added']} added by reviewers, {measured['checked_documents']} documents checked)"
    )


def print_auto(report: dict[str, Any], output: Path) -> None:
    from core.layout import ReviewPaths

    console.print(
        f"[yellow]auto mode:[/] {report['records']} records approved WITHOUT review → "
        f"{ReviewPaths(output).approved}"
    )


def _print_summary(report: dict[str, Any]) -> None:
    if report.get("unit") == "item":
        out.print(f"items: {report['items']}  by status: {report['by_status']}")
    else:
        out.print(f"records: {report['records']}  by status: {report['by_status']}")
    table = Table("annotator", "submitted", "draft", "discarded", "pending")
    for name, counts in report["annotators"].items():
        table.add_row(
            name, *(str(counts.get(key, 0)) for key in ("submitted", "draft", "discarded", "pending"))
        )
    out.print(table)
    for question, value in report["agreement"].items():
        alpha = "—" if value["alpha"] is None else f"{value['alpha']:.3f}"
        percent = "—" if value["percent"] is None else f"{value['percent']:.0%}"
        out.print(f"agreement on {question}: {percent} of pairs, alpha {alpha} {value.get('note', '')}")
    gate = report["gate"]
    out.print(f"gate: {gate.get('why') or gate['held_back_reasons']}")
