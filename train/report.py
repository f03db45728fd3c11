"""The evaluation report: what the fine-tune bought, in one markdown page and a few plots."""

from __future__ import annotations

from typing import Any

from core import atomic
from core.layout import TrainPaths
from core.plots import grouped_bars_png
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
        "## Metrics",
        "",
        "| metric | base | tuned | Δ |",
        "| --- | ---: | ---: | ---: |",
    ]
    for metric in metrics():
        b, t = base.get(metric.name), tuned.get(metric.name)
        if b is None and t is None:
            continue
        lines.append(f"| {metric.label} | {_f(b)} | {_f(t)} | {_delta(b, t)} |")
    if base.get("schema_checked"):
        lines.append("")
        lines.append(
            f"Schema validity is measured on the {base['schema_checked']} records whose answer is the item's "
            f"JSON (templates: {', '.join(result['structured_templates'])})."
        )
    lines += [
        "",
        "![metrics](metrics.png)",
        "",
        "## Forgetting probe",
        "",
        _probe_sentence(
            base.get("probe_perplexity"),
            tuned.get("probe_perplexity"),
            result.get("probe", {}),
            (result.get("forgetting") or {}).get("threshold", 0.05),
        ),
        *report_lines(
            {**result, "hyperparameters": {"method": card.hyperparameters.trained_method, "steps": card.steps}},
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
        *[f"| `{path}` | {'equal' if weight is None else weight} |" for path, weight in zip(hp.inputs or [], weights, strict=False)],
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
    columns += ["schema-valid base", "schema-valid tuned"]
    header = f"| {label} | n | " + " | ".join(columns) + " |"
    lines = [header, "| --- " + "| ---: " * (len(columns) + 1) + "|"]
    for name, stats in groups.items():
        b, t = stats["base"], stats["tuned"]
        cells = [_f(b["rouge_l"]), _f(t["rouge_l"]), _delta(b["rouge_l"], t["rouge_l"])]
        cells += [_f(b["token_f1"]), _f(t["token_f1"]), _f(b["schema_valid"]), _f(t["schema_valid"])]
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
