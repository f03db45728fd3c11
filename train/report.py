"""The evaluation report: what the fine-tune bought, in one markdown page and a few plots."""

from __future__ import annotations

from typing import Any

from core import atomic
from core.layout import TrainPaths
from core.plots import confusion_png, grouped_bars_png
from train.card_sections import Hyperparameters
from train.forgetting import report_lines
from train.metrics import metrics
from train.preference import markdown_section as human_section
from train.run_card import RunCard, plot_losses, render_markdown

SNIPPET = 400


def write_report(result: dict[str, Any], card: RunCard, paths: TrainPaths) -> None:
    """report.md plus metrics.png, strata.png and loss.png beside it."""
    folder = paths.evaluation
    folder.root.mkdir(parents=True, exist_ok=True)
    _bar_chart(result, folder.metrics_png)
    _strata_chart(result, folder.strata_png)
    _confusion_charts(result, folder.root)
    has_loss = plot_losses(card.log_history, folder.loss_png)
    atomic.write_text(paths.report, render(result, card, has_loss))


def render(result: dict[str, Any], card: RunCard, has_loss: bool = True) -> str:
    base, tuned = result["overall"]["base"], result["overall"]["tuned"]
    loading = result.get("loading", {})
    lines = [
        "# Evaluation: base vs fine-tuned",
        "",
        f"- test records: {result['n_test']} (held out; never seen in training or early stopping)",
        f"- base model: `{card.base_model.ref}`; {_tuned_summary(card, result.get('tuned_model'))}",
        f"- decoding: greedy, batched, at most {loading.get('max_new_tokens')} new tokens; base weights "
        f"{loading.get('weights')} on {loading.get('device')}; base = {_base_is(result.get('tuned_model'))}",
        *_tuned_line(result.get("tuned_model")),
        "",
        *_verdict(result),
        "## Metrics",
        "",
        "| metric | base | tuned | Δ | 95 % interval of Δ | prompts better / worse |",
        "| --- | ---: | ---: | ---: | :---: | :---: |",
    ]
    found = result.get("intervals", {})
    for metric in metrics():
        b, t = base.get(metric.name), tuned.get(metric.name)
        if b is None and t is None:
            continue
        interval = found.get(metric.name, {})
        lines.append(
            f"| {metric.label} | {_f(b)} | {_f(t)} | {_delta(b, t)} | {_span(interval)} | {_counts(interval)} |"
        )
    if base.get("schema_checked"):
        lines.append("")
        lines.append(
            f"Schema validity is measured on the {base['schema_checked']} records whose answer is the item's "
            f"JSON (templates: {', '.join(result['structured_templates'])})."
        )
    if found:
        lines += [
            "",
            f"Intervals: paired percentile bootstrap of tuned − base over the test prompts "
            f"({_first(found, 'resamples')} resamples, seed {_first(found, 'seed')}); "
            "better / worse counts the prompts each model scored higher on (ties left out), and the exact "
            "sign test on them decides a verdict together with the interval. Perplexities are corpus-level: "
            "no interval.",
        ]
    lines += [
        "",
        "![metrics](metrics.png)",
        "",
        *field_section(result),
        "## Forgetting probe",
        "",
        _probe_sentence(
            base.get("probe_perplexity"),
            tuned.get("probe_perplexity"),
            result.get("probe", {}),
            (result.get("forgetting") or {}).get("threshold", 0.05),
        ),
        *report_lines(
            {
                **result,
                "hyperparameters": {
                    "method": card.hyperparameters.trained_method,
                    "steps": card.steps,
                    "kl_to_base": card.hyperparameters.kl_to_base or 0.0,
                },
            },
            base.get("probe_perplexity"),
            tuned.get("probe_perplexity"),
        ),
        "",
        *human_section(result.get("human")),
        "## Per stratum",
        "",
        *_group_table(result["by_stratum"], "stratum"),
        "",
        "![per stratum](strata.png)",
        "",
        "## Per template",
        "",
        *_group_table(result["by_template"], "template"),
        "",
    ]
    if has_loss:
        lines += ["## Loss curves", "", "![loss](loss.png)", ""]
    lines += _examples("Best answers of the tuned model", result["examples"]["best"])
    lines += _examples("Worst answers of the tuned model", result["examples"]["worst"])
    if _is_merge(result.get("tuned_model")):
        lines += _merge_section(card)
    else:
        run_card = render_markdown(card).replace("# Run card", "## Run card", 1).replace("\n## ", "\n### ")
        lines += [run_card.replace("![loss curves](loss.png)\n", "")]
    return "\n".join(lines)


def _verdict(result: dict[str, Any]) -> list[str]:
    lines = result.get("verdict") or []
    return ["## Verdict", "", *[f"- {line}" for line in lines], ""] if lines else []


