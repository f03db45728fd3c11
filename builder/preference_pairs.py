"""Preference pairs from review: the reviewer's corrected answer chosen over the model's original.

Every record a reviewer corrected keeps the model's own rendering beside it
(`review.original_output`, by record or by item), so the correction is a ready
(prompt, chosen, rejected) triple. Pairs follow their record into its split, so
they inherit the split's grouping by document and its leakage check; a pair whose
two answers are the same text after trimming teaches nothing and is dropped and
counted. Rows use TRL's conversational preference format, the one its DPO, ORPO
and reward trainers read: `prompt` / `chosen` / `rejected` as message lists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from builder.export_formats import user_turn
from core.layout import SPLITS
from schemas.types import ReviewedRecord

SOURCE_CORRECTION = "reviewer correction"


@dataclass
class PreferencePairs:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # split → rows
    by_source: Counter[str] = field(default_factory=Counter)
    dropped_identical: int = 0

    @property
    def total(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def summary(self) -> dict[str, Any]:
        """For lineage.json and the card."""
        return {
            "pairs": {name: len(self.rows.get(name, [])) for name in SPLITS},
            "by_source": dict(sorted(self.by_source.items())),
            "dropped_identical": self.dropped_identical,
            "format": "trl conversational preference (prompt, chosen, rejected)",
        }

    def message(self) -> str:
        """One line for the person exporting: what was paired, or why nothing was."""
        if self.total:
            sizes = ", ".join(f"{name} {len(self.rows.get(name, []))}" for name in SPLITS)
            dropped = (
                f"; {self.dropped_identical} dropped (chosen = rejected)" if self.dropped_identical else ""
            )
            return f"{self.total} preference pairs from reviewers' corrections ({sizes}){dropped}"
        if self.dropped_identical:
            return (
                f"no preference pairs: the {self.dropped_identical} corrected records render the same "
                "text as the model's original"
            )
        return "no preference pairs: no record was corrected in review (accepting or rejecting pairs nothing)"


def preference_pairs(splits: dict[str, list[ReviewedRecord]]) -> PreferencePairs:
    """The pairs each split's corrected records give, in the split's record order."""
    pairs = PreferencePairs()
    for name in SPLITS:
        for record in splits.get(name, []):
            original = record.review.original_output
            if record.review.status != "corrected" or original is None:
                continue
            if original.strip() == record.output.strip():
                pairs.dropped_identical += 1
                continue
            pairs.rows.setdefault(name, []).append(preference_row(record, original))
            pairs.by_source[SOURCE_CORRECTION] += 1
    return pairs


def trl_pair(prompt: str, chosen: str, rejected: str) -> dict[str, Any]:
    """TRL's conversational preference row: one user turn, the two assistant answers."""
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def preference_row(record: ReviewedRecord, rejected: str) -> dict[str, Any]:
    return {
        "id": record.id,
        **trl_pair(user_turn(record), record.output, rejected),
        "doc_id": record.doc_id,
        "template": record.template,
        "source": SOURCE_CORRECTION,
        "reviewers": list(record.review.reviewers),
    }
