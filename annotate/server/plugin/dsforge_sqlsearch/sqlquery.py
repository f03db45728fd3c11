"""argilla-server search filters and sort orders → SQLAlchemy expressions over its own tables.

Each translation mirrors the Elasticsearch query that
`argilla_server/search_engine/commons.py` builds for the same input:

- terms on a keyword (metadata, suggestion, response value) match when any
  value of a (possibly multi-valued) field equals one of the terms, compared
  as text, because ES keyword fields hold strings;
- ranges are inclusive and match when any value lies inside;
- suggestion and response values are only indexed for rating and label
  questions (other question types are mapped `enabled: false`), so filters on
  other questions match nothing;
- response filters run inside one response (ES `nested`), optionally that of
  the requesting user; "pending" means the user (or, without a user, anyone)
  has no response at all;
- sorting puts missing values last in both directions (the ES default).

SQLite is the database the embedded server uses; its JSON functions
(`json_each`) carry the multi-value semantics.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from argilla_server.enums import QuestionType, ResponseStatusFilter, SortOrder
from argilla_server.models import MetadataProperty, Question, Record, Response, Suggestion
from argilla_server.search_engine.base import (
    AndFilter,
    Filter,
    MetadataFilterScope,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SuggestionFilterScope,
    TermsFilter,
)
from sqlalchemy import String, and_, cast, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

INDEXED_QUESTION_TYPES = {QuestionType.rating, QuestionType.label_selection, QuestionType.multi_label_selection}
NUMERIC_JSON_TYPES = ("integer", "real")


class UnsupportedQuery(ValueError):
    """A query this engine cannot answer the way Elasticsearch would."""


class Schema:
    """The dataset's question and metadata types, read once per search."""

    def __init__(self, questions: dict[str, str], metadata: dict[str, str]) -> None:
        self.questions = questions
        self.metadata = metadata

    @classmethod
    async def load(cls, db: AsyncSession, dataset_id: UUID) -> "Schema":
        questions = await db.execute(select(Question.name, Question.settings).where(Question.dataset_id == dataset_id))
        metadata = await db.execute(
            select(MetadataProperty.name, MetadataProperty.settings).where(MetadataProperty.dataset_id == dataset_id)
        )
        return cls(
            {name: settings.get("type") for name, settings in questions},
            {name: settings.get("type") for name, settings in metadata},
        )

    def question_is_indexed(self, name: str) -> bool:
        return self.questions.get(name) in {t.value for t in INDEXED_QUESTION_TYPES}


