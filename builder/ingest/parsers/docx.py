"""DOCX via python-docx, after a zip-bomb check that looks only at the zip directory.

The check comes first because python-docx inflates every part it loads; the
sizes it reads are the declared ones, which is also where zipfile stops.
"""

from __future__ import annotations

import zipfile
from io import BytesIO

import docx
from docx.document import Document as DocxDocument
from docx.table import Table

from builder.ingest import reasons
from builder.ingest.formats import register_format
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult
from builder.ingest.sniff import identify
from core.errors import InputFileError

MAX_MEMBERS = 10_000
MAX_RATIO = 100  # real Word XML deflates ~10x; 100x+ on a big member is a bomb
RATIO_FLOOR = 1 << 20  # small members may compress absurdly well and harmlessly
UNCOMPRESSED_FACTOR = 10  # total inflated size allowed, as a multiple of max_file_bytes
MAIN_PART = "word/document.xml"


@register_format(
    "docx",
    suffixes=("docx",),
    mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    is_text=False,
)
def parse_docx(data: bytes, ctx: ParseContext) -> ParseResult:
    check_zip(data, limit=UNCOMPRESSED_FACTOR * ctx.options.max_file_bytes)
    try:
        document = docx.Document(BytesIO(data))
        paragraphs = _paragraphs(document)
        title = (document.core_properties.title or "").strip()
    except Exception as exc:  # noqa: BLE001 - python-docx/lxml raise many types on malformed parts
        raise _corrupt(f"{type(exc).__name__}: {exc}") from None
    if not paragraphs:
        raise InputFileError(
            reasons.NO_TEXT,
            "has no text in its paragraphs or tables (only images?); OCR or retype it.",
        )
    metadata = {"paragraphs": len(paragraphs)}
    return ParseResult([ParsedText(text="\n\n".join(paragraphs), title=title, metadata=metadata)])


def check_zip(data: bytes, *, limit: int) -> None:
    """Refuse archives that would inflate far beyond their size, before anything inflates."""
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        kind = identify(data)
        if kind is not None and "ZIP" not in kind:
            hint = "a legacy .doc or a password-protected .docx" if "OLE" in kind else kind
            raise InputFileError(
                reasons.BINARY,
                f"content is {hint}, not a .docx; open it in Word and save it as an unprotected .docx.",
            ) from None
        raise _corrupt(f"broken ZIP container: {exc}") from None
    if len(members) > MAX_MEMBERS:
        raise _bomb(f"{len(members)} archive members (limit {MAX_MEMBERS})")
    total = sum(m.file_size for m in members)
    if total > limit:
        raise _bomb(f"inflates to {total:,} bytes (limit {limit:,})")
    for member in members:
        if member.file_size > RATIO_FLOOR and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            ratio = member.file_size // max(member.compress_size, 1)
            raise _bomb(f"member {member.filename!r} inflates {ratio:,}x")
    if MAIN_PART not in {m.filename for m in members}:
        raise InputFileError(
            reasons.BINARY,
            f"is a ZIP archive but not a Word document (no {MAIN_PART}); fix its extension or exclude it.",
        )


def _paragraphs(document: DocxDocument) -> list[str]:
    """Body paragraphs and table rows in reading order; a row's cells are joined by ' | '."""
    out: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            out.extend(_rows(block))
        elif block.text.strip():
            out.append(block.text.strip())
    return out


def _rows(table: Table) -> list[str]:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            # Merged cells come back once per grid column; keep each only once.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            if cell.text.strip():
                cells.append(cell.text.strip())
        if cells:
            rows.append(" | ".join(cells))
    return rows


def _corrupt(detail: str) -> InputFileError:
    return InputFileError(
        reasons.CORRUPT_DOCX,
        f"cannot be read as a Word document ({detail}); open and re-save it in Word or LibreOffice.",
    )


def _bomb(detail: str) -> InputFileError:
    return InputFileError(
        reasons.ZIP_BOMB,
        f"refused as a likely zip bomb: {detail}; if the document is genuine, re-save it "
        "without embedded media or raise max_file_bytes.",
    )
