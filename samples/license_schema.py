"""Sample domain schema: what a software license asks of, grants to and withholds from a licensee."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import Example, ExtractionSchema, RecordTemplate, TripleShape

_MIT_LIKE = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    "software, to deal in the Software without restriction, including without limitation the "
    "rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of "
    "the Software, subject to the following conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all copies or "
    "substantial portions of the Software.\n\n"
    'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.'
)


class LicenseTerm(ExtractionSchema):
    """You read software license texts and find the clauses that grant rights to the
    licensee (permission), require something of the licensee (obligation), restrict what
    the licensee may do (condition) or limit the licensor's liability or warranty (limitation).
    The extraction text is the clause's own sentence, never a heading, title, name or URL:
    skip headings, titles, copyright lines and links."""

    extraction_class = "clause"
    stratify_by = "kind"
    # With records.knowledge_graph on: each clause is the fact (license, kind, what it means).
    triple = TripleShape(subject="doc_title", relation="kind", object="summary",
                         fact_question="What {relation} does the {subject} state?")  # fmt: skip

    # A clause is a sentence: headings ("## Patent") and fragments are rejected as invalid.
    evidence: str = Field(
        min_length=20,
        pattern=r"^[^#]",
        description="the clause's sentence, copied verbatim from the license text",
    )
    kind: Literal["permission", "obligation", "condition", "limitation"] = Field(
        description="what the clause does for or to the licensee"
    )
    summary: str = Field(
        min_length=3,
        description="one plain-English sentence saying what the clause means for the licensee",
    )

    examples = [
        Example(
            text=_MIT_LIKE,
            items=[
                {
                    "evidence": "to deal in the Software without restriction",
                    "kind": "permission",
                    "summary": "You may use, copy, modify and distribute the software freely.",
                },
                {
                    "evidence": "The above copyright notice and this permission notice shall be "
                    "included in all copies or substantial portions of the Software.",
                    "kind": "obligation",
                    "summary": "You must keep the copyright and permission notice in every copy.",
                },
                {
                    "evidence": 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.',
                    "kind": "limitation",
                    "summary": "The software comes with no warranty.",
                },
            ],
        )
    ]

    templates = [
        RecordTemplate(
            name="explain_clause",
            instruction="Explain what this clause of the {doc_title} means for a licensee.",
            input="{evidence}",
            output="{summary}",
        ),
        RecordTemplate(
            name="classify_clause",
            instruction=(
                "Classify this license clause as permission, obligation, condition or "
                "limitation, and summarise it. Answer in JSON with keys kind and summary."
            ),
            input="{evidence}",
            output="{item_json}",
        ),
        RecordTemplate(
            name="licensee_duty",
            instruction="What must a licensee do under the {doc_title}?",
            input="{evidence}",
            output="{summary}",
            when={"kind": ["obligation", "condition"]},
        ),
    ]
