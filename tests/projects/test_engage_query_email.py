"""Issue 18: finding the distinct_id behind an email through the engage query
(`/api/2.0/engage` with `where`), exactly, and through an index on PostgreSQL."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.utils import timezone

from projects.engage_query.expression import expression_parse
from projects.engage_query.parameters import engage_query_parse
from projects.engage_query.postgresql import containment_hints
from projects.engage_query.selectors import _DatabaseWalk
from projects.models import Profile
from tests.projects.engage_query_support import engage_query

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(project):
    for distinct_id, email in [
        ("user-jane", "jane@example.com"),
        ("user-janet", "janet@example.com"),
        ("user-upper", "Jane@example.com"),
        ("user-none", None),
    ]:
        properties = {"plan": "pro"} | ({"$email": email} if email else {})
        Profile.objects.create(
            project=project,
            distinct_id=distinct_id,
            properties=properties,
            updated_at=timezone.now(),
        )


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('properties["$email"] == "jane@example.com"', ["user-jane"]),
        ('"jane@example.com" == properties["$email"]', ["user-jane"]),
        ('properties["plan"] == "pro" and properties["$email"] == "janet@example.com"',
         ["user-janet"]),
        ('properties["$email"] == "jane@example.com" or properties["$email"] == "Jane@example.com"',
         ["user-jane", "user-upper"]),
        ('not (properties["$email"] == "jane@example.com")',
         ["user-janet", "user-none", "user-upper"]),
        ('properties["$email"] == "nobody@example.com"', []),
    ],
)  # fmt: skip
def test_where_on_email_selects_exactly_that_address(client, project, people, where, expected):
    response = engage_query(client, project, where=where)

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert [result["$distinct_id"] for result in body["results"]] == sorted(expected)
    assert body["total"] == len(expected)


@pytest.mark.parametrize(
    ("where", "hints"),
    [
        ('properties["$email"] == "a@b.c"', [{"$email": "a@b.c"}]),
        ('"a@b.c" == properties["$email"]', [{"$email": "a@b.c"}]),
        ('properties["x"] == "1" and properties["y"] == "2" and properties["n"] > 3',
         [{"x": "1"}, {"y": "2"}]),
        # Not required by the whole condition, or not an equality with text: no hint.
        ('properties["x"] == "1" or properties["y"] == "2"', []),
        ('not (properties["x"] == "1")', []),
        ('properties["x"] != "1"', []),
        ('properties["n"] == 3', []),
        ('properties["b"] == true', []),
        ('properties["x"] == properties["y"]', []),
    ],
)  # fmt: skip
def test_containment_hints_are_what_the_condition_requires(where, hints):
    assert containment_hints(expression_parse(where)) == hints


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_where_on_email_can_use_the_profile_property_index(project, people):
    query = engage_query_parse({"where": 'properties["$email"] == "jane@example.com"'})
    # Without the project's own condition, which another index serves, as a big project's
    # profiles are too many for it to narrow.
    walk = _DatabaseWalk(Profile.objects.all(), query.selection.where)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = walk.profiles.values("distinct_id").explain()

    assert "profile_by_property" in plan
