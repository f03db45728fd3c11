"""The dsforge-sql search engine, one query kind at a time, through argilla-server's own API.

Expected answers follow the Elasticsearch queries that
`argilla_server/search_engine/commons.py` builds (see each test's comment):
the same request must select the same records the ES engine would.
"""

from __future__ import annotations

import json
import subprocess

import argilla as rg
import pytest

from annotate.server import supervisor, venv

RECORDS = {
    # id: (text, note, metadata, vector, suggestions {question: (value, score, agent)})
    "r0": ("the licensee must keep the copyright notice", "alpha",
           {"kind": "obligation", "tags": ["a", "b"], "size": 10, "weight": 0.5}, [1.0, 0.0, 0.0],
           {"label": ("a", 0.9, "m1"), "rating": (4, None, "m1")}),
    "r1": ("permission to use and copy the software", "beta",
           {"kind": "permission", "tags": ["b"], "size": 20, "weight": 1.5}, [0.9, 0.1, 0.0],
           {"label": ("b", 0.2, "m2")}),
    "r2": ("no warranty of any kind", "gamma copyright", {"kind": "limitation", "size": 30}, [0.0, 1.0, 0.0], {}),
    "r3": ("copyright holders are not liable", "delta", {"kind": "limitation", "tags": ["c"], "size": 5},
           [0.0, 0.0, 1.0], {"label": ("a", 0.5, "m1")}),
    "r4": ("Café licence terms in ünïcode", "epsilon", {"kind": "permission", "size": 15}, None, {}),
}
# annotator → record → (status, values)
RESPONSES = {
    "annotator1": {"r0": ("submitted", {"label": "a", "rating": 5, "comment": "fine"}),
                   "r1": ("discarded", None),
                   "r2": ("draft", {"label": "b", "rating": 2})},
    "annotator2": {"r0": ("submitted", {"label": "b", "rating": 3}),
                   "r3": ("submitted", {"label": "a", "rating": 4})},
}


@pytest.fixture(scope="module")
def searchable(review_server):
    review_server.ensure_running()
    owner = rg.Argilla(api_url=review_server.url, api_key=review_server.user("dsforge").api_key)
    settings = rg.Settings(
        fields=[rg.TextField(name="text"), rg.TextField(name="note")],
        questions=[
            rg.LabelQuestion(name="label", labels=["a", "b"]),
            rg.RatingQuestion(name="rating", values=[1, 2, 3, 4, 5], required=False),
            rg.TextQuestion(name="comment", required=False),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="kind"),
            rg.TermsMetadataProperty(name="tags"),
            rg.IntegerMetadataProperty(name="size"),
            rg.FloatMetadataProperty(name="weight"),
        ],
        vectors=[rg.VectorField(name="v", dimensions=3)],
        distribution=rg.TaskDistribution(min_submitted=1),
    )
    dataset = rg.Dataset(name="search-kinds", workspace="dsforge", settings=settings, client=owner).create()
    records = []
    for key, (text, note, metadata, vector, suggestions) in RECORDS.items():
        records.append(
            rg.Record(
                id=key,
                fields={"text": text, "note": note},
                metadata=metadata,
                vectors={"v": vector} if vector else {},
                suggestions=[rg.Suggestion(q, value, score=score, agent=agent) for q, (value, score, agent) in suggestions.items()],
            )
        )
    dataset.records.log(records)
    ids = {}
    with review_server.http() as http:
        for row in http.get(f"/api/v1/datasets/{dataset.id}/records", params={"limit": 100}).json()["items"]:
            ids[row["external_id"]] = row["id"]
    for user, answers in RESPONSES.items():
        with review_server.http(user) as http:
            for key, (status, values) in answers.items():
                body = {"status": status}
                if values:
                    body["values"] = {q: {"value": v} for q, v in values.items()}
                http.post(f"/api/v1/records/{ids[key]}/responses", json=body).raise_for_status()
    return review_server, str(dataset.id), ids, {v: k for k, v in ids.items()}


