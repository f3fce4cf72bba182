"""Storing a request's subject rows: up to 2,000 given ids at submit, and the linked ones when
it starts. On PostgreSQL one INSERT … SELECT FROM unnest(…) stores them all: building and
saving 2,000 model instances took about half of an API create's time."""

from collections.abc import Sequence

from django.db import connection

from privacy_requests.models import RequestSubject


def request_subjects_add(
    *,
    request_id: int,
    distinct_ids: Sequence[str],
    start: int,
    linked: bool,
    included: Sequence[bool] | None = None,
) -> None:
    """Stores `distinct_ids` as subjects of the request at positions start, start + 1, …;
    `included[i]` marks the i-th as included by a person (default: none is)."""
    flags = list(included) if included is not None else [False] * len(distinct_ids)
    if not distinct_ids:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO privacy_requests_requestsubject "
                "(request_id, distinct_id, position, linked, included) "
                "SELECT %s, s.distinct_id, %s + s.n - 1, %s, s.included "
                "FROM unnest(%s::text[], %s::boolean[]) WITH ORDINALITY "
                "AS s(distinct_id, included, n)",
                [request_id, start, linked, list(distinct_ids), flags],
            )
        return
    RequestSubject.objects.bulk_create(
        [
            RequestSubject(
                request_id=request_id,
                distinct_id=distinct_id,
                position=start + offset,
                linked=linked,
                included=flag,
            )
            for offset, (distinct_id, flag) in enumerate(zip(distinct_ids, flags, strict=True))
        ],
        batch_size=1000,
    )
