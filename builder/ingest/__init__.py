"""Raw input folder → Documents plus a per-file account of what was read and why not."""

from builder.ingest.formats import Format, register_format, supported_suffixes
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult, PartFailure
from builder.ingest.pipeline import ingest_folder
from builder.ingest.result import IngestResult

__all__ = [
    "Format",
    "IngestResult",
    "ParseContext",
    "ParseResult",
    "ParsedText",
    "PartFailure",
    "ingest_folder",
    "register_format",
    "supported_suffixes",
]