def search(
    ctx, body: dict, user: str | None = None, params: list[tuple[str, str | int]] | None = None, **query: int
) -> tuple[list[str], int]:
    """Record keys and total; `params` sends query parameters as given (the UI repeats `include`)."""
    server, dataset_id, _, by_uuid = ctx
    path = f"/api/v1/me/datasets/{dataset_id}/records/search" if user else f"/api/v1/datasets/{dataset_id}/records/search"
    with server.http(user or "dsforge") as http:
        response = http.post(path, json=body, params=params if params is not None else {"limit": 50, **query})
    assert response.status_code == 200, response.text
    data = response.json()
    return [by_uuid[item["record"]["id"]] for item in data["items"]], data["total"]


def terms(entity: dict, values: list) -> dict:
    return {"filters": {"and": [{"type": "terms", "scope": entity, "values": values}]}}


def range_(entity: dict, ge=None, le=None) -> dict:
    return {"filters": {"and": [{"type": "range", "scope": entity, "ge": ge, "le": le}]}}


META = lambda name: {"entity": "metadata", "metadata_property": name}  # noqa: E731


def test_metadata_terms_match_any_value_of_multi_valued_fields(searchable):
    # ES `terms` on a keyword field: a document matches when any of its values is listed.
    assert set(search(searchable, terms(META("kind"), ["limitation"]))[0]) == {"r2", "r3"}
    assert set(search(searchable, terms(META("tags"), ["b"]))[0]) == {"r0", "r1"}
    assert search(searchable, terms(META("tags"), ["zzz"])) == ([], 0)


def test_metadata_ranges_are_inclusive(searchable):
    assert set(search(searchable, range_(META("size"), ge=10, le=20))[0]) == {"r0", "r1", "r4"}
    assert set(search(searchable, range_(META("weight"), ge=1.0))[0]) == {"r1"}


def test_response_status_without_user(searchable):
    status = {"entity": "response", "property": "status"}
    # pending = no response at all (`must_not exists responses`); others: any response with the status.
    assert set(search(searchable, terms(status, ["pending"]))[0]) == {"r4"}
    assert set(search(searchable, terms(status, ["submitted"]))[0]) == {"r0", "r3"}
    assert set(search(searchable, terms(status, ["draft"]))[0]) == {"r2"}
    assert set(search(searchable, terms(status, ["discarded"]))[0]) == {"r1"}
    assert set(search(searchable, terms(status, ["pending", "draft"]))[0]) == {"r4", "r2"}


def test_response_status_for_the_requesting_user_is_the_annotator_queue(searchable):
    status = {"entity": "response", "property": "status"}
    # With a user: pending = that user has not answered; others are nested on the user's response.
    assert set(search(searchable, terms(status, ["pending"]), user="annotator1")[0]) == {"r3", "r4"}
    assert set(search(searchable, terms(status, ["submitted"]), user="annotator1")[0]) == {"r0"}
    assert set(search(searchable, terms(status, ["pending"]), user="annotator2")[0]) == {"r1", "r2", "r4"}


def test_response_values_filter_inside_one_response(searchable):
    label = {"entity": "response", "question": "label"}
    assert set(search(searchable, terms(label, ["a"]))[0]) == {"r0", "r3"}
    # Scoped to the user, annotator2's own answers only (r0 is "b" for annotator2).
    assert set(search(searchable, terms(label, ["a"]), user="annotator2")[0]) == {"r3"}
    rating = {"entity": "response", "question": "rating"}
    assert set(search(searchable, range_(rating, ge=4))[0]) == {"r0", "r3"}


def test_suggestion_value_score_and_agent(searchable):
    assert set(search(searchable, terms({"entity": "suggestion", "question": "label", "property": "value"}, ["a"]))[0]) == {"r0", "r3"}
    assert set(search(searchable, range_({"entity": "suggestion", "question": "label", "property": "score"}, ge=0.4))[0]) == {"r0", "r3"}
    assert set(search(searchable, terms({"entity": "suggestion", "question": "label", "property": "agent"}, ["m2"]))[0]) == {"r1"}


def test_record_status_follows_task_distribution(searchable):
    # min_submitted=1: records with a submitted response are completed.
    status = {"entity": "record", "property": "status"}
    assert set(search(searchable, terms(status, ["completed"]))[0]) == {"r0", "r3"}
    assert set(search(searchable, terms(status, ["pending"]))[0]) == {"r1", "r2", "r4"}