def field_section(result: dict[str, Any]) -> list[str]:
    """Per field: categorical fields' accuracy, macro F1 and per-value scores; free text's scores."""
    fields = result.get("fields") or {}
    notes = result.get("field_notes") or []
    if not fields and not notes:
        return []
    lines = ["## Field-level metrics", ""]
    if not fields:
        lines += ["No template's answer is the item's JSON or a single field: no field-level metrics.", ""]
    found = result.get("intervals", {})
    for name, entry in fields.items():
        b, t = entry["base"], entry["tuned"]
        if entry["kind"] == "categorical":
            acc, f1 = found.get(f"{name}.accuracy", {}), found.get(f"{name}.macro_f1", {})
            lines += [
                f"### `{name}` (categorical, {entry['n']} answers)",
                "",
                "| | base | tuned | Δ | 95 % interval of Δ |",
                "| --- | ---: | ---: | ---: | :---: |",
                f"| accuracy | {_f(b['accuracy'])} | {_f(t['accuracy'])} | {_delta(b['accuracy'], t['accuracy'])} | {_span(acc)} |",
                f"| macro F1 | {_f(b['macro_f1'])} | {_f(t['macro_f1'])} | {_delta(b['macro_f1'], t['macro_f1'])} | {_span(f1)} |",
                f"| unparseable answers | {b['unparseable']} | {t['unparseable']} | | |",
                "",
                "| value | support | precision base / tuned | recall base / tuned | F1 base / tuned |",
                "| --- | ---: | :---: | :---: | :---: |",
            ]
            for value, scores in t["per_value"].items():
                other = b["per_value"][value]
                lines.append(
                    f"| {value} | {scores['support']} | {_f(other['precision'])} / {_f(scores['precision'])} | "
                    f"{_f(other['recall'])} / {_f(scores['recall'])} | {_f(other['f1'])} / {_f(scores['f1'])} |"
                )
            lines += ["", f"![{name} confusion](confusion-{name}.png)", ""]
        else:
            lines += [
                f"- `{name}` (free text, {entry['n']} answers): token F1 {_f(b['token_f1'])} → {_f(t['token_f1'])}, "
                f"ROUGE-L {_f(b['rouge_l'])} → {_f(t['rouge_l'])}; unparseable {b['unparseable']} → {t['unparseable']}",
                "",
            ]
    lines += [f"- {note}" for note in notes]
    return [*lines, ""] if notes else lines


def _span(interval: dict[str, Any]) -> str:
    if interval.get("low") is None:
        return "–"
    return f"[{interval['low']:+.3f}, {interval['high']:+.3f}]"


def _counts(interval: dict[str, Any]) -> str:
    return f"{interval['wins']} / {interval['losses']}" if "wins" in interval else "–"


def _first(found: dict[str, Any], key: str) -> Any:
    return next(iter(found.values())).get(key)


def _is_merge(tuned: dict[str, Any] | None) -> bool:
    return bool(tuned) and tuned["card"] == "merge"


def _tuned_summary(card: RunCard, tuned: dict[str, Any] | None) -> str:
    hp = card.hyperparameters
    if _is_merge(tuned):
        return f"tuned: {hp.mode} of {len(hp.inputs or [])} adapters, `{card.fingerprint}`"
    return f"adapter: {hp.trained_method}{_rank(hp)}, {card.steps} steps, run `{card.fingerprint}`"


def _merge_section(card: RunCard) -> list[str]:
    """A merge trained nothing: its section names what went in (each input's lineage is in merge.json)."""
    hp = card.hyperparameters
    weights = hp.weights or [None] * len(hp.inputs or [])
    return [
        "## Merge",
        "",
        f"- method: {hp.mode}, density {hp.density}, made {card.started_at}",
        f"- datasets merged from: {', '.join(f'`{f}`' for f in card.dataset.merged_from or [])}",
        "",
        "| input | weight |",
        "| --- | ---: |",
        *[
            f"| `{path}` | {'equal' if weight is None else weight} |"
            for path, weight in zip(hp.inputs or [], weights, strict=False)
        ],
        "",
    ]


def _base_is(tuned: dict[str, Any] | None) -> str:
    if tuned and tuned["kind"] == "model":
        return "the base model's own weights, the tuned model a separate folder"
    return "the same model, adapter disabled"


def _tuned_line(tuned: dict[str, Any] | None) -> list[str]:
    """Say which folder was evaluated when it is not the project's own adapter."""
    if not tuned:
        return []
    what = "merged full model, loaded on its own" if tuned["kind"] == "model" else "adapter on the base"
    card = "merge.json and README.md" if tuned["card"] == "merge" else "the run.json beside it"
    return [f"- tuned model: `{tuned['path']}` ({what}); its lineage is in {card}"]


