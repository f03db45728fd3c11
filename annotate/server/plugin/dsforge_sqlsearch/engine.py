"""The "dsforge-sql" search engine: argilla-server's SQL tables are the only source of truth.

Write hooks are no-ops (the server has already written the rows); reads
filter, sort, count and paginate the dataset's rows with SQL, and fall back
to Python only for what SQL cannot rank: text relevance and vector similarity.

Without a sort or a text query every list, each annotator's queue included,
follows insertion order: dsforge pushes records in reading order (document by
document, span start), so every reviewer reads a document's items in order,
and all reviewers see the same queue.

Where it differs from the Elasticsearch engine (commons.py):
- SQLite only; a PostgreSQL deployment should run Elasticsearch.
- Text relevance is a tf/length score, not BM25: matching is the same, ranking
  only similar. Fuzziness (`~N`) and phrase slop are accepted but exact.
- Annotator queues follow insertion order; ES shuffles them per user (random_score).
- Per-user progress counts the user's own responses (ES flattens the statuses
  of every response on the records the user answered).
- Vector search is exact cosine over all vectors (ES: approximate HNSW kNN).
- Sorting by response status is refused, as ES refuses it; sorting by a
  non-rating response value uses its minimum instead of ES's failing average.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Union
from uuid import UUID

import numpy as np
from argilla_server.database import AsyncSessionLocal
from argilla_server.enums import MetadataPropertyType, SimilarityOrder
from argilla_server.models import (
    Dataset,
    Field,
    MetadataProperty,
    Record,
    Response,
    Suggestion,
    User,
    Vector,
    VectorSettings,
)
from argilla_server.search_engine.base import (
    Filter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataMetrics,
    Order,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    TermsMetrics,
    TextQuery,
)
from argilla_server.settings import settings
from sqlalchemy import String, cast, func, literal_column, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from dsforge_sqlsearch import ENGINE_NAME, textquery
from dsforge_sqlsearch.sqlquery import Schema, UnsupportedQuery, build_filter, build_order, json_path
from dsforge_sqlsearch.vectors import cosine_scores, load_matrix

MAX_TERMS = 2**14  # ES max_terms_size in commons.py
# SQLite's implicit rowid grows with each insert. It orders the rows of one bulk insert,
# which can share an `inserted_at` microsecond; the random uuid4 `id` would shuffle them.
ROWID = literal_column("records.rowid")


@SearchEngine.register(engine_name=ENGINE_NAME)
class SQLSearchEngine(SearchEngine):
    """Answers argilla-server searches from its own database."""

    @classmethod
    async def new_instance(cls) -> "SQLSearchEngine":
        if not settings.database_is_sqlite:
            raise UnsupportedQuery(
                f"the {ENGINE_NAME} search engine reads SQLite databases only; use Elasticsearch with PostgreSQL."
            )
        return cls()

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        async with AsyncSessionLocal() as db:
            return (await db.execute(text("SELECT 1"))).scalar_one() == 1

    async def info(self) -> dict:
        return {"distribution": ENGINE_NAME, "number": "1", "source_of_truth": "sql"}

    # ----- write hooks: the rows are already in SQL ------------------------------------------
    async def create_index(self, dataset: Dataset) -> None:
        return None

    async def delete_index(self, dataset: Dataset) -> None:
        return None

    async def configure_metadata_property(self, dataset: Dataset, metadata_property: MetadataProperty) -> None:
        return None

    async def configure_index_vectors(self, vector_settings: VectorSettings) -> None:
        return None

    async def index_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        return None

    async def partial_record_update(self, record: Record, **update: Any) -> None:
        return None

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        return None

    async def update_record_response(self, response: Response) -> None:
        return None

    async def delete_record_response(self, response: Response) -> None:
        return None

    async def update_record_suggestion(self, suggestion: Suggestion) -> None:
        return None

    async def delete_record_suggestion(self, suggestion: Suggestion) -> None:
        return None

    # ----- progress and metrics -------------------------------------------------------------
    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = await db.execute(
                select(cast(Record.status, String), func.count())
                .where(Record.dataset_id == dataset.id)
                .group_by(Record.status)
            )
            counts = {status: count for status, count in rows}
        return {"total": sum(counts.values()), **counts}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        # ES aggregates the flattened statuses of every response on the records the user
        # answered; counting the user's own responses is what that aggregation intends.
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = await db.execute(
                select(cast(Response.status, String), func.count())
                .join(Record, Record.id == Response.record_id)
                .where(Record.dataset_id == dataset.id, Response.user_id == user.id)
                .group_by(Response.status)
            )
            counts = {status: count for status, count in rows}
        return {"total": sum(counts.values()), **counts}

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        each = func.json_each(Record.metadata_, json_path(metadata_property.name)).table_valued("value", "type")
        base = select().select_from(Record).join(each, true()).where(
            Record.dataset_id == metadata_property.dataset_id
        )
        async with AsyncSessionLocal() as db:
            if metadata_property.type == MetadataPropertyType.terms:
                term = cast(each.c.value, String)
                rows = (
                    await db.execute(
                        base.add_columns(term, func.count())
                        .where(each.c.type.notin_(("object", "array", "null")))
                        .group_by(term)
                    )
                ).all()
                values = sorted(rows, key=lambda row: (-row[1], row[0]))[:MAX_TERMS]
                return TermsMetrics(
                    total=sum(count for _, count in rows),
                    values=[TermsMetrics.TermCount(term=term, count=count) for term, count in values],
                )
            low, high = (
                await db.execute(
                    base.add_columns(func.min(each.c.value), func.max(each.c.value)).where(
                        each.c.type.in_(("integer", "real"))
                    )
                )
            ).one()
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(
                min=int(low) if low is not None else None, max=int(high) if high is not None else None
            )
        return FloatMetadataMetrics(min=low, max=high)

    # ----- search ---------------------------------------------------------------------------
    async def search(
        self,
        dataset: Dataset,
        query: Optional[Union[TextQuery, str]] = None,
        filter: Optional[Filter] = None,
        sort: Optional[List[Order]] = None,
        offset: int = 0,
        limit: int = 100,
        user_id: Optional[str] = None,
    ) -> SearchResponses:
        async with AsyncSessionLocal() as db:
            schema = await Schema.load(db, dataset.id)
            conditions = [Record.dataset_id == dataset.id]
            if filter is not None:
                conditions.append(build_filter(filter, schema))
            order_by = [term for order in (sort or []) for term in build_order(order, schema)]
            text_query = _text_query(query)

            if text_query is None:
                # Everything in SQL: sorted lists, the owner's views and each annotator's queue,
                # which is the same for every user (`user_id` only scopes response filters).
                total = (await db.execute(select(func.count()).select_from(Record).where(*conditions))).scalar_one()
                statement = (
                    select(Record.id)
                    .where(*conditions)
                    .order_by(*_ordering(order_by))
                    .offset(offset)
                    .limit(limit)
                )
                ids = (await db.execute(statement)).scalars().all()
                items = [SearchResponseItem(record_id=i, score=None if sort else 1.0) for i in ids]
                return SearchResponses(items=items, total=total)

            scored = await self._scored_ids(db, dataset, conditions, order_by, text_query)
        if not sort:
            # Stable: equal relevance keeps insertion order.
            scored.sort(key=lambda pair: -pair[1])
        page = scored[offset : offset + limit]
        return SearchResponses(
            items=[SearchResponseItem(record_id=i, score=None if sort else s) for i, s in page], total=len(scored)
        )

    async def _scored_ids(
        self,
        db: AsyncSession,
        dataset: Dataset,
        conditions: list,
        order_by: list,
        text_query: Optional[TextQuery],
    ) -> list[tuple[UUID, float]]:
        """Matching ids in SQL order (sort, else insertion), scored by text relevance (1.0 without text)."""
        order = _ordering(order_by)
        if text_query is None:
            ids = (await db.execute(select(Record.id).where(*conditions).order_by(*order))).scalars().all()
            return [(i, 1.0) for i in ids]
        node = textquery.parse(text_query.q)
        if node is None:
            return []
        field_names = await _searchable_fields(db, dataset.id, text_query.field)
        for token in textquery.required_tokens(node):
            if token.isascii():  # JSON escapes non-ASCII, so only ASCII can pre-filter by substring
                conditions = [*conditions, cast(Record.fields, String).like(f"%{token}%")]
        rows = (await db.execute(select(Record.id, Record.fields).where(*conditions).order_by(*order))).all()
        scored = []
        for record_id, fields in rows:
            document = textquery.Document.from_texts(
                {name: _field_text(fields.get(name)) for name in field_names if fields.get(name) is not None}
            )
            value = textquery.score(node, document, list(document.fields))
            if value is not None:
                scored.append((record_id, value))
        return scored

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: Optional[List[float]] = None,
        record: Optional[Record] = None,
        query: Optional[Union[TextQuery, str]] = None,
        filter: Optional[Filter] = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: Optional[float] = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        async with AsyncSessionLocal() as db:
            vector_value = value
            excluded = None
            if not vector_value:
                excluded = record.id
                vector_value = await _record_vector(db, record.id, vector_settings.id)
            if not vector_value:
                raise ValueError("Cannot find a vector value to apply with provided info")
            if order == SimilarityOrder.least_similar:
                vector_value = [-x for x in vector_value]

            ids, matrix = await load_matrix(db, vector_settings.id)
            allowed = None
            if filter is not None or query is not None:
                schema = await Schema.load(db, dataset.id)
                conditions = [Record.dataset_id == dataset.id]
                if filter is not None:
                    conditions.append(build_filter(filter, schema))
                allowed = {i for i, _ in await self._scored_ids(db, dataset, conditions, [], _text_query(query))}
        scores = cosine_scores(matrix, vector_value)
        candidates = [
            (ids[index], float(scores[index]))
            for index in np.argsort(-scores, kind="stable")
            if ids[index] != excluded and (allowed is None or ids[index] in allowed)
        ][:max_results]
        if threshold is not None:
            candidates = [(i, s) for i, s in candidates if s >= threshold]
        return SearchResponses(
            items=[SearchResponseItem(record_id=i, score=s) for i, s in candidates], total=len(candidates)
        )


def _ordering(order_by: list) -> list:
    """The explicit sort first, if any; then insertion order, which is dsforge's reading order."""
    return [*order_by, Record.inserted_at.asc(), ROWID.asc()]


