"""Records that come from no single item — synthetic Q&A, knowledge-graph facts — under item review.

Such a record is no item of the schema, so item review cannot show it in the schema's form; it goes
to `<items dataset>-records` with the record form (instruction, answer, the evidence highlighted in
its document; accept, reject or correct the answer) and is decided by the record rules on pull.
Approved ones join the records rendered from approved items.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from annotate import dataset_settings as ds
from annotate.connection import Endpoint
from annotate.decisions import Outcome, decide
from annotate.fetch import find_dataset, iter_records
from annotate.inputs import ReviewInputs
from annotate.push import open_dataset, record_payload, upsert_all
from core.options.review import ReviewOptions
from schemas.types import Record


def synthetic_records(inputs: ReviewInputs) -> list[Record]:
    """The build's records that no item renders: synthetic Q&A and knowledge-graph records."""
    return [record for record in inputs.records if beside_items(record)]


def beside_items(record: Record) -> bool:
    return bool(record.meta.get("synthetic") or record.meta.get("knowledge_graph"))


def dataset_name(items_dataset: str) -> str:
    return f"{items_dataset}-records"


def push_synthetic(point: Endpoint, inputs: ReviewInputs, options: ReviewOptions, items_dataset: str,
                   started: float) -> int:  # fmt: skip
    """Upsert the build's records beside the items into their dataset; how many (0: none, no dataset made)."""
    records = synthetic_records(inputs)
    if not records:
        return 0
    dataset = open_dataset(point, options, dataset_name(items_dataset),
                           lambda: ds.build_settings(inputs.schema, options), "review.dataset")  # fmt: skip
    question_ids = {question.name: str(question.id) for question in dataset.settings.questions}
    payloads = [record_payload(record, inputs, options, question_ids, None) for record in records]
    upsert_all(point, options, dataset, payloads, started)
    return len(records)


def pull_synthetic(
    http: Any, inputs: ReviewInputs, options: ReviewOptions, items_dataset: str, users: dict[str, str]
) -> tuple[list[Outcome], dict[str, Any] | None]:
    """Each record beside the items decided by the record rules, and the report's lines (None: there are none)."""
    records = synthetic_records(inputs)
    if not records:
        return [], None
    found = find_dataset(http, options.workspace, dataset_name(items_dataset))
    rows = {row.external_id: row for row in iter_records(http, found["id"], users)} if found else {}
    outcomes = [
        decide(record, rows[record.id].submissions if record.id in rows else [], options, inputs.schema, None)
        for record in records
    ]
    report = {
        "dataset": dataset_name(items_dataset),
        "records": len(records),
        "approved": sum(o.passed for o in outcomes),
        "by_status": dict(Counter(o.reviewed.review.status for o in outcomes)),
    }
    return outcomes, report
