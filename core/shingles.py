"""Word shingles and their MinHash: the one near-duplicate measure of cleaning, records and leakage.

Every check splits words the same way (runs of word characters, case-folded),
so "near duplicate" means the same thing for documents, records and splits.
"""

from __future__ import annotations

import re

from datasketch import MinHash

_WORD = re.compile(r"\w+")
SEED = 1


def folded(text: str) -> str:
    """Case-folded, every run of whitespace one space: how the exact checks (duplicate documents, leaking
    records, a quote in a question, one entity's mentions) compare texts."""
    return " ".join(text.casefold().split())


def words(text: str) -> list[str]:
    """Runs of word characters, case-folded: punctuation and case never make two texts differ."""
    return _WORD.findall(text.casefold())


def shingles(text: str, size: int) -> set[str]:
    """Word n-grams; a text shorter than n words is one shingle so it can still match."""
    found = words(text)
    if len(found) <= size:
        return {" ".join(found)} if found else set()
    return {" ".join(found[i : i + size]) for i in range(len(found) - size + 1)}


def minhash(text: str, size: int, num_perm: int) -> MinHash:
    """The MinHash of a text's `size`-word shingles; one fixed seed so signatures compare across runs."""
    signature = MinHash(num_perm=num_perm, seed=SEED)
    grams = shingles(text, size)
    if grams:
        signature.update_batch([gram.encode("utf-8") for gram in sorted(grams)])
    return signature
