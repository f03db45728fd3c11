"""`dsforge run`: every stage in data-flow order, each one's stage function, resuming what is done."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

from core.config import DsforgeConfig
from dsforge.cli_support import ConfigOption, ProgressOption, reported_errors

console = Console(stderr=True)
NOT_YET_REVIEWED = 3  # exit code: records pushed, review not finished


def run_command(
    config: Path = ConfigOption,
    auto_accept: bool = typer.Option(
        False, "--auto-accept", help="approve every record without review (marked unreviewed in lineage)"
    ),
    wait: bool = typer.Option(
        False, "--wait", help="after pushing, poll until reviewers have decided every record"
    ),
    poll_seconds: float = typer.Option(30.0, help="seconds between review polls with --wait"),
    progress: bool = ProgressOption,
    gpus: int = typer.Option(1, min=1, help="train on N GPUs, as `dsforge train --gpus N`"),
    export: str | None = typer.Option(
        None,
        "--export",
        help="gguf: end with the adapter as a GGUF LoRA (+ Ollama Modelfile), as `dsforge export-model`",
    ),
) -> None:
    """Documents → records → review → splits → adapter → evaluation report, resuming what is done."""
    from annotate.auto import auto_approve
    from builder.engines import run_build
    from builder.export_stage import run_export
    from builder.split import run_split
    from core.config import load_config
    from core.errors import ConfigError
    from dsforge.build_commands import print_build
    from dsforge.review_commands import print_auto
    from dsforge.split_commands import print_export, print_split
    from dsforge.train_commands import print_eval, print_model_export, print_train, run_training
    from train.evaluate import evaluate
    from train.model_export import export_model

    with reported_errors():
        if export not in (None, "gguf"):
            raise ConfigError(f"--export {export!r}: the one model format is gguf.")
        cfg = load_config(config)
        print_build(run_build(cfg, show_progress=progress))
        if auto_accept or cfg.review.auto:
            print_auto(auto_approve(cfg), cfg.output_dir)
        else:
            _review(cfg, wait, poll_seconds, progress)
        print_split(run_split(cfg))
        print_export(run_export(cfg))
        card = run_training(config, cfg, gpus, progress)
        if card is not None:
            print_train(card, cfg.output_dir)
        print_eval(evaluate(cfg, show_progress=progress), cfg)
        if export == "gguf":
            print_model_export(export_model(cfg, force=True))  # the run's own adapter, re-exported each run


def _review(cfg: DsforgeConfig, wait: bool, poll_seconds: float, progress: bool) -> None:
    """Serve, push, and pull until something is approved (or, with --wait, everything is decided)."""
    from annotate.pull import pull
    from annotate.push import push
    from annotate.server.supervisor import serve
    from dsforge.review_commands import print_push, print_server

    print_server(serve(cfg.review, cfg.project_root, log=lambda m: console.print(m)))
    print_push(push(cfg, show_progress=progress))
    while True:
        report = pull(cfg)
        undecided = report["by_status"].get("unreviewed", 0)
        if report["approved"] and (not wait or undecided == 0):
            return
        unit, total = (
            ("items", report["items"]) if report.get("unit") == "item" else ("records", report["records"])
        )
        approved = report.get("approved_items", report["approved"])
        if not wait:
            console.print(
                f"{approved} of {total} {unit} approved so far; review them at "
                f"{report['server']}, then run this again (or pass --wait)."
            )
            raise typer.Exit(code=NOT_YET_REVIEWED)
        console.print(f"waiting for review: {undecided} of {total} {unit} undecided")
        time.sleep(poll_seconds)
