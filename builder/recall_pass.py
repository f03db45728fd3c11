"""The second, focused pass: ask a document again for the values the first pass did not find.

A small model reading a chunk returns the few items that stand out and stops;
a multi-label schema then misses whole labels of a document (the permissions
a licence grants in one phrase, the limitation stated once at the end). The
second pass repeats the task with one added paragraph naming, per closed
attribute (Literal / Enum / bool), the values already found in this document
and those not yet found, and asks only for what the text itself states; where
the provider decodes under a JSON schema, that schema is narrowed to the
missing values plus one way out, NONE_OF_THESE (a small model otherwise
repeats what it found, and without the way out it forces a missing value onto
phrases that state none), and only items bringing a missing value are kept. The
paragraph is built from the schema's own values — never from the document's
text — so a document cannot write into the task; the answers go through the
same grounding and validation as the first pass, and the union is kept.
Every prompt is cached like the first pass's, so a rerun asks nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.base import ExtractionSchema, closed_values
from schemas.types import GroundedItem

# What a second-pass item may be labelled when its phrase states none of the missing values;
# such items are dropped before grounding, never reported as rejects.
NONE_OF_THESE = "none of these"


def missing_values(schema: type[ExtractionSchema], items: Sequence[GroundedItem]) -> dict[str, list[str]]:
    """Per closed attribute, the values none of this document's items has (attributes with none left out)."""
    missing = {}
    for name, values in closed_values(schema).items():
        found = {str(item.attributes.get(name)) for item in items if name in item.attributes}
        if left := [value for value in values if value not in found]:
            missing[name] = left
    return missing


def abstains(attributes: dict[str, object], missing: dict[str, list[str]]) -> bool:
    """A second-pass answer that took the way out for any narrowed attribute."""
    return any(str(attributes.get(name)) == NONE_OF_THESE for name in missing)


def keeps(item: GroundedItem, missing: dict[str, list[str]]) -> bool:
    """A second-pass item counts only if it brings a value the first pass lacked."""
    return any(str(item.attributes.get(name)) in values for name, values in missing.items())


def focus_description(schema: type[ExtractionSchema], missing: dict[str, list[str]]) -> str | None:
    """The paragraph to add for a document's second pass, from `missing_values`; None when nothing is missing."""
    if not missing:
        return None
    lines = []
    for name, values in closed_values(schema).items():
        if name not in missing:
            continue
        seen = ", ".join(value for value in values if value not in missing[name]) or "none"
        lines.append(
            f"- {name}: a first reading found {seen}. "
            f"Look for items whose {name} is one of: {', '.join(missing[name])}."
        )
    return "\n".join(
        [
            f"Second reading. A first reading of this text may have missed some '{schema.extraction_class}' items.",
            *lines,
            "Return only items the text itself states, each with its exact quote; a phrase may be returned "
            f"again with another value when it states that too. Label a phrase '{NONE_OF_THESE}' when it "
            "states none of those values, and return no items when the text states none.",
        ]
    )