def _rank(hp: Hyperparameters) -> str:
    method = hp.training_method
    return f" r={hp.lora_r}" if method and method.lora_family else ""


def _probe_sentence(base: float | None, tuned: float | None, probe: dict[str, Any], threshold: float) -> str:
    if base is None or tuned is None:
        return "not measured"
    change = (tuned / base - 1) * 100
    verdict = "no sign of forgetting" if change <= threshold * 100 else "general language modelling got worse"
    source = (
        "the opening of *Alice's Adventures in Wonderland*, public domain"
        if str(probe.get("file", "")).endswith("general_probe.txt")
        else f"`{probe.get('file')}`"
    )
    return (
        f"Perplexity on general text ({source}; sha256 `{probe.get('sha256', '')[:12]}`): "
        f"base {base:.2f}, tuned {tuned:.2f} ({change:+.1f}%): {verdict} (threshold {threshold * 100:+.1f}%)."
    )


def _group_table(groups: dict[str, dict[str, Any]], label: str) -> list[str]:
    columns = ["ROUGE-L base", "ROUGE-L tuned", "Δ", "token F1 base", "token F1 tuned"]
    columns += ["similarity base", "similarity tuned", "schema-valid base", "schema-valid tuned"]
    columns += ["field acc. base", "field acc. tuned (n)"]
    header = f"| {label} | n | " + " | ".join(columns) + " |"
    lines = [header, "| --- " + "| ---: " * (len(columns) + 1) + "|"]
    for name, stats in groups.items():
        b, t = stats["base"], stats["tuned"]
        cells = [_f(b["rouge_l"]), _f(t["rouge_l"]), _delta(b["rouge_l"], t["rouge_l"])]
        cells += [_f(b["token_f1"]), _f(t["token_f1"]), _f(b.get("similarity")), _f(t.get("similarity"))]
        cells += [_f(b["schema_valid"]), _f(t["schema_valid"])]
        counted = t.get("field_accuracy_n")
        cells += [
            _f(b.get("field_accuracy")),
            f"{_f(t.get('field_accuracy'))}" + (f" ({counted})" if counted else ""),
        ]
        lines.append(f"| {name} | {b['n']} | " + " | ".join(cells) + " |")
    return lines


def _examples(title: str, examples: list[dict[str, Any]]) -> list[str]:
    lines = [f"## {title}", ""]
    if not examples:
        return lines + ["(none)", ""]
    for i, e in enumerate(examples, 1):
        lines += [
            f"### {i}. `{e['id']}` ({e['stratum']}, {e['template']}): ROUGE-L base {e['base_rouge_l']:.3f}, "
            f"tuned {e['tuned_rouge_l']:.3f}",
            "",
            f"**Instruction:** {_cell(e['instruction'])}",
            "",
            f"**Input:** {_cell(e['input'])}",
            "",
            "| reference | base | tuned |",
            "| --- | --- | --- |",
            f"| {_cell(e['reference'])} | {_cell(e['base'])} | {_cell(e['tuned'])} |",
            "",
        ]
    return lines


def _bar_chart(result: dict[str, Any], path: Any) -> None:
    base, tuned = result["overall"]["base"], result["overall"]["tuned"]
    charted = [m for m in metrics() if m.chart_scale is not None and base.get(m.name) is not None]
    labels = [m.label.split(" (")[0] for m in charted]
    _bars(
        labels,
        {
            "base": [base[m.name] * m.chart_scale for m in charted],
            "tuned": [tuned[m.name] * m.chart_scale for m in charted],
        },
        "score (BLEU / 100)",
        path,
    )


def _confusion_charts(result: dict[str, Any], folder: Any) -> None:
    """confusion-<field>.png: reference value × answered value, base and tuned side by side."""
    for name, entry in (result.get("fields") or {}).items():
        if entry["kind"] != "categorical":
            continue
        matrices = {model: entry[model]["confusion"] for model in ("base", "tuned")}
        atomic.write_bytes(folder / f"confusion-{name}.png", confusion_png(name, matrices))


def _strata_chart(result: dict[str, Any], path: Any) -> None:
    groups = result["by_stratum"]
    names = list(groups)
    _bars(
        names,
        {m: [groups[g][m]["rouge_l"] or 0.0 for g in names] for m in ("base", "tuned")},
        "ROUGE-L F",
        path,
    )


def _bars(labels: list[str], series: dict[str, list[float]], ylabel: str, path: Any) -> None:
    atomic.write_bytes(path, grouped_bars_png(labels, series, ylabel))


def _f(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _delta(base: Any, tuned: Any) -> str:
    if not isinstance(base, float) or not isinstance(tuned, float):
        return "–"
    return f"{tuned - base:+.3f}"


def _cell(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > SNIPPET:
        text = text[:SNIPPET] + "…"
    return text.replace("|", "\\|") or "(empty)"
