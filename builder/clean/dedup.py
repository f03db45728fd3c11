"""Duplicate detection; in both modes the earliest document in input order survives."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from core.options.clean import NearDedupOptions
from core.shingles import folded, minhash, words
from schemas.types import Document


@dataclass(frozen=True)
class Duplicate:
    """`index` repeats the kept document at `original` with estimated Jaccard `similarity`."""

    index: int
    original: int
    similarity: float


def exact_key(text: str) -> str:
    """Case and whitespace differences do not make two texts different documents."""
    return hashlib.sha256(folded(text).encode("utf-8")).hexdigest()


def find_exact_duplicates(docs: list[Document], keys: list[str] | None = None) -> list[Duplicate]:
    """`keys`, one `exact_key` per document, may come precomputed (by parallel workers)."""
    first: dict[str, int] = {}
    found: list[Duplicate] = []
    for index, doc in enumerate(docs):
        key = keys[index] if keys is not None else exact_key(doc.text)
        if key in first:
            found.append(Duplicate(index=index, original=first[key], similarity=1.0))
        else:
            first[key] = index
    return found


def minhash_signature(text: str, options: NearDedupOptions) -> MinHash | None:
    """The signature near-dedup compares; None for a text without words."""
    if not words(text):
        return None
    return minhash(text, options.shingle_size, options.num_perm)


def find_near_duplicates(
    docs: list[Document], options: NearDedupOptions, signatures: list[MinHash | None] | None = None
) -> list[Duplicate]:
    """LSH proposes candidates; the MinHash estimate against each decides.

    One pass over the whole corpus in input order, so the result is global;
    `signatures` (one per document) may come precomputed by parallel workers.
    """
    lsh = _lsh(options.threshold, options.num_perm)
    kept: dict[int, MinHash] = {}
    found: list[Duplicate] = []
    for index, doc in enumerate(docs):
        signature = signatures[index] if signatures is not None else minhash_signature(doc.text, options)
        if signature is None:
            continue
        scored = [(signature.jaccard(kept[int(key)]), int(key)) for key in lsh.query(signature)]
        best = max(scored, key=lambda pair: (pair[0], -pair[1]), default=None)
        if best is not None and best[0] >= options.threshold:
            found.append(Duplicate(index=index, original=best[1], similarity=round(best[0], 4)))
        else:
            kept[index] = signature
            lsh.insert(str(index), signature)
    return found


def _lsh(threshold: float, num_perm: int) -> MinHashLSH:
    """An index for `threshold`, or for the nearest lower one datasketch can band.

    High thresholds (0.97 at 128 permutations) leave fewer than two bands; a
    lower candidate threshold only proposes more pairs, which the estimate filters.
    """
    candidate = threshold
    while True:
        try:
            return MinHashLSH(threshold=candidate, num_perm=num_perm)
        except ValueError:
            if candidate <= 0.5:
                raise
            candidate = round(candidate - 0.05, 2)
