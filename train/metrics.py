"""Text metrics for generated answers against references, from the maintained libraries.

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
from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import ValidationError

from schemas.base import ExtractionSchema

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
STRUCTURED_OUTPUT = "{item_json}"


def normalize(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


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


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence), Porter-stemmed tokens."""
    return _rouge().score(reference, prediction)["rougeL"].fmeasure


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """sacreBLEU on the whole set (0–100); sentence BLEU is too noisy to average."""
    import sacrebleu

    if not predictions:
        return 0.0
    return sacrebleu.corpus_bleu(list(predictions), [list(references)]).score


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
    return {
        "exact_match": exact_match(prediction, reference),
        "token_f1": token_f1(prediction, reference),
        "rouge_l": rouge_l(prediction, reference),
    }


def aggregate(
    predictions: Sequence[str],
    references: Sequence[str],
    valid: Sequence[bool | None] | None = None,
) -> dict[str, float | int | None]:
    """Mean of the per-example scores, corpus BLEU, and the schema-valid share where it applies."""
    n = len(predictions)
    scores = [example_scores(p, r) for p, r in zip(predictions, references, strict=True)]
    result: dict[str, float | int | None] = {"n": n}
    for key in ("exact_match", "token_f1", "rouge_l"):
        result[key] = sum(s[key] for s in scores) / n if n else None
    result["bleu"] = corpus_bleu(predictions, references) if n else None
    checked = [v for v in (valid or []) if v is not None]
    result["schema_valid"] = sum(checked) / len(checked) if checked else None
    result["schema_checked"] = len(checked)
    return result
