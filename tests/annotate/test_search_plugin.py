"""The dsforge-sql search engine, one query kind at a time, through argilla-server's own API.

Expected answers follow the Elasticsearch queries that
`argilla_server/search_engine/commons.py` builds (see each test's comment):
the same request must select the same records the ES engine would.
"""

from __future__ import annotations

import argilla as rg
import pytest

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


def search(ctx, body: dict, user: str | None = None, **params) -> tuple[list[str], int]:
    server, dataset_id, _, by_uuid = ctx
    path = f"/api/v1/me/datasets/{dataset_id}/records/search" if user else f"/api/v1/datasets/{dataset_id}/records/search"
    with server.http(user or "dsforge") as http:
        response = http.post(path, json=body, params={"limit": 50, **params})
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


def test_each_annotator_gets_a_stable_shuffled_queue(searchable):
    first = search(searchable, {}, user="annotator1")[0]
    assert search(searchable, {}, user="annotator1")[0] == first
    assert sorted(search(searchable, {}, user="annotator2")[0]) == sorted(first) == sorted(RECORDS)


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
