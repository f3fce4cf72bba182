"""`__any`, the store's "one of these ids" (projects/lookups.py)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Profile
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def test_any_finds_exactly_the_rows_of_the_listed_ids(project):
    for distinct_id in ("alice", "bob", "o'brien", "\u00e9lodie"):
        ProfileFactory(project=project, distinct_id=distinct_id)

    with CaptureQueriesContext(connection) as queries:
        found = set(
            Profile.objects.filter(
                project=project, distinct_id__any=["alice", "o'brien", "\u00e9lodie", "nobody"]
            ).values_list("distinct_id", flat=True)
        )

    assert found == {"alice", "o'brien", "\u00e9lodie"}
    if connection.vendor == "postgresql":
        # One array parameter, whatever the number of ids: a short statement, routed by id.
        assert '"distinct_id" = ANY(' in queries[0]["sql"]


def test_any_of_no_ids_finds_nothing(project):
    ProfileFactory(project=project, distinct_id="alice")

    assert not Profile.objects.filter(project=project, distinct_id__any=[]).exists()


def test_any_refuses_a_single_string(project):
    # A string is iterable: "alice" would silently mean "a", "l", "i", "c", "e".
    with pytest.raises(TypeError, match="list"):
        Profile.objects.filter(project=project, distinct_id__any="alice").exists()
