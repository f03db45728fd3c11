"""Did the tuned model pick the right label? Field-level scores for answers that render schema fields.

A template whose output is `{item_json}` asks for the whole item; one whose output is a single
`{field}` asks for that field. Their answers are parsed back (the first JSON object in the answer,
or the answer itself for one field) and each field is scored on its own: categorical fields
(`Literal`, enums, booleans) by accuracy, per-value precision / recall / F1, macro F1 and a
confusion matrix; free-text fields by token F1 and ROUGE-L; the whole item by exact match. An answer that does not parse counts as wrong for every field it should
have carried, and is counted apart. Templates that render fields inside other words, or none, are
skipped with a note that says so.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.base import ExtractionSchema
from train.metrics import normalize, register_measured, rouge_l, token_f1

UNPARSEABLE = "(unparseable)"
OTHER = "(other)"
ITEM_JSON = "item_json"

register_measured("field_accuracy", "field accuracy (categorical fields)", chart_scale=1.0)
register_measured("item_exact_match", "whole-item exact match", chart_scale=1.0)


@dataclass(frozen=True)
class RenderedFields:
    """What one template's answer carries: the schema fields, and whether it is the whole item."""

    template: str
    fields: tuple[str, ...]
    whole_item: bool


@dataclass(frozen=True)
class FieldSpec:
    name: str
    allowed: tuple[Any, ...]  # the values of a categorical field; () for free text

    @property
    def categorical(self) -> bool:
        return bool(self.allowed)


def rendered_fields(schema: type[ExtractionSchema]) -> tuple[dict[str, RenderedFields], list[str]]:
    """Templates whose output is the item's JSON or one field, and a note for each template skipped."""
    attributes = set(schema.attribute_fields())
    found: dict[str, RenderedFields] = {}
    notes = []
    for template in schema.templates:
        output = template.output.strip()
        names = [name for _, name, _, _ in string.Formatter().parse(output) if name]
        if output == "{" + ITEM_JSON + "}":
            found[template.name] = RenderedFields(template.name, tuple(schema.attribute_fields()), True)
        elif len(names) == 1 and output == "{" + names[0] + "}" and names[0] in attributes:
            found[template.name] = RenderedFields(template.name, (names[0],), False)
        elif attributes & set(names):
            notes.append(
                f"template {template.name!r} renders fields inside other text; field metrics skip it"
            )
        else:
            notes.append(f"template {template.name!r} renders no schema field; field metrics skip it")
    return found, notes


def field_specs(schema: type[ExtractionSchema]) -> dict[str, FieldSpec]:
    """Each attribute field with its allowed values where it is categorical."""
    specs = {}
    for name, spec in schema.attribute_json_schema().items():
        allowed: tuple[Any, ...] = ()
        if "enum" in spec:
            allowed = tuple(spec["enum"])
        elif "const" in spec:
            allowed = (spec["const"],)
        elif spec.get("type") == "boolean":
            allowed = (True, False)
        specs[name] = FieldSpec(name, allowed)
    return specs


def parse_answer(answer: str, rendered: RenderedFields) -> dict[str, Any] | None:
    """The fields an answer carries, or None when it does not parse as what the template asks for."""
    if not rendered.whole_item:
        text = answer.strip()
        return {rendered.fields[0]: text} if text else None
    parsed = _first_json_object(answer)
    return parsed if isinstance(parsed, dict) else None


def _first_json_object(answer: str) -> Any:
    text = answer.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    start = text.find("{")
    if start < 0:
        return None
    try:  # an object after a preamble ("JSON:", a code fence) still counts
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        return None


def categorical_value(value: Any, spec: FieldSpec) -> Any:
    """The allowed value an answer names (case, quotes and punctuation aside), else OTHER."""
    key = _key(value)
    for allowed in spec.allowed:
        if _key(allowed) == key:
            return allowed
    return OTHER


def _key(value: Any) -> str:
    return normalize(str(value).strip().strip("'\"`"))


@dataclass(frozen=True)
class ExampleFields:
    """One answer's field scores (None where its template carries no such field)."""

    parsed: bool
    correct: dict[str, bool]  # categorical fields: the right value
    text_scores: dict[str, dict[str, float]]  # free-text fields: token_f1, rouge_l
    predicted: dict[str, Any]  # categorical fields: the value named, OTHER or UNPARSEABLE
    expected: dict[str, Any]  # categorical fields: the reference's value (OTHER where it names none)
    item_exact: bool | None  # whole-item templates: every field right

    def accuracy(self) -> float | None:
        return sum(self.correct.values()) / len(self.correct) if self.correct else None


def score_example(
    answer: str, reference: str, rendered: RenderedFields, specs: dict[str, FieldSpec]
) -> ExampleFields:
    """Score one answer field by field against the reference the template rendered."""
    truth = parse_answer(reference, rendered) or {}
    got = parse_answer(answer, rendered)
    correct, text_scores, predicted, expected = {}, {}, {}, {}
    for name in rendered.fields:
        spec = specs[name]
        want = truth.get(name)
        if spec.categorical:
            named = UNPARSEABLE if got is None else categorical_value(got.get(name), spec)
            predicted[name] = named
            expected[name] = categorical_value(want, spec)
            correct[name] = named == expected[name]
        else:
            said = "" if got is None else str(got.get(name) or "")
            text_scores[name] = {
                "token_f1": token_f1(said, str(want or "")),
                "rouge_l": rouge_l(said, str(want or "")),
            }
    item_exact = None
    if rendered.whole_item:
        item_exact = got is not None and all(
            _key(got.get(name)) == _key(truth.get(name)) for name in rendered.fields
        )
    return ExampleFields(got is not None, correct, text_scores, predicted, expected, item_exact)


