"""Optional LLM-as-judge: any provider the build can use (builder.providers.registry) scores answers 1–5.

Off by default: a judge is slow, costs money on hosted providers, and its
scores drift with its own model; the string metrics stay the primary evidence.
"""

from __future__ import annotations

import re
from typing import Any

from builder.providers.registry import create_model, provider_for
from core.config import ProviderConfig
from core.options.train import JudgeOptions

PROMPT = """You grade answers to a task against a reference answer.

Task: {instruction}

Input: {input}

Reference answer: {reference}

Answer to grade: {answer}

How well does the answer match the reference in meaning and correctness?
Reply with JSON {{"score": N}} where N is 1 (wrong or empty) to 5 (as good as the reference)."""
SCORE_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["score"],
}
_SCORE = re.compile(r"[1-5]")


def judge_outputs(
    options: JudgeOptions, fallback: ProviderConfig, rows: list[dict[str, Any]], answers: list[str]
) -> list[float | None]:
    """A 1–5 score per answer (None past `max_examples` or when the reply has no score)."""
    provider = _provider(options, fallback)
    model = create_model(provider, setting="provider" if options.model_id is None else "eval.judge")
    limit = min(options.max_examples, len(rows))
    prompts = [
        PROMPT.format(
            instruction=r["instruction"], input=r["input"], reference=r["output"], answer=a or "(empty)"
        )
        for r, a in zip(rows[:limit], answers[:limit], strict=True)
    ]
    registered = provider_for(provider.model_id)
    extra = {"json_schema": SCORE_SCHEMA} if registered and registered.json_schema_per_call else {}
    scores: list[float | None] = []
    for outputs in model.infer(prompts, **extra):
        scores.append(parse_score(outputs[0].output if outputs else ""))
    return scores + [None] * (len(rows) - limit)


def parse_score(reply: str | None) -> float | None:
    match = _SCORE.search(reply or "")
    return float(match.group(0)) if match else None


def _provider(options: JudgeOptions, fallback: ProviderConfig) -> ProviderConfig:
    if options.model_id is None:
        return fallback
    return ProviderConfig(model_id=options.model_id, params=options.params, api_key_env=options.api_key_env)
