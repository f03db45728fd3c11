"""Draft a schema from the user's documents: two constrained calls, quotes re-checked, the result loaded.

1. The model reads a few documents and proposes the item, the task and the fields.
2. It extracts the items of one excerpt dsforge cut from the longest document (so the
   example's text is the user's own), under a JSON schema built from its proposal.
3. Each quote is re-checked against the excerpt (builder.draft.quotes); none left → refused.
4. The rendered module is loaded as `dsforge build` would load it, so a draft that is
   returned is valid Python and a valid ExtractionSchema; nothing is written here.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from builder.draft.prompts import example_prompt, schema_prompt
from builder.draft.proposal import SchemaProposal, example_json_schema, proposal_json_schema
from builder.draft.quotes import QuoteCheck, check_quotes
from builder.draft.reading import excerpt, read_samples
from builder.draft.render import render_schema
from builder.providers.json_schema import JsonSchemaConstraint, JsonSchemaLanguageModel
from builder.providers.registry import create_model
from builder.schema_loader import exec_schema_file
from core.config import ProviderConfig
from core.errors import DsforgeError, SchemaError
from schemas.base import EVIDENCE_FIELD, ExtractionSchema, first_problem

# The embedded model's settings for both calls: greedy, room for a proposal and an example.
LOCAL_PARAMS = {"n_ctx": 4096, "max_tokens": 1024, "temperature": 0.0}


class DraftError(DsforgeError):
    """The model's proposal cannot become a schema; nothing was written."""


@dataclass
class Draft:
    source: str  # the schema module's text
    class_name: str
    documents_read: list[str]
    excerpt_source: str
    quotes: QuoteCheck
    calls: int
    seconds: float


def draft_schema(
    documents: Path, provider: ProviderConfig, log: Callable[[str], None] = lambda _: None
) -> Draft:
    """A checked schema module drafted from the documents under `documents`, or DraftError."""
    started = time.perf_counter()
    samples = read_samples(documents)
    log(f"read {len(samples)} document(s): {', '.join(s.source for s in samples)}")
    model = create_model(_with_local_defaults(provider))
    log(f"asking {provider.model_id} for the schema's fields (1 of 2)")
    raw = _complete(model, schema_prompt(samples), proposal_json_schema())
    proposal = _proposal(raw, provider.model_id)
    passage = excerpt(samples[0])
    log(f"asking {provider.model_id} for a worked example from {samples[0].source} (2 of 2)")
    answer = _complete(model, example_prompt(proposal, passage), example_json_schema(proposal))
    quotes = check_quotes(passage, _example_items(answer, proposal))
    log(quotes.summary())
    if not quotes.items:
        raise DraftError(
            f"{provider.model_id}'s example quoted nothing of the excerpt of {samples[0].source} "
            f"({quotes.proposed} quote(s), none found in it even ignoring case and spacing); draft again "
            "with a larger model (--model), or run `dsforge init` without --draft and write the example "
            "from the scaffold."
        )
    source = render_schema(proposal, passage, quotes.items, samples[0].source)
    schema = load_draft(source, proposal.class_name)
    return Draft(
        source=source,
        class_name=schema.__name__,
        documents_read=[s.source for s in samples],
        excerpt_source=samples[0].source,
        quotes=quotes,
        calls=2,
        seconds=round(time.perf_counter() - started, 1),
    )


def load_draft(source: str, class_name: str) -> type[ExtractionSchema]:
    """Run the module text as a schema file is run; its class must be a valid ExtractionSchema."""
    name = f"dsforge_schema_draft_{abs(hash(source)) % 10**12}"
    with tempfile.TemporaryDirectory(prefix="dsforge-draft-") as folder:
        path = Path(folder) / "schema.py"
        path.write_text(source, encoding="utf-8")
        try:
            module = exec_schema_file(path, name)
        except SchemaError as exc:
            raise DraftError(f"the drafted schema does not load: {exc}") from exc
        finally:
            sys.modules.pop(name, None)  # a draft is checked, not kept
    schema = getattr(module, class_name, None)
    if not (isinstance(schema, type) and issubclass(schema, ExtractionSchema)):
        raise DraftError(f"the drafted module has no ExtractionSchema class {class_name!r}.")
    return schema


def _with_local_defaults(provider: ProviderConfig) -> ProviderConfig:
    if not provider.model_id.startswith("dsforge-gguf:"):
        return provider
    return provider.model_copy(update={"params": {**LOCAL_PARAMS, **provider.params}})


def _complete(model: Any, prompt: str, json_schema: dict[str, Any]) -> str:
    """One completion, decoded under `json_schema` by the providers that constrain decoding."""
    if isinstance(model, JsonSchemaLanguageModel):
        model.apply_schema(JsonSchemaConstraint(json_schema))
    outputs = next(iter(model.infer([prompt])))
    return str(outputs[0].output or "")


def _proposal(raw: str, model_id: str) -> SchemaProposal:
    try:
        return SchemaProposal.model_validate(_json(raw, model_id)).cleaned()
    except ValidationError as exc:
        raise DraftError(
            f"{model_id} proposed no usable schema ({first_problem(exc)}); draft again with a larger model "
            "(--model) or run `dsforge init` without --draft."
        ) from exc


def _example_items(raw: str, proposal: SchemaProposal) -> list[dict[str, Any]]:
    """The example's items that carry every field with a value the proposal allows."""
    answer = _json(raw, "the worked example's answer")
    items = answer.get("items") if isinstance(answer, dict) else None
    kept = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get(EVIDENCE_FIELD), str):
            continue
        values = {f.name: _value(f, item.get(f.name)) for f in proposal.fields}
        if all(v is not None for v in values.values()):
            kept.append({EVIDENCE_FIELD: item[EVIDENCE_FIELD], **values})
    return kept


def _value(field: Any, value: Any) -> Any:
    if field.kind == "yes_no":
        return value if isinstance(value, bool) else None
    if not isinstance(value, str) or not value.strip():
        return None
    if field.kind == "choice":
        return next((c for c in field.choices if c == value.strip().lower()), None)
    return value.strip()


def _json(raw: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DraftError(f"{what} answered with text that is not JSON ({exc.msg} at {exc.pos}).") from exc
