"""The second, focused pass: ask a document again for the values the first pass did not find.

A small model reading a chunk returns the few items that stand out and stops;
a multi-label schema then misses whole labels of a document (the permissions
a licence grants in one phrase, the limitation stated once at the end). The
second pass repeats the task with one added paragraph naming, per closed
attribute (Literal / Enum / bool), the values already found in this document
and those not yet found, and asks only for what the text itself states. The
paragraph is built from the schema's own values — never from the document's
text — so a document cannot write into the task; the answers go through the
same grounding and validation as the first pass, and the union is kept.
Every prompt is cached like the first pass's, so a rerun asks nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.base import ExtractionSchema, closed_values
from schemas.types import GroundedItem


def focus_description(schema: type[ExtractionSchema], items: Sequence[GroundedItem]) -> str | None:
    """The paragraph to add for this document's second pass; None when every value is already found."""
    lines = []
    for name, values in closed_values(schema).items():
        found = {str(item.attributes.get(name)) for item in items if name in item.attributes}
        missing = [value for value in values if value not in found]
        if not missing:
            continue
        seen = ", ".join(value for value in values if value in found) or "none"
        lines.append(
            f"- {name}: a first reading found {seen}. Look for items whose {name} is one of: {', '.join(missing)}."
        )
    if not lines:
        return None
    return "\n".join(
        [
            f"Second reading. A first reading of this text may have missed some '{schema.extraction_class}' items.",
            *lines,
            "Return only items the text itself states, each with its exact quote; a phrase may be returned "
            "again with another value when it states that too. Return no items when the text states none.",
        ]
    )
