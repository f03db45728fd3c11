"""`dsforge eval --cv K`: document-grouped K-fold cross-validation for small datasets.

A test split of twenty records is one draw; K folds give K estimates and their
spread. All exported records (train, validation and test) are pooled and cut
into K folds by source document (`doc_id`) with scikit-learn's
StratifiedGroupKFold on the record's stratum, so no document is on both sides.
Each fold trains the project's own recipe on the other folds (a few of their
documents held out for validation and early stopping) and evaluates on its own
fold, in `<output>/cv/k<K>/fold-<i>/` as if it were a project of its own; the
train and eval stages' fingerprints make a finished fold cost nothing on a rerun.
`cv.json` and `report.md` give every fold's metrics and their mean ± std.

Folds are cut by document only: near-duplicate records of different documents
(which `dsforge split` repairs) can still fall in different folds.
"""

from __future__ import annotations

import logging
import statistics
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import atomic
from core.errors import TrainError
from core.layout import SPLITS, CrossValidationPaths, TrainPaths
from schemas.types import content_id
from train.data import load_splits, read_lineage
from train.paired_intervals import paired_interval, verdict

if TYPE_CHECKING:
    from core.config import DsforgeConfig

log = logging.getLogger(__name__)

METRICS = (
    "exact_match",
    "token_f1",
    "rouge_l",
    "bleu",
    "schema_valid",
    "perplexity",
    "probe_perplexity",
    "judge",
    "similarity",
    "field_accuracy",
    "item_exact_match",
)
MODELS = ("base", "tuned", "delta")


def cross_validate(config: DsforgeConfig, k: int, show_progress: bool = True) -> dict[str, Any]:
    """Train and evaluate K document-disjoint folds; write and return the summary."""
    from train.evaluate import evaluate
    from train.recipe import train

    if config.eval.tuned_path is not None:
        raise TrainError(
            "--cv trains one adapter per fold; evaluate a given model without --cv (drop --model)."
        )
    paths = TrainPaths(config.output_dir)
    data = load_splits(paths.dataset)
    pool = _pool(data)
    seed = config.split.seed
    plan, notes = plan_folds(list(pool["doc_id"]), list(pool["stratum"]), k, seed, _validation_share(config))
    cv_paths = CrossValidationPaths(config.output_dir, k)
    parent_lineage = read_lineage(paths.lineage)

    folds = []
    for i, assignment in enumerate(plan):
        fold_output = cv_paths.fold(i)
        write_fold(pool, assignment, fold_output, {"k": k, "fold": i, "seed": seed}, parent_lineage)
        fold_config = config.model_copy(update={"output": fold_output})
        log.info("cross-validation fold %d of %d", i + 1, k)
        card = train(fold_config, show_progress=show_progress)
        result = evaluate(fold_config, show_progress=show_progress)
        overall = result["overall"]
        folds.append(
            {
                "fold": i,
                "output": str(fold_output),
                "documents": {s: sorted({pool[j]["doc_id"] for j in assignment[s]}) for s in SPLITS},
                "records": {s: len(assignment[s]) for s in SPLITS},
                "evaluated": result["n_test"],
                "run_fingerprint": card.fingerprint,
                "eval_fingerprint": result["fingerprint"],
                "steps": card.steps,
                "train_seconds": card.train_seconds,
                "metrics": {
                    "base": {m: overall["base"].get(m) for m in METRICS},
                    "tuned": {m: overall["tuned"].get(m) for m in METRICS},
                    "delta": {m: result["delta"].get(m) for m in METRICS},
                },
            }
        )
    summary = {
        "k": k,
        "seed": seed,
        "group_by": "doc_id",
        "stratify_by": "stratum",
        "method": f"StratifiedGroupKFold(n_splits={k}, shuffle=True, random_state={seed})",
        "std": "sample standard deviation (n - 1) over folds",
        "records": len(pool),
        "documents": len(set(pool["doc_id"])),
        "notes": notes,
        "fingerprint": content_id([f["eval_fingerprint"] for f in folds], prefix="cv-"),
        "folds": folds,
        "summary": summarise(folds),
        "report": str(cv_paths.report),
    }
    atomic.write_json(cv_paths.summary, summary)
    atomic.write_text(cv_paths.report, render(summary))
    return summary


def plan_folds(
    doc_ids: list[str], strata: list[str], k: int, seed: int, validation_share: float
) -> tuple[list[dict[str, list[int]]], list[str]]:
    """Row indices of train / validation / test per fold; documents never straddle two of them."""
    import numpy as np
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    documents = sorted(set(doc_ids))
    if len(documents) < k + 1:
        raise TrainError(
            f"{k}-fold cross-validation needs at least {k + 1} source documents (each fold's training side "
            f"keeps one for validation); the dataset has {len(documents)}. Lower --cv or add documents."
        )
    groups = np.array(doc_ids)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        tests = [test for _, test in splitter.split(groups, np.array(strata), groups)]
    notes += sorted({str(w.message) for w in caught})
    if any(len(t) == 0 for t in tests):
        raise TrainError(f"a fold came out empty with {len(documents)} documents; lower --cv.")
    plan = []
    for test in tests:
        held = set(test.tolist())
        rest = np.array([i for i in range(len(doc_ids)) if i not in held])
        rest_docs = len(set(groups[rest]))
        n_val = min(rest_docs - 1, max(1, round(validation_share * rest_docs)))
        inner = GroupShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
        train_pos, val_pos = next(inner.split(rest, groups=groups[rest]))
        plan.append(
            {
                "train": sorted(rest[train_pos].tolist()),
                "validation": sorted(rest[val_pos].tolist()),
                "test": sorted(test.tolist()),
            }
        )
    return plan, notes


