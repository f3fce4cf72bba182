"""A page of the profiles an engage query selects, in Mixpanel's shape.

Profiles are ordered by distinct_id (unique in a project), in the column's collation: code-point
order on SQLite and on PostgreSQL databases created with the C or C.UTF-8 locale, as ours are.

Where `where` is evaluated (`strategy`): on PostgreSQL in the database, as one SQL condition
(`postgresql.py`), so that only matching rows leave it; elsewhere (SQLite, for development) in
Python (`evaluation.py`) over the profiles streamed in order a chunk at a time. Either way memory
holds a chunk and a page, never the selection.

Pages without OFFSET: the first page of a query walks the whole selection once, in order, and
notes the distinct_id that starts each page (and the total). A later page starts there: an index
range scan of about one page, whatever its number, where OFFSET would walk every page before it
and make a full pass quadratic. The starts are kept in the cache under the session (bounded:
one id per 1,000 profiles; expiring with the session); if the cache has lost them, the same walk
finds them again. A page is the first 1,000 matching profiles from its start, so a profile
deleted during the session makes a later page repeat a few profiles of the next one: no page
comes short (clients stop at a short page) and no profile is skipped.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import BooleanField, Max, QuerySet
from django.db.models.expressions import RawSQL

from projects.engage_query.evaluation import profile_matches
from projects.engage_query.expression import Node
from projects.engage_query.parameters import EngageQuery
from projects.engage_query.postgresql import condition_sql, containment_hints
from projects.engage_query.sessions import (
    QuerySession,
    page_starts_recall,
    page_starts_remember,
    session_id_issue,
    session_id_read,
)
from projects.models import Profile, Project

PAGE_SIZE = 1_000
_STREAM_CHUNK = 2_000

Strategy = Literal["database", "python"]
Row = tuple[str, Any]


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
    walk: _DatabaseWalk | _PythonWalk = (
        _DatabaseWalk(profiles, selection.where)
        if strategy == "database"
        else _PythonWalk(profiles, selection.where)
    )

    if session is not None:
        session_id, total = query.session_id, session.total
        starts = page_starts_recall(session_id=session_id)
        if starts is None:
            starts, _ = walk.page_starts()
            page_starts_remember(session_id=session_id, starts=starts)
    else:
        starts, total = walk.page_starts()
        session_id = session_id_issue(
            QuerySession(
                project_id=project.pk,
                selection_digest=digest,
                last_profile_id=last_profile_id,
                total=total,
            )
        )
        page_starts_remember(session_id=session_id, starts=starts)

    rows = walk.page(starts[query.page]) if query.page < len(starts) else []
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


class _DatabaseWalk:
    """The selection as PostgreSQL walks it: the condition in SQL, pages by index range."""

    def __init__(self, profiles: QuerySet[Profile], where: Node | None) -> None:
        if where is not None:
            column = f'"{Profile._meta.db_table}"."properties"'
            sql, params = condition_sql(where, column=column)
            # Built from constant fragments; every value of the expression is a bound parameter.
            profiles = profiles.filter(RawSQL(sql, params, output_field=BooleanField()))  # noqa: S611
            for hint in containment_hints(where):
                profiles = profiles.filter(properties__contains=hint)
        self.profiles = profiles

    def page_starts(self) -> tuple[list[str], int]:
        """The distinct_id that starts each page, and the total: one pass, in one query."""
        try:
            inner, params = self.profiles.values("distinct_id").query.sql_with_params()
        except EmptyResultSet:  # distinct_ids=[]
            return [], 0
        sql = (
            "SELECT n, distinct_id FROM ("  # noqa: S608 - the selection's own SQL, bound values
            " SELECT distinct_id, row_number() OVER w AS n,"
            " lead(distinct_id) OVER w IS NULL AS last"
            f" FROM ({inner}) AS selection WINDOW w AS (ORDER BY distinct_id)"
            ") AS numbered WHERE mod(n, %s) = 1 OR last ORDER BY n"
        )
        with connections[self.profiles.db].cursor() as cursor:
            cursor.execute(sql, [*params, PAGE_SIZE])
            numbered = cursor.fetchall()
        starts = [distinct_id for n, distinct_id in numbered if n % PAGE_SIZE == 1]
        return starts, numbered[-1][0] if numbered else 0

    def page(self, start: str) -> list[Row]:
        return list(_ordered(self.profiles.filter(distinct_id__gte=start))[:PAGE_SIZE])


class _PythonWalk:
    """The selection as Python walks it: profiles streamed in order, matched one by one."""

    def __init__(self, profiles: QuerySet[Profile], where: Node | None) -> None:
        self.profiles = profiles
        self.where = where

    def page_starts(self) -> tuple[list[str], int]:
        starts: list[str] = []
        total = 0
        for distinct_id, _ in self._matching(self.profiles):
            if total % PAGE_SIZE == 0:
                starts.append(distinct_id)
            total += 1
        return starts, total

    def page(self, start: str) -> list[Row]:
        rows: list[Row] = []
        for row in self._matching(self.profiles.filter(distinct_id__gte=start)):
            rows.append(row)
            if len(rows) == PAGE_SIZE:
                break
        return rows

    def _matching(self, profiles: QuerySet[Profile]) -> Iterator[Row]:
        for distinct_id, properties in _ordered(profiles).iterator(chunk_size=_STREAM_CHUNK):
            if self.where is None or profile_matches(self.where, _as_dict(properties)):
                yield distinct_id, properties


def _ordered(profiles: QuerySet[Profile]) -> QuerySet[Profile, Row]:
    return profiles.order_by("distinct_id").values_list("distinct_id", "properties")


def _shown(properties: Any, wanted: tuple[str, ...] | None) -> dict[str, Any]:
    properties = _as_dict(properties)
    if wanted is None:
        return properties
    return {name: properties[name] for name in wanted if name in properties}


def _as_dict(properties: Any) -> dict[str, Any]:
    return properties if isinstance(properties, dict) else {}
