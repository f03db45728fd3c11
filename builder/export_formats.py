"""Export format table: name → row writer and the dataset card's line.

A new format is one registration, from any module imported before the export
runs (or an installed `dsforge.plugins` entry point, or a `dsforge.export_formats`
entry point naming an `ExportFormat`):

    @register_export_format("plain", describes="`text`")
    def plain_row(record, options): return {"id": record.id, "text": record.output}

`dsforge export` then writes `<name>/<split>.jsonl` for every split, lists the
files in lineage.json with their sha256, and names them on the card and in its
Hugging Face `configs`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.layout import PREFERENCE_FOLDER
from core.options.export import ExportOptions
from core.registry import Registry
from schemas.types import ReviewedRecord

RowWriter = Callable[[ReviewedRecord, ExportOptions], dict[str, Any]]
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
RESERVED = frozenset({"dataset", PREFERENCE_FOLDER})  # the DatasetDict and the pairs beside the formats


@dataclass(frozen=True)
class ExportFormat:
    name: str
    row: RowWriter
    describes: str  # what a row holds, for the card
    json_array: bool = False  # also `<split>.json`, one JSON array, for tools that read no JSONL
    default: bool = False  # the Hub's default config

    @property
    def card_line(self) -> str:
        return f"`{self.name}/<split>.json{'[l]' if self.json_array else 'l'}` ({self.describes})"


FORMATS: Registry[ExportFormat] = Registry("export format", group="dsforge.export_formats")


def register_export_format(
    name: str, *, describes: str, json_array: bool = False, default: bool = False
) -> Callable[[RowWriter], RowWriter]:
    """Decorator: export every record through `row` as `<name>/<split>.jsonl`; re-registering replaces."""
    if not _NAME.fullmatch(name) or name in RESERVED:
        raise ValueError(f"export format {name!r}: use a lower-case folder name, not {sorted(RESERVED)}")

    def decorate(row: RowWriter) -> RowWriter:
        FORMATS.register(name, ExportFormat(name, row, describes, json_array=json_array, default=default))
        return row

    return decorate


def unregister_export_format(name: str) -> None:
    FORMATS.unregister(name)


def export_formats() -> list[ExportFormat]:
    """Every format, in registration order (the order files are written and listed)."""
    return FORMATS.values()


def user_turn(record: ReviewedRecord) -> str:
    """Alpaca's instruction and input as one user message, the way Alpaca's own prompt joins them."""
    return f"{record.instruction}\n\n{record.input}" if record.input else record.instruction


@register_export_format("alpaca", describes="instruction, input, output", json_array=True, default=True)
def alpaca_row(record: ReviewedRecord, options: ExportOptions) -> dict[str, Any]:
    return record.alpaca()


@register_export_format("chatml", describes="`messages`")
def chatml_row(record: ReviewedRecord, options: ExportOptions) -> dict[str, Any]:
    system_prompt = options.system_prompt
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages += [
        {"role": "user", "content": user_turn(record)},
        {"role": "assistant", "content": record.output},
    ]
    return {"id": record.id, "messages": messages}


@register_export_format("sharegpt", describes="`conversations`")
def sharegpt_row(record: ReviewedRecord, options: ExportOptions) -> dict[str, Any]:
    system_prompt = options.system_prompt
    turns = [{"from": "system", "value": system_prompt}] if system_prompt else []
    turns += [{"from": "human", "value": user_turn(record)}, {"from": "gpt", "value": record.output}]
    return {"id": record.id, "conversations": turns}
