"""ingest_folder: every supported file under a root → Documents, every problem → a FileOutcome."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from builder.ingest import reasons
from builder.ingest.formats import Format, format_for, supported_suffixes
from builder.ingest.parsed import ParseContext, ParsedText
from builder.ingest.read import read_bounded
from builder.ingest.result import IngestResult
from builder.ingest.sniff import require_text
from builder.ingest.walk import Candidate, display, list_files
from core.errors import ConfigError, InputFileError
from core.options.ingest import IngestOptions
from schemas.types import Document, FileOutcome

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Formats people commonly drop in by mistake, with the conversion that fixes them.
CONVERSION_HINTS = {
    "doc": "save it as .docx",
    "rtf": "save it as .docx",
    "odt": "save it as .docx",
    "pages": "export it as .docx or PDF",
    "pptx": "export it as PDF",
    "ppt": "export it as PDF",
    "epub": "convert it to HTML or text",
    "csv": "convert rows to .jsonl with a text field",
    "json": "write one record per line as .jsonl",
    "xml": "convert it to .html or text",
}


def ingest_folder(root: Path, options: IngestOptions) -> IngestResult:
    """Read every file under `root` that the globs select, in sorted path order.

    Bad files never stop ingestion: each one gets an error or skipped outcome.
    """
    base = _resolve_root(root)
    listing = list_files(base, options)
    documents: list[Document] = []
    files: list[FileOutcome] = list(listing.outcomes)
    for candidate in listing.candidates:
        docs, outcomes = _ingest_file(candidate, base, options)
        documents.extend(docs)
        files.extend(outcomes)
    files.sort(key=lambda o: o.path)
    return IngestResult(documents=documents, files=files)


def _resolve_root(root: Path) -> Path:
    try:
        base = root.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ConfigError(f"input folder {root} does not exist; create it or fix the path.") from None
    if not base.is_dir():
        raise ConfigError(f"input path {root} is a file, not a folder; point to the folder holding it.")
    return base


def _ingest_file(
    candidate: Candidate, root: Path, options: IngestOptions
) -> tuple[list[Document], list[FileOutcome]]:
    rel = display(candidate.rel)
    fmt = format_for(candidate.rel)
    if fmt is None:
        return [], [_outcome(rel, reasons.UNSUPPORTED_FORMAT, _unsupported(candidate.rel))]
    try:
        data = read_bounded(candidate.path, root, options.max_file_bytes)
        if fmt.is_text:
            require_text(data, rel)
        parsed = fmt.parse(data, ParseContext(rel=rel, options=options))
    except InputFileError as exc:
        return [], [_outcome(rel, exc.reason, exc.message)]
    except Exception as exc:  # noqa: BLE001 - a parser bug must cost one file, not the build
        message = (
            f"the {fmt.name} parser failed unexpectedly ({type(exc).__name__}: {exc}); exclude "
            "the file and report it with a copy of the file."
        )
        return [], [_outcome(rel, reasons.PARSER_FAILED, message)]
    documents = [_document(rel, fmt, text, len(data)) for text in parsed.texts if text.text.strip()]
    parts = [_outcome(rel + f.anchor, f.reason, f.message) for f in parsed.failures]
    if documents:
        head = FileOutcome(path=rel, status="ok", documents=len(documents))
    else:
        head = _outcome(rel, reasons.NO_TEXT, "yielded no document; see the outcomes of its parts.")
    return documents, [head, *parts]


def _document(rel: str, fmt: Format, parsed: ParsedText, size: int) -> Document:
    # A parser can surface lone surrogates (odd PDF font maps); they cannot be written as UTF-8.
    text = _LONE_SURROGATE.sub("\ufffd", parsed.text)
    metadata = {"format": fmt.name, "size_bytes": size, **parsed.metadata}
    return Document(
        id=Document.make_id(text),
        source=rel + parsed.anchor,
        mime=fmt.mime,
        title=_LONE_SURROGATE.sub("\ufffd", parsed.title),
        text=text,
        metadata=metadata,
    )


def _outcome(path: str, reason: str, message: str) -> FileOutcome:
    return FileOutcome(path=path, status=reasons.status_of(reason), reason=reason, message=message)


def _unsupported(rel: str) -> str:
    suffix = PurePosixPath(rel).suffix.lower().lstrip(".")
    supported = ", ".join(supported_suffixes())
    if not suffix:
        return (
            f"has no extension, so its format is unknown; rename it (supported: {supported}) or exclude it."
        )
    hint = CONVERSION_HINTS.get(suffix, "convert it to a supported format")
    return f"'.{suffix}' files are not supported ({supported}); {hint}, or exclude it."
