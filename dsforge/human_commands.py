"""`dsforge eval --human [push|pull|status]`: the CLI side of the blind pairwise comparison."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dsforge.cli_support import reported_errors

console = Console(stderr=True)
ACTIONS = ("push", "pull", "status")


def human_eval_command(config: Path, action: str, human: bool, progress: bool) -> None:
    """push: evaluate if needed (saved answers are reused), then send the pairs to Argilla;
    pull: un-blind the choices and write them into the evaluation report; status: the same, written nowhere.
    """
    from core.config import load_config
    from core.layout import TrainPaths
    from train.human_eval import pull_human, push_human

    if action not in ACTIONS or not human:
        console.print(
            f"[bold red]error:[/] `dsforge eval` takes no argument {action!r}; "
            f"the human comparison is `dsforge eval --human [{'|'.join(ACTIONS)}]`."
        )
        raise typer.Exit(code=2)
    with reported_errors():
        cfg = load_config(config)
        if action == "push":
            from train.evaluate import evaluate

            evaluate(cfg, show_progress=progress)  # a finished evaluation is read back, not redone
            summary = push_human(cfg)
        else:
            result = pull_human(cfg, write=action == "pull")
    if action == "push":
        console.print(
            f"pushed {summary['records']} answer pairs to {summary['url']} "
            f"({summary['workspace']}/{summary['dataset']}); {summary['identical']} identical answers count "
            "as ties without review. Reviewers pick A, B or tie; then run `dsforge eval --human pull`."
        )
        return
    stats = result["summary"]
    level = f"{stats['confidence']:.0%}"
    table = Table(title=f"tuned vs base, blind ({result['dataset']})")
    for column in ("outcome", "prompts", "rate", f"{level} CI (Wilson)"):
        table.add_column(column, justify="right")
    for outcome, entry in stats["rates"].items():
        rate = "–" if entry["rate"] is None else f"{entry['rate']:.0%}"
        interval = (
            "–" if entry["interval"] is None else f"[{entry['interval'][0]:.0%}, {entry['interval'][1]:.0%}]"
        )
        table.add_row(outcome, str(entry["count"]), rate, interval)
    table.add_row("pending", str(stats["pending"]), "–", "–")
    console.print(table)
    if action == "pull":
        console.print(f"report: {TrainPaths(cfg.output_dir).report}")
