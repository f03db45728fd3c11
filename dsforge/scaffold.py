"""`dsforge init`: a project folder that builds before its owner has read anything.

It holds a commented dsforge.yaml, a small valid schema.py whose every part says
what it is for, and a docs/ folder: one example document, or the user's own
documents copied in from `--from` (only those dsforge can read; a folder with
none is refused before anything is written). With `draft_model`, schema.py is
the schema that model drafts from those documents (builder/draft), and the
config names it and that model. The files are written atomically, only after
everything that can fail has succeeded; existing ones are kept unless `force`
is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from core import atomic
from core.config import CONFIG_NAME, DEFAULT_MODEL, ProviderConfig
from core.errors import ConfigError

if TYPE_CHECKING:
    from builder.draft.drafting import Draft

SCHEMA_FILE = "schema.py"
DOCS_FOLDER = "docs"
EXAMPLE_DOCUMENT = "example_document.md"
TEMPLATE_SCHEMA_REF = "schema: schema.py:KeyStatement"
TEMPLATE_MODEL_LINE = f"  model_id: {DEFAULT_MODEL}"


@dataclass
class Scaffold:
    folder: Path
    written: list[Path] = field(default_factory=list)
    documents: int = 0
    # reason → how many files under `--from` dsforge cannot read
    skipped: dict[str, int] = field(default_factory=dict)
    draft: Draft | None = None  # the drafted schema, with its quote counts


def scaffold(
    folder: Path,
    documents_from: Path | None = None,
    force: bool = False,
    draft_model: str | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> Scaffold:
    """Write the project; refuse before writing anything if it would overwrite, has nothing to read,
    or (with `draft_model`) the model's proposal cannot become a valid schema."""
    folder = folder.expanduser().resolve()
    targets = [folder / CONFIG_NAME, folder / SCHEMA_FILE]
    existing = [path for path in targets if path.exists()]
    if existing and not force:
        raise ConfigError(
            f"{', '.join(str(p) for p in existing)} already exist(s); dsforge init never overwrites a "
            "project (pass --force to replace the config and schema)."
        )
    readable, skipped = _readable_documents(documents_from) if documents_from is not None else ([], {})
    result = Scaffold(folder, skipped=skipped)
    config, schema = _template(CONFIG_NAME), _template(SCHEMA_FILE)
    if draft_model is not None:
        result.draft = _draft(folder, documents_from, draft_model, log)
        config = config.replace(TEMPLATE_SCHEMA_REF, f"schema: schema.py:{result.draft.class_name}", 1)
        config = config.replace(TEMPLATE_MODEL_LINE, f"  model_id: {draft_model}", 1)
        schema = result.draft.source
    atomic.write_text(folder / CONFIG_NAME, config)
    atomic.write_text(folder / SCHEMA_FILE, schema)
    result.written += targets
    docs = folder / DOCS_FOLDER
    if documents_from is None:
        if not any(docs.glob("*")):
            atomic.write_text(docs / EXAMPLE_DOCUMENT, _template(EXAMPLE_DOCUMENT))
            result.written.append(docs / EXAMPLE_DOCUMENT)
            result.documents = 1
        else:
            result.documents = sum(1 for p in docs.rglob("*") if p.is_file())
        return result
    for source, relative in readable:
        target = docs / relative
        if target.resolve() == source.resolve():
            continue  # --from is the project's own docs folder
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(target, source.read_bytes())
    result.documents = len(readable)
    return result


def _draft(folder: Path, documents_from: Path | None, model_id: str, log: Callable[[str], None]) -> Draft:
    """The schema `model_id` drafts from `--from`, or from the project's own docs/ folder."""
    from builder.draft.drafting import draft_schema

    source = documents_from if documents_from is not None else folder / DOCS_FOLDER
    if documents_from is None and not source.is_dir():
        raise ConfigError(
            f"--draft reads your documents: pass --from DOCS (or put them in {source}) and run again."
        )
    return draft_schema(source.expanduser().resolve(), ProviderConfig(model_id=model_id), log)


def _readable_documents(root: Path) -> tuple[list[tuple[Path, Path]], dict[str, int]]:
    """The files under `root` that ingest reads into text, and why the others are not read."""
    from builder.ingest import ingest_folder
    from core.options.ingest import IngestOptions

    root = root.expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"--from {root}: not a folder of documents.")
    result = ingest_folder(root, IngestOptions())
    kept = [
        (root / outcome.path, Path(outcome.path))
        for outcome in result.files
        if outcome.status == "ok" and (root / outcome.path).is_file()
    ]
    skipped: dict[str, int] = {}
    for outcome in result.files:
        if outcome.status != "ok":
            skipped[outcome.reason] = skipped.get(outcome.reason, 0) + 1
    if not kept:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "it is empty"
        raise ConfigError(
            f"--from {root}: no document dsforge can read ({why}); "
            "it reads txt, md, html, pdf, docx and jsonl."
        )
    return kept, skipped


def _template(name: str) -> str:
    return resources.files("dsforge").joinpath(f"templates/{name}").read_text("utf-8")
