"""Find personal data: regexes for well-formed identifiers, spaCy NER for names and places.

The spaCy model loads once per process and only when redaction is on, since
it costs seconds and hundreds of MB that most builds never need.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from core.errors import ConfigError
from core.options.clean import NER_LABELS, PiiOptions

if TYPE_CHECKING:
    from spacy.language import Language

NER_CHUNK_CHARS = 50_000  # bounded spaCy memory per call, whatever the document size


@dataclass(frozen=True, order=True)
class Hit:
    start: int
    end: int
    label: str


_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
_URL_CREDENTIALS = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]+:[^\s/?#@]+@[^\s/?#]+")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w])")
_PHONE_LOCAL = re.compile(r"(?<![\w(])(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


Finder = Callable[[str], Iterator[Hit]]


def _regex(pattern: re.Pattern[str], label: str, valid: Callable[[str], bool] | None = None) -> Finder:
    def find(text: str) -> Iterator[Hit]:
        for match in pattern.finditer(text):
            if valid is None or valid(match.group(0)):
                yield Hit(match.start(), match.end(), label)

    return find


def _is_ip(candidate: str) -> bool:
    # Digits required: "abc::def" parses as IPv6 but is far likelier to be code.
    if not any(ch.isdigit() for ch in candidate):
        return False
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _phone_digits_ok(candidate: str) -> bool:
    return 7 <= sum(ch.isdigit() for ch in candidate) <= 15


REGEX_FINDERS: dict[str, list[Finder]] = {
    "URL_CREDENTIALS": [_regex(_URL_CREDENTIALS, "URL_CREDENTIALS")],
    "EMAIL": [_regex(_EMAIL, "EMAIL")],
    "PHONE": [_regex(_PHONE_INTL, "PHONE", _phone_digits_ok), _regex(_PHONE_LOCAL, "PHONE")],
    "IP": [_regex(_IPV4, "IP", _is_ip), _regex(_IPV6, "IP", _is_ip)],
}


def placeholder_pattern(placeholder: str) -> re.Pattern[str]:
    """Matches already-inserted placeholders (any case, since lowercasing may run later)."""
    prefix, _, suffix = placeholder.partition("{label}")
    return re.compile(re.escape(prefix) + r"[A-Za-z_]+" + re.escape(suffix), re.IGNORECASE)


def find_pii(text: str, options: PiiOptions) -> list[Hit]:
    """Non-overlapping hits in text order.

    Regex hits are exact, so they win over an NER span they overlap; among
    hits of one kind the longer wins. Existing placeholders are never hit.
    """
    wanted = set(options.entities)
    taken = [m.span() for m in placeholder_pattern(options.placeholder).finditer(text)]
    regex_hits = [
        hit for label, finders in REGEX_FINDERS.items() if label in wanted for f in finders for hit in f(text)
    ]
    chosen = _non_overlapping(regex_hits, taken)
    ner_labels = wanted & set(NER_LABELS)
    if ner_labels:
        taken += [(hit.start, hit.end) for hit in chosen]
        chosen += _non_overlapping(list(_ner_hits(text, options.model, ner_labels)), taken)
    return sorted(chosen)


def _non_overlapping(hits: list[Hit], taken: list[tuple[int, int]]) -> list[Hit]:
    """Greedy, longest first; `taken` spans never overlap each other, so neighbours suffice."""
    occupied = sorted(taken)
    chosen: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (-(h.end - h.start), h.start, h.label)):
        i = bisect.bisect_left(occupied, (hit.start, hit.end))
        if i > 0 and occupied[i - 1][1] > hit.start:
            continue
        if i < len(occupied) and occupied[i][0] < hit.end:
            continue
        occupied.insert(i, (hit.start, hit.end))
        chosen.append(hit)
    return chosen


def redact(text: str, options: PiiOptions) -> str:
    parts: list[str] = []
    cursor = 0
    for hit in find_pii(text, options):
        parts.append(text[cursor : hit.start])
        parts.append(options.placeholder.format(label=hit.label))
        cursor = hit.end
    parts.append(text[cursor:])
    return "".join(parts)


def _ner_hits(text: str, model: str, labels: set[str]) -> Iterator[Hit]:
    nlp = load_ner(model)
    chunks = list(_chunks(text))
    for (offset, _), doc in zip(chunks, nlp.pipe(chunk for _, chunk in chunks), strict=True):
        for ent in doc.ents:
            if ent.label_ in labels and ent.text.strip():
                yield Hit(offset + ent.start_char, offset + ent.end_char, ent.label_)


def _chunks(text: str) -> Iterator[tuple[int, str]]:
    """Cut at paragraph, then line, then space boundaries so entities are rarely split."""
    start = 0
    while len(text) - start > NER_CHUNK_CHARS:
        limit = start + NER_CHUNK_CHARS
        cut = limit
        for separator in ("\n\n", "\n", " "):
            position = text.rfind(separator, start, limit)
            if position > start:
                cut = position + len(separator)
                break
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]


@lru_cache(maxsize=2)
def load_ner(model: str) -> Language:
    """Only the NER pipe is loaded; the tagger, parser and lemmatiser would just cost time."""
    import spacy

    try:
        return spacy.load(
            model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
        )
    except OSError as exc:
        raise ConfigError(
            f"spaCy model {model!r} is not installed ({exc}); install it into this environment "
            "or set pii.model to an installed pipeline."
        ) from None