async def _record_vector(db: AsyncSession, record_id: UUID, settings_id: UUID) -> Optional[List[float]]:
    # Our own query, not `record.vector_value_by_vector_settings`: that walks `record.vectors`,
    # a lazy relationship of the caller's async session, and loading it from here is sync IO
    # that raises MissingGreenlet. argilla's handler preloads it today; nothing obliges it to.
    statement = select(Vector.value).where(Vector.record_id == record_id, Vector.vector_settings_id == settings_id)
    return (await db.execute(statement)).scalar_one_or_none()


def _text_query(query: Optional[Union[TextQuery, str]]) -> Optional[TextQuery]:
    if query is None:
        return None
    return TextQuery(q=query) if isinstance(query, str) else query


async def _searchable_fields(db: AsyncSession, dataset_id: UUID, only: Optional[str]) -> list[str]:
    rows = await db.execute(select(Field.name, Field.settings).where(Field.dataset_id == dataset_id))
    fields = {name: (settings or {}).get("type") for name, settings in rows}
    if only is not None:
        if only not in fields:
            raise UnsupportedQuery(f"Field {only} not found in dataset {dataset_id}")
        fields = {only: fields[only]}
    return [name for name, kind in fields.items() if kind != "image"]


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # chat fields: ES indexes each message's content
        return "\n".join(str(item.get("content", "")) if isinstance(item, dict) else str(item) for item in value)
    return str(value)
