"""Which of the user's documents the model reads, and the excerpt its worked example is made from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from builder.clean.pipeline import clean_text
from builder.ingest import ingest_folder
from core.errors import ConfigError
from core.options.clean import CleanOptions
from core.options.ingest import IngestOptions

DOCUMENTS_READ = 4
CHARS_PER_DOCUMENT = 1500
EXCERPT_CHARS = 900
MIN_PARAGRAPH_CHARS = 80  # shorter blocks are headings, titles and link lines


@dataclass(frozen=True)
class Sample:
    source: str  # path inside the documents folder
    title: str
    text: str  # the cleaned text, as a build sees it


def read_samples(folder: Path, limit: int = DOCUMENTS_READ) -> list[Sample]:
    """The first `limit` readable documents, cleaned as a build cleans them (the longest first)."""
    result = ingest_folder(folder, IngestOptions())
    options = CleanOptions()
    samples = [
        Sample(doc.source, doc.title or Path(doc.source).stem, text)
        for doc in result.documents
        if (text := clean_text(doc.text, options).strip())
    ]
    if not samples:
        raise ConfigError(f"{folder}: no document dsforge can read to draft a schema from.")
    samples.sort(key=lambda s: (-len(s.text), s.source))
    return samples[:limit]


def excerpt(sample: Sample, limit: int = EXCERPT_CHARS) -> str:
    """A passage of whole paragraphs (or sentences) of the document, up to `limit` characters.

    Headings and other short lines are skipped at the start: the example should show the
    kind of text items come from.
    """
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", sample.text) if p.strip()]
    start = next((i for i, p in enumerate(paragraphs) if len(p) >= MIN_PARAGRAPH_CHARS), 0)
    chosen: list[str] = []
    for paragraph in paragraphs[start:]:
        if chosen and len("\n\n".join([*chosen, paragraph])) > limit:
            break
        chosen.append(paragraph)
    passage = "\n\n".join(chosen)
    if len(passage) <= limit:
        return passage
    ends = [m.end() for m in re.finditer(r"[.!?;:](?=\s|$)", passage) if m.end() <= limit]
    return passage[: ends[-1]] if ends else passage[:limit]


def preview(sample: Sample, limit: int = CHARS_PER_DOCUMENT) -> str:
    """The start of a document for the model to read, cut at a paragraph or sentence end."""
    if len(sample.text) <= limit:
        return sample.text
    cut = sample.text[:limit]
    end = max(cut.rfind("\n\n"), cut.rfind(". "))
    return cut[: end + 1] if end > limit // 2 else cut