def json_path(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'


def any_json_value(document: Any, path: str | None, predicate) -> ColumnElement[bool]:
    """True when some value at `path` (a scalar, or any element of an array) satisfies `predicate`."""
    each = (func.json_each(document, path) if path else func.json_each(document)).table_valued(
        "value", "type", name="je"
    )
    return exists(select(literal(1)).select_from(each).where(predicate(each.c.value, each.c.type)))


def _terms_predicate(values: list[str]):
    texts = [str(value) for value in values]
    return lambda value, kind: and_(kind.notin_(("object", "array", "null")), cast(value, String).in_(texts))


def _range_predicate(ge: float | None, le: float | None):
    def predicate(value, kind):
        conditions = [kind.in_(NUMERIC_JSON_TYPES)]
        if ge is not None:
            conditions.append(value >= ge)
        if le is not None:
            conditions.append(value <= le)
        return and_(*conditions)

    return predicate


def _value_predicate(filter: Filter):
    if isinstance(filter, TermsFilter):
        return _terms_predicate(filter.values)
    if isinstance(filter, RangeFilter):
        return _range_predicate(filter.ge, filter.le)
    raise UnsupportedQuery(f"cannot process filter {filter}")


def build_filter(filter: Filter, schema: Schema) -> ColumnElement[bool]:
    if isinstance(filter, AndFilter):
        return and_(true(), *[build_filter(child, schema) for child in filter.filters])
    scope = filter.scope
    if isinstance(scope, MetadataFilterScope):
        return _metadata_filter(filter, scope, schema)
    if isinstance(scope, SuggestionFilterScope):
        return _suggestion_filter(filter, scope, schema)
    if isinstance(scope, ResponseFilterScope):
        return _response_filter(filter, scope, schema)
    if isinstance(scope, RecordFilterScope):
        return _record_filter(filter, scope)
    raise UnsupportedQuery(f"cannot process search scope {scope}")


def _metadata_filter(filter: Filter, scope: MetadataFilterScope, schema: Schema) -> ColumnElement[bool]:
    if scope.metadata_property not in schema.metadata:
        return false()  # unmapped in ES: `metadata` is `dynamic: false`, nothing matches
    return any_json_value(Record.metadata_, json_path(scope.metadata_property), _value_predicate(filter))


def _suggestion_filter(filter: Filter, scope: SuggestionFilterScope, schema: Schema) -> ColumnElement[bool]:
    prop = scope.property
    if prop in ("agent", "type"):
        column = Suggestion.agent if prop == "agent" else Suggestion.type
        if not isinstance(filter, TermsFilter):
            raise UnsupportedQuery(f"suggestion {prop} only supports terms filters")
        condition = cast(column, String).in_([str(v) for v in filter.values])
    elif prop == "value":
        if not schema.question_is_indexed(scope.question):
            return false()
        condition = any_json_value(Suggestion.value, None, _value_predicate(filter))
    elif prop == "score":
        condition = any_json_value(Suggestion.score, None, _range_or_terms_numeric(filter))
    else:
        return false()  # not in the ES mapping
    return exists(
        select(literal(1))
        .select_from(Suggestion)
        .join(Question, Question.id == Suggestion.question_id)
        .where(Suggestion.record_id == Record.id, Question.name == scope.question, condition)
    )


def _range_or_terms_numeric(filter: Filter):
    if isinstance(filter, RangeFilter):
        return _range_predicate(filter.ge, filter.le)
    values = [float(v) for v in filter.values]
    return lambda value, kind: and_(kind.in_(NUMERIC_JSON_TYPES), value.in_(values))


def _response_filter(filter: Filter, scope: ResponseFilterScope, schema: Schema) -> ColumnElement[bool]:
    if scope.question:
        if not schema.question_is_indexed(scope.question):
            return false()
        conditions = [
            Response.record_id == Record.id,
            any_json_value(Response.values, json_path(scope.question) + ".value", _value_predicate(filter)),
        ]
        if scope.user is not None:
            conditions.append(Response.user_id == scope.user.id)
        return exists(select(literal(1)).select_from(Response).where(*conditions))
    if scope.property == "status" and isinstance(filter, TermsFilter):
        return _response_status_filter(list(filter.values), scope)
    raise UnsupportedQuery(f"cannot process filter scope {scope}")


def _response_status_filter(values: list[str], scope: ResponseFilterScope) -> ColumnElement[bool]:
    branches = []
    if ResponseStatusFilter.pending in values:
        values = [v for v in values if v != ResponseStatusFilter.pending]
        own = [Response.record_id == Record.id]
        if scope.user is not None:
            own.append(Response.user_id == scope.user.id)
        branches.append(not_(exists(select(literal(1)).select_from(Response).where(*own))))
        if not values:
            return branches[0]
    conditions = [Response.record_id == Record.id]
    if values:
        conditions.append(cast(Response.status, String).in_([str(v) for v in values]))
    if scope.user is not None:
        conditions.append(Response.user_id == scope.user.id)
    if len(conditions) == 1:
        branches.append(true())
    else:
        branches.append(exists(select(literal(1)).select_from(Response).where(*conditions)))
    return or_(*branches)


def _record_column(prop: str):
    columns = {
        "id": Record.id,
        "external_id": Record.external_id,
        "inserted_at": Record.inserted_at,
        "updated_at": Record.updated_at,
        "status": Record.status,
    }
    if prop not in columns:
        raise UnsupportedQuery(f"cannot filter records on {prop!r}")
    return columns[prop]


def _record_filter(filter: Filter, scope: RecordFilterScope) -> ColumnElement[bool]:
    column = _record_column(scope.property)
    if isinstance(filter, TermsFilter):
        if scope.property == "id":
            return column.in_([UUID(str(v)) for v in filter.values])
        if scope.property in ("inserted_at", "updated_at"):
            return column.in_([_as_datetime(v) for v in filter.values])
        return cast(column, String).in_([str(v) for v in filter.values])
    if isinstance(filter, RangeFilter):
        convert = _as_datetime if scope.property in ("inserted_at", "updated_at") else (lambda v: v)
        conditions = []
        if filter.ge is not None:
            conditions.append(column >= convert(filter.ge))
        if filter.le is not None:
            conditions.append(column <= convert(filter.le))
        return and_(true(), *conditions)
    raise UnsupportedQuery(f"cannot process filter {filter}")


def _as_datetime(value: Any) -> datetime:
    # ES reads numbers given for date fields as epoch milliseconds.
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000.0, tz=timezone.utc).replace(tzinfo=None)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)


def build_order(order: Order, schema: Schema) -> list[ColumnElement[Any]]:
    """ORDER BY terms for one sort key; missing values last in both directions."""
    expression = _sort_expression(order, schema)
    descending = str(order.order) == SortOrder.desc.value
    return [expression.is_(None), expression.desc() if descending else expression.asc()]


def _sort_expression(order: Order, schema: Schema):
    scope = order.scope
    if isinstance(scope, MetadataFilterScope):
        return func.json_extract(Record.metadata_, json_path(scope.metadata_property))
    if isinstance(scope, RecordFilterScope):
        return _record_column(scope.property)
    if isinstance(scope, SuggestionFilterScope):
        columns = {"agent": Suggestion.agent, "type": Suggestion.type}
        value = columns.get(scope.property) or func.json_extract(
            Suggestion.score if scope.property == "score" else Suggestion.value, "$"
        )
        return (
            select(value)
            .join(Question, Question.id == Suggestion.question_id)
            .where(Suggestion.record_id == Record.id, Question.name == scope.question)
            .limit(1)
            .scalar_subquery()
        )
    if isinstance(scope, ResponseFilterScope):
        if not scope.question:
            raise UnsupportedQuery("sorting by response status is not supported (ES cannot average keywords)")
        value = func.json_extract(Response.values, json_path(scope.question) + ".value")
        aggregate = func.avg(value) if schema.questions.get(scope.question) == QuestionType.rating.value else func.min(value)
        conditions = [Response.record_id == Record.id]
        if scope.user is not None:
            conditions.append(Response.user_id == scope.user.id)
        return select(aggregate).where(*conditions).scalar_subquery()
    raise UnsupportedQuery(f"cannot sort by {scope}")