def test_sorting_puts_missing_values_last_both_ways(searchable):
    size = {"scope": META("size")}
    assert search(searchable, {"sort": [{**size, "order": "asc"}]})[0] == ["r3", "r0", "r4", "r1", "r2"]
    assert search(searchable, {"sort": [{**size, "order": "desc"}]})[0] == ["r2", "r1", "r4", "r0", "r3"]
    weight_desc = search(searchable, {"sort": [{"scope": META("weight"), "order": "desc"}]})[0]
    assert weight_desc[:2] == ["r1", "r0"] and set(weight_desc[2:]) == {"r2", "r3", "r4"}
    score = {"scope": {"entity": "suggestion", "question": "label", "property": "score"}, "order": "desc"}
    assert search(searchable, {"sort": [score]})[0][:3] == ["r0", "r3", "r1"]
    # Response values sort by their average across responses (ES nested sort, mode avg): r2 2, r0 4, r3 4.
    rating = {"scope": {"entity": "response", "question": "rating"}, "order": "asc"}
    ordered = search(searchable, {"sort": [rating]})[0]
    assert ordered[0] == "r2" and set(ordered[1:3]) == {"r0", "r3"}


def test_pagination_keeps_total(searchable):
    body = {"sort": [{"scope": META("size"), "order": "asc"}]}
    page, total = search(searchable, body, offset=1, limit=2)
    assert page == ["r0", "r4"] and total == 5


def test_text_search_follows_simple_query_string(searchable):
    def text(q, field=None):
        query = {"q": q, **({"field": field} if field else {})}
        return set(search(searchable, {"query": {"text": query}})[0])

    assert text("copyright") == {"r0", "r2", "r3"}  # any field
    assert text("copyright", field="text") == {"r0", "r3"}
    assert text("copyright -liable") == {"r0", "r2"}  # default_operator AND with a negation
    assert text('"copyright notice"') == {"r0"} and text('"notice copyright"') == set()
    assert text("perm*") == {"r1"}
    assert text("licensee | warranty") == {"r0", "r2"}
    assert text("COPYRIGHT HOLDERS") == {"r3"}  # analysed: lower-cased, both terms required
    assert text("café") == {"r4"}  # non-ASCII: no SQL pre-filter, still found


def test_text_search_ranks_by_relevance(searchable):
    ranked = search(searchable, {"query": {"text": {"q": "copyright"}}})[0]
    assert ranked[-1] == "r0"  # the longest field with one hit scores lowest


def test_vector_similarity(searchable):
    _, _, ids, _ = searchable
    vector = lambda **extra: {"query": {"vector": {"name": "v", **extra}}}  # noqa: E731
    ranked = search(searchable, vector(value=[1.0, 0.0, 0.0]))[0]
    assert ranked[:2] == ["r0", "r1"] and "r4" not in ranked  # r4 has no vector
    assert search(searchable, vector(record_id=ids["r0"]))[0][0] == "r1"  # the record itself excluded
    assert set(search(searchable, vector(value=[1.0, 0.0, 0.0], order="least_similar"))[0][:2]) == {"r2", "r3"}
    filtered = {**vector(value=[1.0, 0.0, 0.0]), **terms(META("kind"), ["limitation"])}
    assert set(search(searchable, filtered)[0]) == {"r2", "r3"}


def status_filters(status: str) -> dict:
    """The annotator UI's queue filters (argilla-frontend RecordRepository.getRecordsByAdvanceSearch)."""
    filters = [{"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": [status]}]
    if status == "pending":
        record_status = {"entity": "record", "property": "status"}
        filters.append({"type": "terms", "scope": record_status, "values": ["pending"]})
    return {"filters": {"and": filters}}


def ui_params(status: str, *include: str) -> list[tuple[str, str | int]]:
    """The UI's query parameters: `include` repeated, one page, the queue's status."""
    page = [("offset", 0), ("limit", 10), ("response_status", status)]
    return [*(("include", name) for name in include), *page]