def write_fold(
    pool: Any,
    assignment: dict[str, list[int]],
    output: Path,
    cv: dict[str, Any],
    parent_lineage: dict[str, Any] | None,
) -> Path:
    """The fold's DatasetDict in the layout train and eval read; left alone when it already matches."""
    from datasets import DatasetDict, load_from_disk

    fold_paths = TrainPaths(output)
    wanted = {s: [pool[i]["id"] for i in assignment[s]] for s in SPLITS}
    if (fold_paths.dataset / "dataset_dict.json").is_file():
        existing = load_from_disk(str(fold_paths.dataset))
        if all(s in existing and list(existing[s]["id"]) == wanted[s] for s in SPLITS):
            return fold_paths.dataset

    fold = DatasetDict({s: pool.select(assignment[s]) for s in SPLITS})
    atomic.replace_dir(fold_paths.dataset, lambda tmp: fold.save_to_disk(str(tmp)))
    atomic.write_json(
        fold_paths.lineage,
        {"cross_validation": {**cv, "group_by": "doc_id"}, "parent": parent_lineage},
    )
    return fold_paths.dataset


def summarise(folds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and sample std per metric and model over the folds that measured it, and the paired
    interval of tuned − base across those folds (each fold one pair)."""
    summary: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        row: dict[str, dict[str, float] | None] = {}
        for model in MODELS:
            values = [f["metrics"][model][metric] for f in folds]
            values = [v for v in values if isinstance(v, (int, float))]
            if len(values) < 2:
                row[model] = None
                continue
            row[model] = {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values),
                "n": len(values),
            }
        pairs = [(f["metrics"]["base"][metric], f["metrics"]["tuned"][metric]) for f in folds]
        pairs = [(b, t) for b, t in pairs if isinstance(b, (int, float)) and isinstance(t, (int, float))]
        if any(row.values()):
            summary[metric] = row
            if len(pairs) >= 2:
                row["interval"] = paired_interval([b for b, _ in pairs], [t for _, t in pairs])
    return summary


def render(summary: dict[str, Any]) -> str:
    folds = summary["folds"]
    lines = [
        f"# {summary['k']}-fold cross-validation",
        "",
        f"- {summary['records']} records from {summary['documents']} documents, pooled from the exported "
        f"splits; folds grouped by `{summary['group_by']}`, stratified by `{summary['stratify_by']}` "
        f"({summary['method']})",
        "- each fold: the project's training recipe on the other folds (some of their documents held out "
        "for validation), evaluated on its own fold; base = the same base model",
        f"- ± is the {summary['std']}",
        "",
        "## Mean ± std",
        "",
        "| metric | base | tuned | Δ (tuned − base) | 95 % interval of Δ over folds | folds better / worse |",
        "| --- | ---: | ---: | ---: | :---: | :---: |",
    ]
    verdicts = []
    for metric, row in summary["summary"].items():
        interval = row.get("interval") or {}
        span = (
            f"[{interval['low']:+.3f}, {interval['high']:+.3f}]" if interval.get("low") is not None else "–"
        )
        counts = f"{interval['wins']} / {interval['losses']}" if interval else "–"
        lines.append(
            f"| {metric} | " + " | ".join(_pm(row.get(m)) for m in MODELS) + f" | {span} | {counts} |"
        )
        if interval and metric in ("field_accuracy", "rouge_l", "token_f1", "similarity"):
            verdicts.append(verdict(metric, interval, unit="folds"))
    if verdicts:
        lines += [
            "",
            "Across folds (paired bootstrap over folds, exact sign test; few folds give wide intervals):",
            "",
        ]
        lines += [f"- {line}" for line in verdicts]
    lines += [
        "",
        "## Folds",
        "",
        "| fold | documents train / val / test | records train / val / test | evaluated | steps | "
        + " | ".join(f"{m} tuned (Δ)" for m in ("rouge_l", "token_f1", "perplexity"))
        + " |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for f in folds:
        docs = " / ".join(str(len(f["documents"][s])) for s in SPLITS)
        recs = " / ".join(str(f["records"][s]) for s in SPLITS)
        cells = [
            _cell(f["metrics"]["tuned"].get(m), f["metrics"]["delta"].get(m))
            for m in ("rouge_l", "token_f1", "perplexity")
        ]
        lines.append(
            f"| {f['fold']} | {docs} | {recs} | {f['evaluated']} | {f['steps']} | " + " | ".join(cells) + " |"
        )
    if summary["notes"]:
        lines += ["", "## Notes", "", *[f"- {n}" for n in summary["notes"]]]
    lines += ["", "Each fold's full report: `fold-<i>/eval/report.md`.", ""]
    return "\n".join(lines)


def _pool(data: Any) -> Any:
    from datasets import concatenate_datasets

    return concatenate_datasets([data[s] for s in SPLITS])


def _validation_share(config: DsforgeConfig) -> float:
    ratios = config.split.ratios
    return ratios.validation / (ratios.train + ratios.validation) if ratios.validation > 0 else 0.1


def _pm(stats: dict[str, float] | None) -> str:
    return "–" if not stats else f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def _cell(value: Any, delta: Any) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.3f} ({delta:+.3f})" if isinstance(delta, (int, float)) else f"{value:.3f}"
