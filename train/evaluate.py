"""`dsforge eval`: base and base + adapter on the held-out test split, side by side.

One model is loaded; the base answers with the adapter disabled, the tuned
model with it enabled, so both see the same weights, prompts and decoding
(batched, greedy). Generations are cached per batch: a killed evaluation
resumes where it stopped, and a finished one is not redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.schema_loader import load_schema
from core import atomic
from core.config import DsforgeConfig
from core.errors import TrainError
from core.layout import TrainPaths
from core.options.train import EvalOptions
from core.progress import progress_bar
from schemas.types import content_id
from train import metrics as M
from train import similarity  # noqa: F401  (registers the similarity metric)
from train.base_models import resolve_base_model
from train.comparison import intervals, verdict_lines
from train.data import load_splits, prompt_messages, to_prompt_completion
from train.field_metrics import FieldScoring
from train.forgetting import probe_adapters, verdict
from train.likelihood import batches, perplexity, probe_windows, sequence_nll
from train.loading import load_model, load_tokenizer, pick_hardware
from train.methods import unpadded_batches
from train.report import write_report
from train.run_card import RunCard
from train.tuned import TunedModel, eval_paths, locate_tuned

log = logging.getLogger(__name__)

PROBE_FILE = Path(__file__).resolve().parent / "data" / "general_probe.txt"
MODELS = ("base", "tuned")
# Bumped when scoring gains metrics: an evaluation scored before is scored again from its cached
# answers (perplexities are recomputed; nothing is generated again).
SCORING_VERSION = 2


@dataclass
class ModelOutputs:
    """What one model produced on the test split and the probe."""

    predictions: list[str]
    reference_perplexity: float
    reference_tokens: int
    probe_perplexity: float
    probe_tokens: int
    judge: list[float | None] = field(default_factory=list)


def evaluate(config: DsforgeConfig, show_progress: bool = True) -> dict[str, Any]:
    """Compare base and tuned models on the test split; write metrics, predictions and the report."""
    opts = config.eval
    paths = eval_paths(config)
    tuned = locate_tuned(config)
    card = tuned.card
    test = load_splits(paths.dataset)["test"]
    if opts.max_examples:
        test = test.select(range(min(opts.max_examples, len(test))))
    if len(test) == 0:
        raise TrainError("the test split is empty; re-split with a test ratio above 0.")
    rows = [dict(row) for row in test]
    probe_text = _probe_text(opts, config)
    fingerprint = eval_fingerprint(card, opts, rows, probe_text)
    previous = json.loads(paths.metrics.read_text("utf-8")) if paths.metrics.is_file() else {}
    if previous.get("fingerprint") == fingerprint:
        if previous.get("scoring", 1) == SCORING_VERSION and paths.report.is_file():
            log.info("evaluation already complete for %s; nothing to do", fingerprint)
            return previous
        log.info("scoring %s again with this release's metrics, from its cached answers", fingerprint)

    schema = load_schema(config.schema_ref, config.project_root)
    outputs, loading = run_models(
        card, opts, config, rows, probe_text, paths.evaluation.cache, fingerprint, show_progress, tuned
    )
    if opts.judge.enabled:
        from train.judge import judge_outputs

        for name in MODELS:
            outputs[name].judge = judge_outputs(opts.judge, config.provider, rows, outputs[name].predictions)
    result = score(rows, outputs, schema, opts)
    result["fingerprint"] = fingerprint
    result["scoring"] = SCORING_VERSION
    if previous.get("fingerprint") == fingerprint and "human" in previous:
        result["human"] = previous["human"]  # the reviewers' choices belong to these same answers
    result["run_fingerprint"] = card.fingerprint
    result["loading"] = loading
    result["probe"] = {"file": str(opts.probe_file or PROBE_FILE), "sha256": _sha(probe_text)}
    if opts.tuned_path is not None:
        result["tuned_model"] = {"path": str(tuned.path), "kind": tuned.kind, "card": tuned.source}
    overall = result["overall"]
    result["forgetting"] = verdict(
        overall["base"]["probe_perplexity"], overall["tuned"]["probe_perplexity"], opts.forgetting_threshold
    )
    replay = card.dataset.replay
    result["forgetting"]["replay"] = (
        replay.model_dump(mode="json") if replay else {"ratio": 0.0, "records": 0}
    )
    result["forgetting"]["other_adapters"] = (
        probe_adapters(config, card, opts, probe_text) if opts.probe_adapters else []
    )
    atomic.write_jsonl(paths.predictions, prediction_rows(rows, outputs, schema))
    write_report(result, card, paths)
    atomic.write_json(paths.metrics, result)
    return result


def eval_fingerprint(card: RunCard, opts: EvalOptions, rows: list[dict[str, Any]], probe: str) -> str:
    # The tuned model is named by its card's fingerprint, not by the folder it was read from.
    options = opts.model_dump(
        mode="json", exclude={"examples_shown", "judge", "probe_file", "human", "tuned_path"}
    )
    # Options added later count only off their defaults: an older evaluation stays valid.
    later = {"forgetting_threshold": 0.02, "probe_adapters": []}
    options = {k: v for k, v in options.items() if k not in later or v != later[k]}
    return content_id(card.fingerprint, options, [r["id"] for r in rows], _sha(probe), prefix="eval-")


def run_models(
    card: RunCard,
    opts: EvalOptions,
    config: DsforgeConfig,
    rows: list[dict[str, Any]],
    probe_text: str,
    cache_dir: Path,
    fingerprint: str,
    show_progress: bool,
    tuned: TunedModel | None = None,
) -> tuple[dict[str, ModelOutputs], dict[str, Any]]:
    """Generate and score perplexities with the adapter off (base) and on (tuned).

    A tuned full model (merged into the base) is a second model, loaded once the base is done.
    """
    from peft import PeftModel

    paths = TrainPaths(config.output_dir)
    tuned = tuned or TunedModel(paths.adapter, "adapter", card, "train")
    base = resolve_base_model(card.base_model.ref, config.project_root)
    hardware = pick_hardware(card.hyperparameters.compute_dtype or "auto")
    method = card.hyperparameters.training_method  # None for a merge: never 4-bit
    trained_4bit = method is not None and method.loads_4bit
    load_in_4bit = (
        opts.load_in_4bit if opts.load_in_4bit is not None else (trained_4bit and hardware.device == "cuda")
    )
    tokenizer = load_tokenizer(tuned.path if (tuned.path / "tokenizer_config.json").is_file() else base.path)
    model = load_model(base.path, hardware, load_in_4bit=load_in_4bit, for_training=False)
    if tuned.kind == "adapter":
        model = PeftModel.from_pretrained(model, tuned.path)
    model.eval()
    if unpadded_batches(model):
        opts = opts.model_copy(update={"batch_size": 1})
    windows = probe_windows(tokenizer, probe_text, opts.probe_window)
    references = [reference_ids(tokenizer, row) for row in rows]

    outputs = {}
    for name in MODELS:
        if tuned.kind == "model" and name == "tuned":
            del model
            model = load_model(tuned.path, hardware, load_in_4bit=load_in_4bit, for_training=False).eval()
        context = model.disable_adapter() if name == "base" and tuned.kind == "adapter" else nullcontext()
        with context:
            cache = cache_dir / f"{name}-{fingerprint}.jsonl"
            predictions = generate(model, tokenizer, rows, opts, cache, f"{name}: generating", show_progress)
            ref_nll, ref_n = sequence_nll(model, references, opts.batch_size, tokenizer.pad_token_id)
            probe_nll, probe_n = sequence_nll(
                model, windows, max(1, opts.batch_size // 4), tokenizer.pad_token_id
            )
        outputs[name] = ModelOutputs(
            predictions=predictions,
            reference_perplexity=perplexity(ref_nll, ref_n),
            reference_tokens=ref_n,
            probe_perplexity=perplexity(probe_nll, probe_n),
            probe_tokens=probe_n,
        )
    loading = {
        "device": hardware.device,
        "weights": "4-bit NF4" if load_in_4bit else str(hardware.compute_dtype),
        "max_new_tokens": opts.max_new_tokens,
        "decoding": "greedy",
    }
    return outputs, loading


def generate(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    opts: EvalOptions,
    cache: Path,
    label: str,
    show_progress: bool,
) -> list[str]:
    """Greedy answers for every row, batched by prompt length, resumable through `cache`."""
    import torch

    done = {r["id"]: r["prediction"] for r in atomic.read_jsonl(cache)} if cache.is_file() else {}
    prompts = {
        row["id"]: tokenizer.apply_chat_template(
            prompt_messages(row), tokenize=False, add_generation_prompt=True
        )
        for row in rows
    }
    todo = sorted((r["id"] for r in rows if r["id"] not in done), key=lambda i: len(prompts[i]))
    tokenizer.padding_side = "left"
    with progress_bar(show_progress) as progress:
        task = progress.add_task(label, total=len(rows), completed=len(rows) - len(todo))
        for batch in batches(todo, opts.batch_size):
            encoded = tokenizer(
                [prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.inference_mode():
                generated = model.generate(
                    **encoded,
                    max_new_tokens=opts.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = generated[:, encoded["input_ids"].shape[1] :]
            for record_id, text in zip(
                batch, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True
            ):
                done[record_id] = text.strip()
            atomic.write_jsonl(cache, [{"id": k, "prediction": v} for k, v in done.items()])
            progress.advance(task, len(batch))
    return [done[row["id"]] for row in rows]


def reference_ids(tokenizer: Any, row: dict[str, Any]) -> tuple[list[int], int]:
    """Prompt + reference answer as the model saw them in training; the answer's length scored."""
    pair = to_prompt_completion(row)
    prompt = tokenizer.apply_chat_template(pair["prompt"], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(pair["prompt"] + pair["completion"], tokenize=False)
    answer = full[len(prompt) :] if full.startswith(prompt) else row["output"]
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, len(answer_ids)


def score(
    rows: list[dict[str, Any]], outputs: dict[str, ModelOutputs], schema: Any, opts: EvalOptions
) -> dict[str, Any]:
    """Overall, per-stratum and per-template metrics for both models, with deltas, field-level
    scores, paired intervals and the verdict lines."""
    structured = M.structured_templates(schema)
    references = [r["output"] for r in rows]
    valid = {
        name: [
            M.schema_valid(p, r["input"], schema) if r["template"] in structured else None
            for p, r in zip(outputs[name].predictions, rows, strict=True)
        ]
        for name in MODELS
    }
    fields = FieldScoring.of(schema)
    scored = {name: fields.score(rows, outputs[name].predictions) for name in MODELS}
    measured = {name: fields.measured(scored[name]) for name in MODELS}
    overall: dict[str, dict[str, Any]] = {}
    for name in MODELS:
        out = outputs[name]
        stats = M.aggregate(out.predictions, references, valid[name], measured[name])
        stats["perplexity"] = out.reference_perplexity
        stats["probe_perplexity"] = out.probe_perplexity
        judged = [j for j in out.judge if j is not None]
        stats["judge"] = sum(judged) / len(judged) if judged else None
        overall[name] = stats
    deltas = {
        key: overall["tuned"][key] - overall["base"][key]
        for key in overall["base"]
        if isinstance(overall["base"][key], float) and isinstance(overall["tuned"][key], float)
    }
    predictions = {name: outputs[name].predictions for name in MODELS}
    result = {
        "n_test": len(rows),
        "overall": overall,
        "delta": deltas,
        "fields": fields.summary(rows, scored),
        "field_notes": list(fields.notes),
        "intervals": intervals(rows, predictions, _with_validity(measured, valid), fields, scored),
        "by_stratum": _grouped(rows, outputs, references, valid, measured, "stratum"),
        "by_template": _grouped(rows, outputs, references, valid, measured, "template"),
        "examples": _examples(rows, outputs, opts.examples_shown),
        "tokens": {
            name: {"reference": outputs[name].reference_tokens, "probe": outputs[name].probe_tokens}
            for name in MODELS
        },
        "structured_templates": sorted(structured),
    }
    result["verdict"] = verdict_lines(result)
    return result


def _with_validity(
    measured: dict[str, dict[str, list[float | None]]], valid: dict[str, list[bool | None]]
) -> dict[str, dict[str, list[float | None]]]:
    """The measured columns plus the schema-valid share, per prompt, for the paired intervals."""
    return {
        name: {"schema_valid": [None if v is None else float(v) for v in valid[name]], **measured[name]}
        for name in MODELS
    }


def prediction_rows(
    rows: list[dict[str, Any]], outputs: dict[str, ModelOutputs], schema: Any
) -> Iterator[dict[str, Any]]:
    structured = M.structured_templates(schema)
    for i, row in enumerate(rows):
        entry = {k: row[k] for k in ("id", "stratum", "template", "doc_id", "output")}
        for name in MODELS:
            prediction = outputs[name].predictions[i]
            entry[name] = prediction
            entry[f"{name}_scores"] = M.example_scores(prediction, row["output"])
            if row["template"] in structured:
                entry[f"{name}_schema_valid"] = M.schema_valid(prediction, row["input"], schema)
        yield entry


def _grouped(
    rows: list[dict[str, Any]],
    outputs: dict[str, ModelOutputs],
    references: list[str],
    valid: dict[str, list[bool | None]],
    measured: dict[str, dict[str, list[float | None]]],
    key: str,
) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[str(row[key])].append(i)
    result: dict[str, dict[str, Any]] = {}
    for group, indices in sorted(groups.items()):
        refs = [references[i] for i in indices]
        result[group] = {
            name: M.aggregate(
                [outputs[name].predictions[i] for i in indices],
                refs,
                [valid[name][i] for i in indices],
                {column: [values[i] for i in indices] for column, values in measured[name].items()},
            )
            for name in MODELS
        }
    return result


def _examples(
    rows: list[dict[str, Any]], outputs: dict[str, ModelOutputs], k: int
) -> dict[str, list[dict[str, Any]]]:
    """The tuned model's k best and k worst answers by ROUGE-L, with the base answer beside each."""
    scored = []
    for i, row in enumerate(rows):
        tuned = M.rouge_l(outputs["tuned"].predictions[i], row["output"])
        base = M.rouge_l(outputs["base"].predictions[i], row["output"])
        scored.append(
            {
                "id": row["id"],
                "stratum": row["stratum"],
                "template": row["template"],
                "instruction": row["instruction"],
                "input": row["input"],
                "reference": row["output"],
                "base": outputs["base"].predictions[i],
                "tuned": outputs["tuned"].predictions[i],
                "base_rouge_l": base,
                "tuned_rouge_l": tuned,
            }
        )
    ranked = sorted(
        scored, key=lambda e: (e["tuned_rouge_l"], e["tuned_rouge_l"] - e["base_rouge_l"], e["id"])
    )
    # On a small test split the two lists would overlap; split it in halves instead.
    n_best, n_worst = min(k, (len(ranked) + 1) // 2), min(k, len(ranked) // 2)
    return {"best": ranked[::-1][:n_best], "worst": ranked[:n_worst]}


def _probe_text(opts: EvalOptions, config: DsforgeConfig) -> str:
    path = config.resolve(opts.probe_file) if opts.probe_file else PROBE_FILE
    if not path.is_file():
        raise TrainError(
            f"eval.probe_file {path} does not exist; point it at a plain-text file or remove it."
        )
    return path.read_text("utf-8")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