def test_vector_similarity_by_record_in_the_annotator_queue(searchable):
    # "Find similar" in the UI: the user's search, a vector query by record id, the queue's status
    # filters. The server preloads the record's vectors; the engine must not rely on that.
    _, _, ids, _ = searchable

    def similar_to_r0(status: str, order: str = "most_similar") -> dict:
        vector = {"name": "v", "record_id": ids["r0"], "max_results": 50, "order": order}
        return {"query": {"vector": vector}, **status_filters(status)}

    for include in (("responses", "suggestions"), ("responses", "suggestions", "vectors")):
        # annotator2's pending queue: r1, r2, r4 (r3 is completed); r4 has no vector; r0 is the query.
        params = ui_params("pending", *include)
        assert search(searchable, similar_to_r0("pending"), user="annotator2", params=params) == (["r1", "r2"], 2)
    assert search(searchable, similar_to_r0("pending", "least_similar"), user="annotator2")[0] == ["r2", "r1"]
    assert search(searchable, similar_to_r0("draft"), user="annotator1")[0] == ["r2"]


def test_similarity_search_reads_the_vector_without_the_records_relationships(searchable):
    # What the UI report's MissingGreenlet came from: the engine walking `record.vectors` when
    # the caller had not loaded them. Called in the server's interpreter with a bare record.
    server, dataset_id, _, _ = searchable
    script = f"""
import asyncio, json
from uuid import UUID
from argilla_server.database import AsyncSessionLocal
from argilla_server.models import Dataset, Record, VectorSettings
from dsforge_sqlsearch.engine import SQLSearchEngine

async def main():
    async with AsyncSessionLocal() as db:
        dataset = await db.get(Dataset, UUID({dataset_id!r}))
        settings = await VectorSettings.get_by(db, name="v", dataset_id=dataset.id)
        record = await Record.get_by(db, external_id="r0", dataset_id=dataset.id)
        found = await (await SQLSearchEngine.new_instance()).similarity_search(
            dataset=dataset, vector_settings=settings, record=record, max_results=1
        )
        print(json.dumps([str(item.record_id) for item in found.items]))

asyncio.run(main())
"""
    root = venv.venv_dir()
    env = supervisor._server_env(root, server.home, server.state.redis_url)
    result = subprocess.run(
        [str(venv.venv_python(root)), "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    _, _, _, by_uuid = searchable
    assert [by_uuid[i] for i in json.loads(result.stdout.splitlines()[-1])] == ["r1"]


def test_each_annotator_queue_follows_insertion_order(searchable):
    # dsforge pushes records in reading order; every annotator's queue keeps it.
    for user in ("annotator1", "annotator2"):
        assert search(searchable, {}, user=user) == (list(RECORDS), len(RECORDS))
        assert search(searchable, {}, user=user, offset=1, limit=2)[0] == ["r1", "r2"]
    # The UI's pending queues: each annotator's own unanswered records, still in order.
    def pending(user: str) -> list[str]:
        return search(searchable, status_filters("pending"), user=user, params=ui_params("pending"))[0]

    assert pending("annotator1") == ["r4"]
    assert pending("annotator2") == ["r1", "r2", "r4"]


def test_progress_and_per_user_metrics(searchable):
    server, dataset_id, _, _ = searchable
    with server.http() as http:
        progress = http.get(f"/api/v1/datasets/{dataset_id}/progress").json()
    assert (progress["total"], progress["completed"], progress["pending"]) == (5, 2, 3)
    with server.http("annotator1") as http:
        metrics = http.get(f"/api/v1/me/datasets/{dataset_id}/metrics").json()
    assert metrics["responses"] == {"total": 5, "submitted": 1, "discarded": 1, "draft": 1, "pending": 2}


def test_metadata_metrics(searchable):
    server, dataset_id, _, _ = searchable
    with server.http() as http:
        properties = {p["name"]: p["id"] for p in http.get(f"/api/v1/me/datasets/{dataset_id}/metadata-properties").json()["items"]}
        tags = http.get(f"/api/v1/metadata-properties/{properties['tags']}/metrics").json()
        size = http.get(f"/api/v1/metadata-properties/{properties['size']}/metrics").json()
    assert tags["total"] == 4 and {v["term"]: v["count"] for v in tags["values"]} == {"a": 1, "b": 2, "c": 1}
    assert tags["values"][0]["term"] == "b"  # ES orders buckets by count
    assert (size["min"], size["max"]) == (5, 30)
