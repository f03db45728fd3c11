"""A checked proposal and example → schema.py, readable Python the user edits.

Every string goes through `repr`, so whatever the model wrote, the file is valid Python
holding exactly that text; the draft marker makes `dsforge build` refuse the file until
its owner has read it and deleted the marker line.
"""

from __future__ import annotations

import textwrap
from typing import Any

from builder.draft.proposal import FieldProposal, SchemaProposal
from schemas.base import DRAFT_MARKER, EVIDENCE_FIELD

DRAFT_LINE = f'{DRAFT_MARKER} = "delete this line once you have read and edited this schema"'
WIDTH = 100


def render_schema(proposal: SchemaProposal, passage: str, items: list[dict[str, Any]], source: str) -> str:
    """The module text: imports, the marker, the excerpt, the class with fields, example and templates."""
    stratify = next((f.name for f in proposal.fields if f.kind == "choice"), None)
    lines = [
        '"""What to extract from these documents, drafted by `dsforge init --draft` from the documents themselves.',
        "",
        "A model proposed it; nothing here has been checked by a person. Read every part, fix what does",
        "not fit, then delete the `__dsforge_draft__` line below: `dsforge build` refuses the file until",
        'you do. README "Your own documents" says what each part is for.',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Literal  # noqa: F401 (choice fields use it)",
        "",
        "from pydantic import Field",
        "",
        "from schemas.base import Example, ExtractionSchema, RecordTemplate",
        "",
        DRAFT_LINE,
        "",
        f"# An excerpt of {source}. Every `evidence` below is copied from it word for word.",
        f"_EXAMPLE_TEXT = {_literal(passage, indent=4)}",
        "",
        "",
        f"class {proposal.class_name}(ExtractionSchema):",
        _docstring(proposal.task),
        "",
        "    # The name of one extracted item (shown to the model and in the review form).",
        f"    extraction_class = {proposal.item_name!r}",
    ]
    if stratify:
        lines += ["    # The field splits are balanced on: each value gets its share of train/validation/test.",
                  f"    stratify_by = {stratify!r}"]  # fmt: skip
    lines += [
        "",
        "    # Every item has these fields; the descriptions are part of the prompt.",
        f"    {EVIDENCE_FIELD}: str = Field(min_length=3, description="
        '"the passage that states it, copied verbatim from the document")',
    ]
    lines += [f"    {field.name}: {_annotation(field)} = Field({_field_args(field)})" for field in proposal.fields]
    lines += ["", "    # One worked example teaches the model the shape of an answer.", "    examples = ["]
    lines += ["        Example(", "            text=_EXAMPLE_TEXT,", "            items=["]
    for item in items:
        lines.append("                {")
        for key in [EVIDENCE_FIELD, *(f.name for f in proposal.fields)]:
            lines.append(f"                    {key!r}: {_literal(item[key], indent=24)},")
        lines.append("                },")
    lines += ["            ],", "        )", "    ]", ""]
    lines += [
        "    # Each template turns one item into one instruction record; {field} names a field above,",
        "    # {doc_title} the document's title, {item_json} the whole item as JSON.",
        "    templates = [",
    ]
    for name, instruction, output in templates(proposal):
        lines += [
            "        RecordTemplate(",
            f"            name={name!r},",
            f"            instruction={_literal(instruction, indent=16)},",
            '            input="{evidence}",',
            f"            output={output!r},",
            "        ),",
        ]
    lines += ["    ]", ""]
    return "\n".join(lines)


def templates(proposal: SchemaProposal) -> list[tuple[str, str, str]]:
    """One question per free-text field, and one JSON answer for the closed fields together."""
    drafted = []
    for field in proposal.fields:
        if field.kind == "text":
            drafted.append(
                (f"ask_{field.name}",
                 f"Read this passage of {{doc_title}} and give its {field.name.replace('_', ' ')}: "
                 f"{field.description.rstrip('.')}.",
                 f"{{{field.name}}}")  # fmt: skip
            )
    closed = [f for f in proposal.fields if f.kind != "text"]
    if closed:
        asked = "; ".join(f"{f.name}: {f.description.rstrip('.')}" for f in closed)
        drafted.append(
            ("classify",
             f"Read this passage of {{doc_title}} and answer in JSON with the keys {', '.join(f.name for f in closed)} "
             f"({asked}).",
             "{item_json}")  # fmt: skip
        )
    return drafted


def _annotation(field: FieldProposal) -> str:
    if field.kind == "choice":
        return f"Literal[{', '.join(repr(c) for c in field.choices)}]"
    return "bool" if field.kind == "yes_no" else "str"


def _field_args(field: FieldProposal) -> str:
    bound = "min_length=1, " if field.kind == "text" else ""
    return f"{bound}description={field.description!r}"


def _docstring(task: str) -> str:
    body = textwrap.fill(task, width=WIDTH - 4, initial_indent="    ", subsequent_indent="    ")
    return f'    """{body.strip()}"""' if len(body) < WIDTH - 6 else f'    """\n{body}\n    """'


def _literal(value: Any, indent: int) -> str:
    """A Python literal of `value`; long strings as adjacent pieces in parentheses, joined exactly."""
    if not isinstance(value, str) or len(value) + indent < WIDTH - 10:
        return repr(value)
    pieces, rest, size = [], value, WIDTH - indent - 8
    while rest:
        cut = rest.rfind(" ", 0, size) + 1 if len(rest) > size else len(rest)
        cut = cut if cut > 0 else size
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pad = " " * indent
    return "(\n" + "\n".join(f"{pad}{piece!r}" for piece in pieces) + f"\n{pad[:-4]})"
