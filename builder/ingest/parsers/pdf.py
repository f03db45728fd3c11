"""PDF via pypdf: pure Python, so no system poppler/mupdf to install or keep patched."""

from __future__ import annotations

from io import BytesIO

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from builder.ingest import reasons
from builder.ingest.formats import register_format
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult
from builder.ingest.sniff import identify
from core.errors import InputFileError

HEADER_WINDOW = 1024  # where readers accept the %PDF- header
TRAILER_WINDOW = 4096  # where a complete file has its final %%EOF


@register_format("pdf", suffixes=("pdf",), mime="application/pdf", is_text=False)
def parse_pdf(data: bytes, ctx: ParseContext) -> ParseResult:
    _check_envelope(data)
    reader = _open(data)
    try:
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = _title(reader)
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile bytes; all mean corrupt
        raise _corrupt(f"text extraction failed ({type(exc).__name__}: {exc})") from None
    text = "\n\n".join(page for page in pages if page)
    if not text.strip():
        raise InputFileError(
            reasons.NO_TEXT,
            f"none of its {len(pages)} page(s) has a text layer (a scan?); OCR it first, "
            "e.g. `ocrmypdf in.pdf out.pdf`, and ingest the result.",
        )
    return ParseResult([ParsedText(text=text, title=title, metadata={"pages": len(pages)})])


def _check_envelope(data: bytes) -> None:
    """Cheap checks that name the real problem before pypdf tries to repair the file."""
    if b"%PDF-" not in data[:HEADER_WINDOW]:
        kind = identify(data)
        if kind is not None:
            raise InputFileError(
                reasons.BINARY, f"content is {kind}, not a PDF; fix its extension or exclude it."
            )
        raise _corrupt("no %PDF- header")
    if b"%%EOF" not in data[-TRAILER_WINDOW:]:
        raise _corrupt("no %%EOF marker at the end, so the file is truncated")


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:  # noqa: BLE001 - as above
        raise _corrupt(f"{type(exc).__name__}: {exc}") from None
    if not encrypted:
        return reader
    try:
        # Owner-password-only files open for everyone; only a user password blocks reading.
        unlocked = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except DependencyError as exc:
        raise InputFileError(
            reasons.ENCRYPTED_PDF, f"is encrypted and cannot be opened here ({exc})."
        ) from None
    except Exception as exc:  # noqa: BLE001 - as above
        raise _corrupt(f"{type(exc).__name__}: {exc}") from None
    if not unlocked:
        raise InputFileError(
            reasons.ENCRYPTED_PDF,
            "is password-protected; remove the password, e.g. "
            "`qpdf --decrypt --password=PASSWORD in.pdf out.pdf`, and ingest the result.",
        )
    return reader


def _title(reader: PdfReader) -> str:
    info = reader.metadata
    title = info.title if info is not None else None
    return title.strip() if isinstance(title, str) else ""


def _corrupt(detail: str) -> InputFileError:
    return InputFileError(
        reasons.CORRUPT_PDF,
        f"cannot be read as a PDF ({detail}); re-export or re-download it.",
    )
