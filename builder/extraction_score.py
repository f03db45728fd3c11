"""Precision, recall and F1 of a build's items against gold: label level and span level.

Label level asks, per document, which values of each closed attribute the
build found — what a multi-label tagging schema is judged on. Span level
matches items to gold spans one to one, exactly (same start and end) or by
overlap (any shared character), first ignoring labels, then per value. Every
score carries its counts and a 95 % interval from resampling documents (items
of one document are not independent), and the misses and extras are listed.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from builder.gold import GoldDocument, GoldSet
from schemas.types import GroundedItem

BOOTSTRAP_SAMPLES = 1000


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    def scores(self) -> dict[str, Any]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }


@dataclass
class Level:
    """One way of scoring: overall counts, counts per document (for intervals), per value, and the lists."""

    overall: Counts = field(default_factory=Counts)
    per_document: dict[str, Counts] = field(default_factory=dict)
    per_value: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    misses: list[dict[str, Any]] = field(default_factory=list)
    extras: list[dict[str, Any]] = field(default_factory=list)

    def count(self, doc_id: str, value: str, counts: Counts) -> None:
        self.overall.add(counts)
        self.per_document.setdefault(doc_id, Counts()).add(counts)
        if value:
            self.per_value[value].add(counts)

    def summary(self, seed: int = 0) -> dict[str, Any]:
        return {
            **self.overall.scores(),
            "interval95": bootstrap_interval(list(self.per_document.values()), seed),
            "per_value": {value: counts.scores() for value, counts in sorted(self.per_value.items())},
            "misses": self.misses,
            "extras": self.extras,
        }


def score(gold: GoldSet, items: list[GroundedItem], closed: dict[str, list[str]]) -> dict[str, Any]:
    """Every level the gold supports: labels always, spans when the gold has them."""
    by_doc: dict[str, list[GroundedItem]] = defaultdict(list)
    for item in items:
        by_doc[item.span.doc_id].append(item)
    gold_ids = {doc.doc_id for doc in gold.documents}
    levels: dict[str, Level] = {}
    for attribute in closed:
        level = levels[f"label:{attribute}"] = Level()
        for doc in gold.documents:
            _score_labels(level, doc, by_doc[doc.doc_id], attribute)
    if gold.format == "annotated":
        for mode in ("exact", "overlap"):
            level = levels[f"span:{mode}"] = Level()
            for doc in gold.documents:
                _score_spans(level, doc, by_doc[doc.doc_id], mode, attribute=None)
            for attribute in closed:
                level = levels[f"span:{mode}:{attribute}"] = Level()
                for doc in gold.documents:
                    _score_spans(level, doc, by_doc[doc.doc_id], mode, attribute=attribute)
    return {
        "gold": str(gold.path),
        "format": gold.format,
        "documents": len(gold.documents),
        "skipped_duplicates": gold.skipped,
        "items_scored": sum(len(by_doc[d]) for d in gold_ids),
        "items_outside_gold": sum(len(v) for k, v in by_doc.items() if k not in gold_ids),
        "levels": {name: level.summary() for name, level in levels.items()},
    }


def _score_labels(level: Level, doc: GoldDocument, items: list[GroundedItem], attribute: str) -> None:
    truth = doc.labels.get(attribute, set())
    found: dict[str, GroundedItem] = {}
    for item in items:
        if attribute in item.attributes:
            found.setdefault(str(item.attributes[attribute]), item)
    for value in sorted(truth | set(found)):
        hit, predicted = value in truth, value in found
        level.count(
            doc.doc_id,
            value,
            Counts(tp=hit and predicted, fp=predicted and not hit, fn=hit and not predicted),
        )
        if hit and not predicted:
            level.misses.append({"document": doc.source, "value": value})
        elif predicted and not hit:
            item = found[value]
            level.extras.append({"document": doc.source, "value": value, "evidence": item.span.text})
    level.per_document.setdefault(doc.doc_id, Counts())


def _score_spans(
    level: Level, doc: GoldDocument, items: list[GroundedItem], mode: str, attribute: str | None
) -> None:
    """Greedy one-to-one matching, tightest pairs first, within each value when `attribute` is set."""

    def key(attributes: dict[str, Any]) -> str:
        return str(attributes.get(attribute, "")) if attribute else ""

    gold_spans = sorted({(s.start, s.end, key(s.attributes), s.text) for s in doc.spans or []})
    predicted = sorted({(i.span.start, i.span.end, key(i.attributes), i.span.text) for i in items})
    pairs = []
    for g, (gs, ge, gv, _) in enumerate(gold_spans):
        for p, (ps, pe, pv, _) in enumerate(predicted):
            if gv != pv:
                continue
            if (mode == "exact" and (gs, ge) == (ps, pe)) or (mode == "overlap" and ps < ge and gs < pe):
                union = max(ge, pe) - min(gs, ps)
                shared = min(ge, pe) - max(gs, ps)
                pairs.append((-shared / union, g, p))
    used_gold, used_pred = set(), set()
    for _, g, p in sorted(pairs):
        if g not in used_gold and p not in used_pred:
            used_gold.add(g)
            used_pred.add(p)
            level.count(doc.doc_id, gold_spans[g][2], Counts(tp=1))
    for g, (start, end, value, text) in enumerate(gold_spans):
        if g not in used_gold:
            level.count(doc.doc_id, value, Counts(fn=1))
            level.misses.append(
                {"document": doc.source, "value": value, "start": start, "end": end, "text": text}
            )
    for p, (start, end, value, text) in enumerate(predicted):
        if p not in used_pred:
            level.count(doc.doc_id, value, Counts(fp=1))
            level.extras.append(
                {"document": doc.source, "value": value, "start": start, "end": end, "text": text}
            )
    level.per_document.setdefault(doc.doc_id, Counts())


def bootstrap_interval(per_document: list[Counts], seed: int = 0) -> dict[str, list[float]]:
    """95 % percentile intervals of P, R and F1 over documents drawn with replacement."""
    if not per_document:
        return {"precision": [0.0, 0.0], "recall": [0.0, 0.0], "f1": [0.0, 0.0]}
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {"precision": [], "recall": [], "f1": []}
    for _ in range(BOOTSTRAP_SAMPLES):
        total = Counts()
        for counts in rng.choices(per_document, k=len(per_document)):
            total.add(counts)
        scores = total.scores()
        for name in draws:
            draws[name].append(scores[name])
    low, high = int(0.025 * BOOTSTRAP_SAMPLES), int(0.975 * BOOTSTRAP_SAMPLES) - 1
    return {name: [round(sorted(v)[low], 4), round(sorted(v)[high], 4)] for name, v in draws.items()}
