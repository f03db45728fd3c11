"""Tell text from binary by content, since suffixes lie (a .txt can be a PNG)."""

from __future__ import annotations

import shlex

from builder.ingest import reasons
from core.errors import InputFileError

SNIFF_BYTES = 8192

# Leading bytes of formats that are never text; ZIP covers docx/xlsx/jar too.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\x7fELF", "an ELF executable"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"%PDF-", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office (OLE) document"),
    (b"MZ", "a Windows executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O binary"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O binary"),
    (b"RIFF", "a RIFF media file"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 file"),
    (b"\x00asm", "a WebAssembly module"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

WEAK_MAGIC = frozenset({b"MZ", b"BZh", b"ID3", b"RIFF", b"OggS"})

UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF8_BOM = b"\xef\xbb\xbf"


def identify(data: bytes) -> str | None:
    """Name the binary format `data` starts with, or None if it has no known signature."""
    for magic, name in MAGIC:
        if data.startswith(magic):
            # Signatures made of letters can open real prose ("MZ ...", "RIFF ..."): demand a NUL too.
            if magic in WEAK_MAGIC and b"\x00" not in data[:SNIFF_BYTES]:
                continue
            return name
    return None


def require_text(data: bytes, rel: str) -> None:
    """Raise `binary` (or `not_utf8` for UTF-16) unless `data` could be a text file."""
    if data.startswith(UTF16_BOMS):
        raise InputFileError(
            reasons.NOT_UTF8,
            "looks like UTF-16 text (byte-order mark at offset 0), but only UTF-8 is read; "
            f"convert it with `iconv -f UTF-16 -t UTF-8 {shlex.quote(rel)} > converted.txt`.",
        )
    kind = identify(data)
    if kind is not None:
        raise InputFileError(
            reasons.BINARY,
            f"content is {kind}, not text; give it the right extension if it is a "
            "supported format, or exclude it.",
        )
    nul = data.find(b"\x00", 0, SNIFF_BYTES)
    if nul != -1:
        raise InputFileError(
            reasons.BINARY,
            f"contains a NUL byte at offset {nul}, so it is binary, not text; exclude it "
            "or export it as plain UTF-8 text.",
        )


def decode_utf8(data: bytes, rel: str, *, base_offset: int = 0) -> str:
    """Strict UTF-8 with the BOM dropped; the error names the first bad byte and a fix."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
        base_offset += len(UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = base_offset + exc.start
        bad = data[exc.start : exc.start + 1].hex().upper()
        raise InputFileError(
            reasons.NOT_UTF8,
            f"not valid UTF-8 (byte 0x{bad} at offset {offset}); it is probably Latin-1 or "
            f"Windows-1252: convert it with `iconv -f WINDOWS-1252 -t UTF-8 {shlex.quote(rel)} > fixed` "
            "and replace the file.",
        ) from None


def decode_nonblank(data: bytes, rel: str) -> str:
    """Decode a whole text file, refusing one that holds nothing but whitespace."""
    text = decode_utf8(data, rel)
    if not text.strip():
        raise InputFileError(reasons.EMPTY, "contains only whitespace; add content or remove the file.")
    return text
