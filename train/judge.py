"""Optional LLM-as-judge: any configured langextract provider scores answers 1–5.

Off by default: a judge is slow, costs money on hosted providers, and its
scores drift with its own model; the string metrics stay the primary evidence.
"""

from __future__ import annotations

import re
from typing import Any

from core.config import ProviderConfig
from core.options.train import JudgeOptions

LOCAL_PREFIX = "dsforge-gguf:"
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
    import langextract as lx

    provider = _provider(options, fallback)
    key = provider.api_key()
    kwargs = dict(provider.params)
    if key:
        kwargs["api_key"] = key
    import builder.providers.llamacpp  # noqa: F401  (registers the in-process GGUF provider)

    model = lx.factory.create_model(
        lx.factory.ModelConfig(model_id=provider.model_id, provider_kwargs=kwargs)
    )
    limit = min(options.max_examples, len(rows))
    prompts = [
        PROMPT.format(
            instruction=r["instruction"], input=r["input"], reference=r["output"], answer=a or "(empty)"
        )
        for r, a in zip(rows[:limit], answers[:limit], strict=True)
    ]
    extra = {"json_schema": SCORE_SCHEMA} if provider.model_id.startswith(LOCAL_PREFIX) else {}
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