def label_table(truth: Sequence[Any], predicted: Sequence[Any], spec: FieldSpec) -> dict[str, Any]:
    """Accuracy, per-value precision / recall / F1, macro F1 over the allowed values, and the confusion matrix.

    Rows of the matrix are the reference values; its columns add OTHER and UNPARSEABLE answers.
    """
    n = len(truth)
    columns = [*spec.allowed, OTHER, UNPARSEABLE]
    pairs = Counter(zip(truth, predicted, strict=True))
    matrix = [[pairs[(want, got)] for got in columns] for want in spec.allowed]
    per_value = {}
    for value in spec.allowed:
        tp = pairs[(value, value)]
        said = sum(c for (_, got), c in pairs.items() if got == value)
        actual = sum(c for (want, _), c in pairs.items() if want == value)
        precision = tp / said if said else None
        recall = tp / actual if actual else None
        if not actual and not said:
            f1 = None  # a value nobody used: left out of the macro average
        elif tp == 0:
            f1 = 0.0
        else:
            f1 = 2 * precision * recall / (precision + recall)
        per_value[str(value)] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    scored = [v["f1"] for v in per_value.values() if v["f1"] is not None]
    return {
        "n": n,
        "accuracy": sum(pairs[(v, v)] for v in spec.allowed) / n if n else None,
        "macro_f1": sum(scored) / len(scored) if scored else None,
        "per_value": per_value,
        "confusion": {
            "rows": [str(v) for v in spec.allowed],
            "columns": [str(c) for c in columns],
            "counts": matrix,
        },
        "unparseable": sum(1 for p in predicted if p == UNPARSEABLE),
    }


def macro_f1(truth: Sequence[Any], predicted: Sequence[Any], spec: FieldSpec) -> float:
    """Macro F1 over the allowed values present in reference or answers (0.0 where none is)."""
    return label_table(truth, predicted, spec)["macro_f1"] or 0.0


def single_value_note(specs: dict[str, FieldSpec]) -> list[str]:
    """Say what a one-value Literal's scores can and cannot mean."""
    return [
        f"field {s.name!r} allows one value ({s.allowed[0]!r}): its accuracy only says whether the answer "
        "names it, and its macro F1 is that one value's F1"
        for s in specs.values()
        if len(s.allowed) == 1
    ]


@dataclass(frozen=True)
class FieldScoring:
    """The schema's scorable templates and fields, ready to score a model's answers."""

    rendered: dict[str, RenderedFields]
    specs: dict[str, FieldSpec]
    notes: tuple[str, ...]

    @classmethod
    def of(cls, schema: type[ExtractionSchema]) -> FieldScoring:
        rendered, notes = rendered_fields(schema)
        specs = field_specs(schema)
        return cls(rendered, specs, tuple(notes + single_value_note(specs)))

    def score(self, rows: Sequence[dict[str, Any]], answers: Sequence[str]) -> list[ExampleFields | None]:
        """Each answer's field scores; None for rows whose template carries no field."""
        return [
            score_example(answer, row["output"], self.rendered[row["template"]], self.specs)
            if row["template"] in self.rendered
            else None
            for row, answer in zip(rows, answers, strict=True)
        ]

    def measured(self, scored: Sequence[ExampleFields | None]) -> dict[str, list[float | None]]:
        """The per-example values of the registered field columns, for `metrics.aggregate`."""
        return {
            "field_accuracy": [s.accuracy() if s else None for s in scored],
            "item_exact_match": [
                float(s.item_exact) if s is not None and s.item_exact is not None else None for s in scored
            ],
        }

    def carrying(self, rows: Sequence[dict[str, Any]], name: str) -> list[int]:
        """Indices of the rows whose template's answer carries field `name`."""
        return [
            i
            for i, row in enumerate(rows)
            if name in getattr(self.rendered.get(row["template"]), "fields", ())
        ]

    def summary(
        self, rows: Sequence[dict[str, Any]], scored: dict[str, list[ExampleFields | None]]
    ) -> dict[str, Any]:
        """Per field and model: the label table (categorical) or mean text scores (free text), with n."""
        fields: dict[str, Any] = {}
        for name, spec in self.specs.items():
            carrying = self.carrying(rows, name)
            if not carrying:
                continue
            entry: dict[str, Any] = {
                "kind": "categorical" if spec.categorical else "free text",
                "n": len(carrying),
            }
            for model, examples in scored.items():
                picked = [examples[i] for i in carrying]
                if spec.categorical:
                    truth = [e.expected[name] for e in picked]
                    entry[model] = label_table(truth, [e.predicted[name] for e in picked], spec)
                else:
                    entry[model] = {
                        metric: sum(e.text_scores[name][metric] for e in picked) / len(picked)
                        for metric in ("token_f1", "rouge_l")
                    }
                    entry[model]["unparseable"] = sum(1 for e in picked if not e.parsed)
            fields[name] = entry
        return fields
