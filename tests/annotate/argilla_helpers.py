"""Acting as a reviewer through the argilla SDK, as the web UI would."""

from __future__ import annotations

import argilla as rg

from annotate import dataset_settings as ds


def submit(url: str, owner_key: str, api_key: str, dataset: str, workspace: str, answers: dict[str, dict]) -> None:
    """`answers`: record id (external) → {question name: value}; each becomes a submitted response.

    Annotators may not list a dataset's records through the SDK, so the owner's
    client finds them; the responses are then created with the annotator's own key.
    """
    owner = rg.Argilla(api_url=url, api_key=owner_key)
    reviewer = rg.Argilla(api_url=url, api_key=api_key)
    me = reviewer.me
    assert reviewer.datasets(name=dataset, workspace=workspace) is not None, "the reviewer cannot see the dataset"
    for record in owner.datasets(name=dataset, workspace=workspace).records(with_responses=False):
        if record.id not in answers:
            continue
        for question, value in answers[record.id].items():
            record.responses.add(rg.Response(question, value, user_id=me.id, status="submitted"))
        reviewer.api.records.create_record_responses(record.api_model())


def accept(rating: int | None = None, correction: str | None = None) -> dict:
    answer: dict = {ds.DECISION: ds.ACCEPT}
    if correction is not None:
        answer[ds.CORRECTION] = correction
    if rating is not None:
        answer[ds.QUALITY] = rating
    return answer


def reject(rating: int | None = None) -> dict:
    answer: dict = {ds.DECISION: ds.REJECT}
    if rating is not None:
        answer[ds.QUALITY] = rating
    return answer
