"""Auto mode: every record approved without review, for unattended one-shot runs.

Each row carries `Review(status="accepted", auto=True)` and the report says
in its first line that nobody looked, so lineage never mistakes these for
reviewed data.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from annotate.inputs import load_inputs
from annotate.report import write_review_report
from core import atomic
from core.clock import utc_now
from core.config import DsforgeConfig
from schemas.types import Review, ReviewedRecord


def auto_approve(config: DsforgeConfig) -> dict[str, Any]:
    inputs = load_inputs(config)
    review = Review(status="accepted", auto=True)
    rows = [ReviewedRecord(**record.model_dump(), review=review) for record in inputs.records]
    atomic.write_jsonl(inputs.paths.reviewed, rows)
    atomic.write_jsonl(inputs.paths.approved, rows)
    report = {
        "mode": "auto",
        "unreviewed_training_data": True,
        "dataset": "",
        "pulled_at": utc_now(),
        "records": len(rows),
        "approved": len(rows),
        "by_status": dict(Counter(row.review.status for row in rows)),
        "note": "auto mode: records were accepted without human review",
    }
    write_review_report(report, inputs.paths.report_json, inputs.paths.report_md)
    return report
