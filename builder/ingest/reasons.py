"""Reason codes of FileOutcome: stable strings that reports and tests can key on."""

from __future__ import annotations

from typing import Literal

EMPTY = "empty"
BINARY = "binary"
NOT_UTF8 = "not_utf8"
TOO_LARGE = "too_large"
CORRUPT_PDF = "corrupt_pdf"
ENCRYPTED_PDF = "encrypted_pdf"
CORRUPT_DOCX = "corrupt_docx"
ZIP_BOMB = "zip_bomb"
UNSUPPORTED_FORMAT = "unsupported_format"
SYMLINK_ESCAPE = "symlink_escape"
SYMLINKED_DIR = "symlinked_dir"
SPECIAL_FILE = "special_file"
BAD_JSONL_LINE = "bad_jsonl_line"
MISSING_FIELD = "missing_field"
UNREADABLE = "unreadable"
NO_TEXT = "no_text"
PARSER_FAILED = "parser_failed"

# Nothing of value is lost by these; everything else needs the user's attention.
SKIPPED: frozenset[str] = frozenset({EMPTY, UNSUPPORTED_FORMAT, SYMLINKED_DIR, SPECIAL_FILE})


def status_of(reason: str) -> Literal["error", "skipped"]:
    return "skipped" if reason in SKIPPED else "error"
