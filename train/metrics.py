"""Text metrics for generated answers against references, and the table that lists them.

A metric is one registration: `@register_metric("name", label="report row")`
on a `(prediction, reference) -> float` function (averaged over examples), or
with `corpus=True` on a `(predictions, references) -> float` one. It then
appears in metrics.json, predictions.jsonl, report.md, metrics.png and the
`dsforge eval` table. Columns measured by the evaluation itself (schema
validity, perplexities, the judge) sit in the same table, so the report reads
its rows from one place. An installed package adds a metric with a
`dsforge.plugins` module, or a `dsforge.metrics` entry point naming a `Metric`.

Exact match and token F1 follow the SQuAD definitions (lower-case, drop
punctuation and English articles, split on whitespace). ROUGE-L comes from
`rouge-score`, BLEU from `sacrebleu` (corpus level, its default 13a tokeniser);
`evaluate.load` would fetch scripts from the network, these never do.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ValidationError

from core.registry import Registry
from schemas.base import ExtractionSchema

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
STRUCTURED_OUTPUT = "{item_json}"

ExampleScore = Callable[[str, str], float]
CorpusScore = Callable[[Sequence[str], Sequence[str]], float]


@dataclass(frozen=True)
class Metric:
    """A row of the report. `score` is None for columns the evaluation measures itself."""

    name: str
    label: str
    score: ExampleScore | CorpusScore | None = None
    corpus: bool = False
    # Multiplier that puts the value on 0–1 for metrics.png; None keeps it off the chart.
    chart_scale: float | None = 1.0


METRICS: Registry[Metric] = Registry("metric", group="dsforge.metrics")


def register_metric(
    name: str, *, label: str, corpus: bool = False, chart_scale: float | None = 1.0
) -> Callable[[Any], Any]:
    """Decorator: add `fn` to the table; re-registering a name replaces it in place."""

    def decorate(fn: Any) -> Any:
        METRICS.register(name, Metric(name, label, score=fn, corpus=corpus, chart_scale=chart_scale))
        return fn

    return decorate


def unregister_metric(name: str) -> None:
    METRICS.unregister(name)


def metrics() -> list[Metric]:
    """Every report row, in registration order."""
    return METRICS.values()


def text_metrics() -> list[Metric]:
    """The rows computed from predictions and references alone."""
    return [m for m in metrics() if m.score is not None]


def register_measured(name: str, label: str, chart_scale: float | None = None) -> None:
    """A column the evaluation measures itself (per-prompt values it passes to `aggregate`, a perplexity…)."""
    METRICS.register(name, Metric(name=name, label=label, chart_scale=chart_scale))


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


@register_metric("exact_match", label="exact match")
def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


@register_metric("token_f1", label="token F1")
def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@cache
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


@register_metric("rouge_l", label="ROUGE-L F")
def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence), Porter-stemmed tokens."""
    return _rouge().score(reference, prediction)["rougeL"].fmeasure


@register_metric("bleu", label="BLEU (0–100)", corpus=True, chart_scale=0.01)
def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacreBLEU on the whole set (0–100); sentence BLEU is too noisy to average."""
    import sacrebleu

    if not predictions:
        return 0.0
    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score


register_measured("schema_valid", "schema-valid share", chart_scale=1.0)
register_measured("perplexity", "perplexity on references ↓")
register_measured("probe_perplexity", "general-text perplexity ↓ (forgetting probe)")
register_measured("judge", "LLM judge (1–5)")


def structured_templates(schema: type[ExtractionSchema]) -> set[str]:
    """Templates whose whole output is the item's JSON: their answers can be validated."""
    return {t.name for t in schema.templates if t.output.strip() == STRUCTURED_OUTPUT}


def schema_valid(output: str, evidence: str, schema: type[ExtractionSchema]) -> bool:
    """The answer parses as a JSON object and the schema accepts it for this evidence."""
    try:
        parsed = json.loads(output.strip())
    except ValueError:
        return False
    if not isinstance(parsed, dict):
        return False
    try:
        schema.validate_item(evidence=evidence, attributes=parsed)
    except (ValidationError, TypeError, ValueError):
        return False
    return True


def example_scores(prediction: str, reference: str) -> dict[str, float]:
    """Every per-example metric of one answer."""
    return {m.name: m.score(prediction, reference) for m in text_metrics() if not m.corpus}


def aggregate(
    predictions: Sequence[str],
    references: Sequence[str],
    valid: Sequence[bool | None] | None = None,
    measured: dict[str, Sequence[float | None]] | None = None,
) -> dict[str, float | int | None]:
    """Mean of the per-example scores, the corpus scores, and the schema-valid share where it applies.

    `measured`: per-example values of measured columns (None where an example has none), averaged
    over the examples that have one; `<name>_n` counts them.
    """
    n = len(predictions)
    scores = [example_scores(p, r) for p, r in zip(predictions, references, strict=True)]
    result: dict[str, float | int | None] = {"n": n}
    for m in text_metrics():
        if not n:
            result[m.name] = None
        elif m.corpus:
            result[m.name] = m.score(predictions, references)
        else:
            result[m.name] = sum(s[m.name] for s in scores) / n
    checked = [v for v in (valid or []) if v is not None]
    result["schema_valid"] = sum(checked) / len(checked) if checked else None
    result["schema_checked"] = len(checked)
    for name, values in (measured or {}).items():
        present = [float(v) for v in values if v is not None]
        result[name] = sum(present) / len(present) if present else None
        result[f"{name}_n"] = len(present)
    return result
