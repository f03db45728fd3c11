"""A user-style multi-label schema for the choosealicense dev corpus: one item per rule a license states."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import Example, ExtractionSchema, RecordTemplate

Rule = Literal[
    "commercial-use",
    "modifications",
    "distribution",
    "private-use",
    "patent-grant",
    "include-copyright",
    "document-changes",
    "disclose-source",
    "network-use-disclose",
    "same-license",
    "trademark-use",
    "liability",
    "no-patent-rights",
    "warranty",
]

_EXAMPLE = (
    "Copyright 2031 Example Widgets Ltd.\n\n"
    "You may use, reproduce and sell this program, alone or as part of other works, "
    "provided that every copy you give to others carries this notice. "
    "Example Widgets grants you a licence under its patents to make and use the program. "
    "The program comes with no warranty, and Example Widgets is not liable for any damages "
    "arising from its use."
)


class LicenseRule(ExtractionSchema):
    """You read a software license and list the rules it states. Tag each rule with one of:
    commercial-use (may be used commercially), modifications (may be modified), distribution
    (may be distributed), private-use (may be used privately), patent-grant (grants patent rights),
    include-copyright (must keep the copyright/license notice), document-changes (must state
    changes), disclose-source (must make source available), network-use-disclose (network use
    counts as distribution), same-license (derivatives under the same license), trademark-use
    (grants no trademark rights), liability (licensor not liable), no-patent-rights (grants no
    patent rights), warranty (no warranty). One item per rule the license states; one phrase may
    state several rules. The evidence is the phrase of the license that states the rule."""

    extraction_class = "rule"
    stratify_by = "rule"

    evidence: str = Field(description="the phrase stating the rule, copied from the license")
    rule: Rule = Field(description="which rule the phrase states")

    examples = [
        Example(
            text=_EXAMPLE,
            items=[
                {"evidence": "You may use, reproduce and sell this program", "rule": "commercial-use"},
                {"evidence": "You may use, reproduce and sell this program", "rule": "distribution"},
                {"evidence": "You may use, reproduce and sell this program", "rule": "private-use"},
                {
                    "evidence": "every copy you give to others carries this notice",
                    "rule": "include-copyright",
                },
                {
                    "evidence": "grants you a licence under its patents to make and use the program",
                    "rule": "patent-grant",
                },
                {"evidence": "The program comes with no warranty", "rule": "warranty"},
                {
                    "evidence": "Example Widgets is not liable for any damages arising from its use",
                    "rule": "liability",
                },
            ],
        )
    ]

    templates = [
        RecordTemplate(
            name="which_rule",
            instruction="Which rule of the {doc_title} does this phrase state?",
            input="{evidence}",
            output="{rule}",
        )
    ]
