"""A page of the profiles an engage query selects, in Mixpanel's shape.

Profiles are ordered by distinct_id (unique in a project), in the column's collation: code-point
order on SQLite and on PostgreSQL databases created with the C or C.UTF-8 locale, as ours are.
The order is what the `(project, distinct_id)` index already holds, so PostgreSQL walks the
index and never sorts.

On PostgreSQL the `where` expression becomes a SQL condition (`postgresql.py`): the database
counts and pages the matching profiles itself, and only the page's 1,000 rows reach Python.
Elsewhere (SQLite, for development) the profiles are streamed in order, a chunk at a time, and
matched in Python (`evaluation.py`); memory holds one chunk and one page, whatever the store.
A page is found by skipping the pages before it (OFFSET): later pages of a large selection cost
more, which the session makes bearable by counting only once.
"""

from dataclasses import dataclass
from typing import Any, Literal

from django.db import connections
from django.db.models import BooleanField, Max, QuerySet
from django.db.models.expressions import RawSQL

from projects.engage_query.evaluation import profile_matches
from projects.engage_query.expression import Node
from projects.engage_query.parameters import EngageQuery
from projects.engage_query.postgresql import condition_sql
from projects.engage_query.sessions import QuerySession, session_id_issue, session_id_read
from projects.models import Profile, Project

PAGE_SIZE = 1_000
_STREAM_CHUNK = 2_000

Strategy = Literal["database", "python"]


@dataclass(frozen=True)
class ProfilePage:
    page: int
    session_id: str
    total: int
    results: list[dict[str, Any]]  # {"$distinct_id": …, "$properties": {…}}


def profile_page_select(
    *, project: Project, query: EngageQuery, strategy: Strategy | None = None
) -> ProfilePage:
    """The query's page of the project's profiles; raises QueryRefused for a session that is
    not this query's. `strategy` chooses where `where` is evaluated (by default the database
    when it is PostgreSQL); the tests and the benchmark compare the two."""
    selection = query.selection
    digest = selection.digest()
    session: QuerySession | None = None
    if query.session_id:
        session = session_id_read(
            session_id=query.session_id, project_id=project.pk, selection_digest=digest
        )
    last_profile_id = session.last_profile_id if session else _last_profile_id()
    profiles = Profile.objects.filter(project=project, pk__lte=last_profile_id)
    if selection.distinct_ids is not None:
        profiles = profiles.filter(distinct_id__in=selection.distinct_ids)
    if strategy is None:
        strategy = "database" if connections[profiles.db].vendor == "postgresql" else "python"

    offset = query.page * PAGE_SIZE
    if strategy == "database":
        if selection.where is not None:
            profiles = profiles.filter(_condition(selection.where))
        total = session.total if session else profiles.count()
        rows = list(_ordered(profiles)[offset : offset + PAGE_SIZE])
    else:
        counted, rows = _python_page(
            _ordered(profiles), where=selection.where, offset=offset, count=session is None
        )
        total = session.total if session else counted

    session_id = query.session_id or session_id_issue(
        QuerySession(
            project_id=project.pk,
            selection_digest=digest,
            last_profile_id=last_profile_id,
            total=total,
        )
    )
    wanted = query.output_properties
    return ProfilePage(
        page=query.page,
        session_id=session_id,
        total=total,
        results=[
            {"$distinct_id": distinct_id, "$properties": _shown(properties, wanted)}
            for distinct_id, properties in rows
        ],
    )


def _last_profile_id() -> int:
    # The primary key index answers this at once; the bound applies to this project's rows.
    return Profile.objects.aggregate(last=Max("pk"))["last"] or 0


def _condition(where: Node) -> RawSQL:
    column = f'"{Profile._meta.db_table}"."properties"'
    sql, params = condition_sql(where, column=column)
    # Built from constant fragments; every value of the expression is a bound parameter.
    return RawSQL(sql, params, output_field=BooleanField())  # noqa: S611


def _ordered(profiles: QuerySet[Profile]) -> QuerySet[Profile, tuple[str, Any]]:
    return profiles.order_by("distinct_id").values_list("distinct_id", "properties")


def _python_page(
    rows: QuerySet[Profile, tuple[str, Any]], *, where: Node | None, offset: int, count: bool
) -> tuple[int, list[tuple[str, Any]]]:
    """The page's rows and, when `count`, how many rows match in all; reads no further than
    the page's end when it need not count."""
    matched = 0
    page: list[tuple[str, Any]] = []
    for distinct_id, properties in rows.iterator(chunk_size=_STREAM_CHUNK):
        if where is not None and not profile_matches(where, _as_dict(properties)):
            continue
        if offset <= matched < offset + PAGE_SIZE:
            page.append((distinct_id, properties))
        matched += 1
        if not count and matched >= offset + PAGE_SIZE:
            break
    return matched, page


def _shown(properties: Any, wanted: tuple[str, ...] | None) -> dict[str, Any]:
    properties = _as_dict(properties)
    if wanted is None:
        return properties
    return {name: properties[name] for name in wanted if name in properties}


def _as_dict(properties: Any) -> dict[str, Any]:
    return properties if isinstance(properties, dict) else {}
