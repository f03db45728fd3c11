"""Fuzz: whatever the input and the cleaning options, a kept item is exactly the cleaned span it claims.

Texts go through the real ingest parsers, the real cleaning steps and
`extract_documents` (langextract's chunking, resolver and alignment, then the
project's re-check) with a model that quotes chosen strings. langextract's own
"exact" alignment ignores case and whitespace, so the re-check against the
cleaned text is what keeps near-quotes out.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from langextract import resolver as lx_resolver
from langextract.core import base_model
from langextract.core import data as lx_data
from langextract.core import types as lx_types

from builder.caching_model import CachingModel
from builder.clean import clean_documents
from builder.extract import ExtractionResult, extract_documents, ground_extractions
from builder.ingest import ingest_folder
from builder.llm_cache import CompletionCache
from core.options.clean import CleanOptions, NearDedupOptions, PiiOptions
from core.options.extraction import ExtractionOptions
from core.options.ingest import IngestOptions
from schemas.base import Example, ExtractionSchema, RecordTemplate
from schemas.types import Document, GroundedItem, Reject
from tests.builder.clean_strategies import FRAGMENTS, option_sets, texts

_WORD = re.compile(r"\w+")


class Quote(ExtractionSchema):
    """Quote passages of the text."""

    extraction_class = "quote"
    examples: ClassVar[list[Example]] = [
        Example(text="The pump hums loudly.", items=[{"evidence": "pump hums"}])
    ]
    templates: ClassVar[list[RecordTemplate]] = [
        RecordTemplate(name="echo", instruction="Repeat the quote.", output="{evidence}")
    ]


class QuotingModel(base_model.BaseLanguageModel):
    """Answers every chunk with the same quotes, like a model that quotes from memory."""

    def __init__(self, quotes: Sequence[str]) -> None:
        super().__init__()
        self.output = json.dumps({"extractions": [{"quote": quote} for quote in quotes]})
        self.set_fence_output(False)

    def infer(self, batch_prompts: Sequence[str], **kwargs: Any) -> Iterator[Sequence[lx_types.ScoredOutput]]:
        for _ in batch_prompts:
            yield [lx_types.ScoredOutput(score=1.0, output=self.output)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompletionCache]:
    store = CompletionCache(tmp_path_factory.mktemp("fuzz") / "completions.sqlite")
    yield store
    store.close()


def ingest_and_clean(raw: str, suffix: str, options: CleanOptions) -> list[Document]:
    """The raw text as a file of that format, read and cleaned as a build would."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, f"input.{suffix}").write_bytes(raw.encode("utf-8"))
        ingested = ingest_folder(Path(folder), IngestOptions())
    return clean_documents(ingested.documents, options).documents


def quote(
    document: Document,
    quotes: Sequence[str],
    cache: CompletionCache,
    max_char_buffer: int = 1200,
    reground: bool = True,
) -> ExtractionResult:
    # The quotes are part of the fingerprint: one prompt gets different answers across examples.
    model = CachingModel(QuotingModel(quotes), cache, fingerprint={"quotes": list(quotes)}, retries=0)
    options = ExtractionOptions(max_char_buffer=max_char_buffer, also_chunk_at=[], reground=reground)
    return extract_documents([document], Quote, model, options, model_name="quoting")


def near_misses(present: str, raw: str) -> list[str]:
    """Strings a model might quote instead of `present`: other case, other spacing, the uncleaned text."""
    return [
        present.swapcase(),
        present.upper(),
        present.lower(),
        " ".join(present.split()),
        present.replace(" ", "  "),
        present.replace(" ", "\n"),
        present + ".",
        raw,
    ]


def assert_grounded(document: Document, items: Sequence[GroundedItem], absent: Sequence[str]) -> None:
    for item in items:
        assert document.text[item.span.start : item.span.end] == item.span.text
        assert item.span.doc_id == document.id
    kept = {item.span.text for item in items}
    assert not kept & set(absent), kept & set(absent)


