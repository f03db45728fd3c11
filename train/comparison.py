"""Tuned against base, metric by metric: paired intervals, sign tests and the report's verdict lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from train import metrics as M
from train.field_metrics import FieldScoring, macro_f1
from train.paired_intervals import corpus_interval, paired_interval, small_split_warning, verdict

MODELS = ("base", "tuned")
# The headline rows of the verdict, in this order after the categorical fields' accuracies.
HEADLINE = ("item_exact_match", "exact_match", "token_f1", "rouge_l", "similarity")


def intervals(
    rows: Sequence[dict[str, Any]],
    predictions: dict[str, Sequence[str]],
    measured: dict[str, dict[str, Sequence[float | None]]],
    fields: FieldScoring,
    scored: dict[str, list[Any]],
) -> dict[str, Any]:
    """Every metric's tuned − base with its interval: text metrics, measured columns and each field."""
    references = [row["output"] for row in rows]
    out: dict[str, Any] = {}
    for metric in M.text_metrics():
        if metric.corpus:
            out[metric.name] = corpus_interval(
                len(rows),
                _corpus(metric, predictions["base"], references),
                _corpus(metric, predictions["tuned"], references),
            )
        else:
            base = [metric.score(p, r) for p, r in zip(predictions["base"], references, strict=True)]
            tuned = [metric.score(p, r) for p, r in zip(predictions["tuned"], references, strict=True)]
            out[metric.name] = paired_interval(base, tuned)
    for name in measured["base"]:
        pairs = [
            (b, t)
            for b, t in zip(measured["base"][name], measured["tuned"][name], strict=True)
            if b is not None
        ]
        if pairs:
            out[name] = paired_interval([b for b, _ in pairs], [t for _, t in pairs])
    for name, spec in fields.specs.items():
        if not spec.categorical:
            continue
        carrying = fields.carrying(rows, name)
        if not carrying:
            continue
        out[f"{name}.accuracy"] = paired_interval(
            [float(scored["base"][i].correct[name]) for i in carrying],
            [float(scored["tuned"][i].correct[name]) for i in carrying],
        )
        truth = [scored["base"][i].expected[name] for i in carrying]

        def f1_of(model: str, name: str = name, spec: Any = spec, truth: list[Any] = truth) -> Any:
            said = [scored[model][i].predicted[name] for i in carrying]
            return lambda picks: macro_f1([truth[j] for j in picks], [said[j] for j in picks], spec)

        out[f"{name}.macro_f1"] = corpus_interval(len(carrying), f1_of("base"), f1_of("tuned"))
    return out


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """The report's first lines: a small-split warning where due, then one verdict per headline metric."""
    lines = []
    warning = small_split_warning(result["n_test"])
    if warning:
        lines.append(warning)
    found = result.get("intervals", {})
    labels = {m.name: m.label for m in M.metrics()}
    categorical = [name for name, entry in result.get("fields", {}).items() if entry["kind"] == "categorical"]
    for name in categorical:
        if f"{name}.accuracy" in found:
            lines.append(verdict(f"{name} accuracy", found[f"{name}.accuracy"]))
    for name in HEADLINE:
        if name in found:
            lines.append(verdict(labels.get(name, name), found[name]))
    return lines


def _corpus(metric: Any, predictions: Sequence[str], references: Sequence[str]) -> Any:
    return lambda picks: metric.score([predictions[i] for i in picks], [references[i] for i in picks])
