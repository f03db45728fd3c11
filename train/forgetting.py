"""The forgetting verdict of `dsforge eval`: how much worse the tuned model models general text.

The probe (general English prose, far from any fine-tuning domain) is scored by
perplexity, greedily and deterministically: any change is the adapter's doing, not
noise, so a small threshold is meaningful. Other adapters of the same base (the same
data trained without replay, another method) can be probed beside the run, so the
report shows what a safeguard bought on the very same probe.
"""

from __future__ import annotations

import logging
from typing import Any

from core.errors import TrainError
from core.layout import ADAPTER_FOLDER, run_card_beside
from train.likelihood import perplexity, probe_windows, sequence_nll

log = logging.getLogger(__name__)


def verdict(base_ppl: float | None, tuned_ppl: float | None, threshold: float) -> dict[str, Any]:
    """The relative change of probe perplexity, and a warning naming it when it exceeds the threshold."""
    if base_ppl is None or tuned_ppl is None:
        return {"change": None, "threshold": threshold, "warning": None}
    change = tuned_ppl / base_ppl - 1
    warning = None
    if change > threshold:
        warning = (
            f"forgetting: general-text perplexity rose {change:+.1%} ({base_ppl:.2f} → {tuned_ppl:.2f}), "
            f"over eval.forgetting_threshold {threshold:.1%}; mix general data back in with train.replay "
            "(e.g. 0.1), or train fewer steps or with a lower learning rate."
        )
        log.warning(warning)
    return {"change": change, "threshold": threshold, "warning": warning}


def probe_adapters(config: Any, card: Any, opts: Any, probe_text: str) -> list[dict[str, Any]]:
    """Probe perplexity of each of `eval.probe_adapters`, with how its run card says it was trained."""
    from peft import PeftModel

    from train.base_models import resolve_base_model
    from train.loading import load_model, load_tokenizer, pick_hardware
    from train.run_card import read_run_card

    base = resolve_base_model(card.base_model.ref, config.project_root)
    hardware = pick_hardware(card.hyperparameters.compute_dtype or "auto")
    tokenizer = load_tokenizer(base.path)
    windows = probe_windows(tokenizer, probe_text, opts.probe_window)
    results = []
    # Another build's adapter lives outside this project by nature; it is only read (safetensors).
    for folder in ((config.project_root / f).resolve() for f in opts.probe_adapters):
        adapter = folder / ADAPTER_FOLDER if (folder / ADAPTER_FOLDER / "adapter_config.json").is_file() else folder
        if not (adapter / "adapter_config.json").is_file():
            raise TrainError(
                f"eval.probe_adapters: no adapter in {folder}; give a train folder (<output>/train) or "
                "the adapter folder inside it."
            )
        other = read_run_card(run_card_beside(adapter))
        if other and other.base_model.ref != card.base_model.ref:
            raise TrainError(
                f"eval.probe_adapters: {folder} was trained on {other.base_model.ref!r}, not "
                f"{card.base_model.ref!r}; only adapters of the same base are comparable on the probe."
            )
        model = load_model(base.path, hardware, load_in_4bit=False, for_training=False)
        model = PeftModel.from_pretrained(model, adapter).eval()
        nll, n = sequence_nll(model, windows, 1, tokenizer.pad_token_id)
        hp = other.hyperparameters if other else None
        results.append(
            {
                "adapter": str(adapter),
                "method": hp.trained_method if hp else None,
                "replay": (0.0 if hp.replay is None else hp.replay) if hp else None,
                "kl_to_base": (hp.kl_to_base or 0.0) if hp else None,
                "steps": other.steps if other else None,
                "probe_perplexity": perplexity(nll, n),
            }
        )
        del model
    return results


def report_lines(result: dict[str, Any], base_ppl: float | None, tuned_ppl: float | None) -> list[str]:
    """The report's lines after the probe sentence: the warning, the replay used, other adapters."""
    forgetting = result.get("forgetting") or {}
    lines: list[str] = []
    if forgetting.get("warning"):
        lines += ["", f"**Warning — {forgetting['warning']}**"]
    replay = forgetting.get("replay") or {}
    if replay.get("records"):
        lines += [
            "",
            f"Training mixed {replay['records']} general replay records into the training split "
            f"(train.replay {replay['ratio']}, {replay.get('share', 0):.1%} of the mixture; "
            f"`{replay.get('file')}`, sha256 `{str(replay.get('sha256', ''))[:12]}`).",
        ]
    elif forgetting:
        lines += ["", "Trained without replay (train.replay 0)."]
    kl = (result.get("hyperparameters") or {}).get("kl_to_base")
    if kl:
        lines += [
            "",
            f"Training held the model near the base on general text with train.kl_to_base {kl:g} "
            "(KL to the adapter-disabled base on one packaged general sequence a step).",
        ]
    others = forgetting.get("other_adapters") or []
    if others and base_ppl:
        hp = result.get("hyperparameters") or {}
        lines += [
            "",
            "| adapter | method | replay | KL to base | steps | probe perplexity | vs base |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
            f"| base model | – | – | – | – | {base_ppl:.3f} | – |",
        ]
        if tuned_ppl is not None:
            lines.append(
                f"| this run | {hp.get('method', '–')} | {replay.get('ratio', 0.0)} | {hp.get('kl_to_base', 0.0)} | "
                f"{hp.get('steps', '–')} | "
                f"{tuned_ppl:.3f} | {tuned_ppl / base_ppl - 1:+.1%} |"
            )
        for other in others:
            ppl = other["probe_perplexity"]
            lines.append(
                f"| `{other['adapter']}` | {other.get('method') or '–'} | {other.get('replay', '–')} | "
                f"{other.get('kl_to_base', '–')} | {other.get('steps', '–')} | {ppl:.3f} | {ppl / base_ppl - 1:+.1%} |"
            )
    return lines