def _boundary(text: str, data: st.DataObject, low: int) -> int:
    """A word boundary most of the time, any position otherwise."""
    words = sorted({0, len(text)} | {p for m in _WORD.finditer(text) for p in m.span()})
    choices = [p for p in words if p >= low] or [len(text)]
    return data.draw(st.one_of(st.sampled_from(choices), st.integers(low, len(text))))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    raw=texts,
    suffix=st.sampled_from(["txt", "md", "html"]),
    options=option_sets,
    max_char_buffer=st.sampled_from([100, 1200]),
    data=st.data(),
)
def test_kept_evidence_is_exactly_the_cleaned_span(
    cache: CompletionCache,
    raw: str,
    suffix: str,
    options: CleanOptions,
    max_char_buffer: int,
    data: st.DataObject,
) -> None:
    documents = ingest_and_clean(raw, suffix, options)
    assume(documents)
    [document] = documents
    text = document.text
    start = _boundary(text, data, 0)
    end = _boundary(text, data, start + 1) if start < len(text) else len(text)
    present = text[start:end]
    assume(present.strip())
    absent = [q for q in near_misses(present, raw[start:end]) if q.strip() and q not in text]
    # langextract aligns quotes in order, each on tokens not yet taken: vary who comes first.
    quotes = data.draw(st.permutations([present, *absent]))
    result = quote(document, quotes, cache, max_char_buffer)
    assert_grounded(document, result.items, absent)
    event("the exact quote was kept" if present in {i.span.text for i in result.items} else "not kept")


# Every value of every text option, with PII off and by regex: 3 * 2**7 * 2 option sets. NER
# redaction costs spaCy time per call, so the hypothesis test samples it instead.
ALL_OPTION_SETS = [
    CleanOptions(
        unicode_form=form,
        strip_control_chars=flags[0],
        strip_html=flags[1],
        normalize_whitespace=flags[2],
        unwrap_lines=flags[3],
        lowercase=flags[4],
        strip_punctuation=flags[5],
        remove_stopwords=flags[6],
        pii=pii,
        dedup_near=NearDedupOptions(enabled=False),
    )
    for form in ("NFC", "NFKC", "none")
    for flags in itertools.product([False, True], repeat=7)
    for pii in (PiiOptions(enabled=False), PiiOptions(enabled=True, entities=["EMAIL", "PHONE", "IP"]))
]
HOSTILE = (
    "The <b>Pump</b> must be\nprimed before the FIRST start.\r\n\r\n"
    + "".join(f for f in FRAGMENTS if f != "\x00")  # a NUL makes the file binary
    + "\x07\n\nJohn Smith (jo@example.com) keeps the  valve\u00a0open."
)


def align_and_ground(document: Document, quotes: Sequence[str]) -> tuple[list[GroundedItem], list[Reject]]:
    """langextract's aligner, as `lx.extract` runs it, on the whole text; then the project's checks."""
    extractions = [
        lx_data.Extraction(extraction_class=Quote.extraction_class, extraction_text=q) for q in quotes
    ]
    aligned = list(lx_resolver.Resolver().align(extractions, document.text, token_offset=0, char_offset=0))
    return ground_extractions(document, aligned, Quote, "quoting")


def test_every_option_set_keeps_only_exact_spans() -> None:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "hostile.txt").write_text(HOSTILE, encoding="utf-8")
        ingested = ingest_folder(Path(folder), IngestOptions()).documents
    kept = 0
    for options in ALL_OPTION_SETS:
        [document] = clean_documents(ingested, options).documents
        text = document.text
        words = list(_WORD.finditer(text))
        first, last = words[len(words) // 3], words[len(words) // 3 + 2]
        present = text[first.start() : last.end()]
        raw = HOSTILE[first.start() : last.end()]
        absent = [q for q in near_misses(present, raw) if q.strip() and q not in text]
        # One quote at a time, so each near miss has the exact span to itself.
        for candidate in [present, *absent]:
            items, _ = align_and_ground(document, [candidate])
            assert_grounded(document, items, absent)
            kept += [item.span.text for item in items] == [present]
    assert kept > len(ALL_OPTION_SETS) * 0.8  # the exact quote itself is kept almost always


def test_an_exact_quote_is_kept_and_its_near_misses_keep_the_documents_text(cache: CompletionCache) -> None:
    [document] = ingest_and_clean("The pump must be primed before start.", "txt", CleanOptions())
    exact = quote(document, ["pump must be primed"], cache)
    assert [item.span.text for item in exact.items] == ["pump must be primed"]
    for near_miss, method in (("PUMP MUST BE PRIMED", "case"), ("pump  must be primed", "whitespace")):
        result = quote(document, [near_miss], cache)
        assert [(i.span.text, i.match) for i in result.items] == [("pump must be primed", method)]
    result = quote(document, ["PUMP MUST BE PRIMED"], cache, reground=False)
    assert (result.items, [r.reason for r in result.rejects]) == ([], ["ungrounded"])
    assert "differs from the evidence" in result.rejects[0].detail
