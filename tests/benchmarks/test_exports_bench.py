"""bench_privacy refuses clearly where it cannot measure (it runs for real in tests/e2e)."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from projects.models import Project

pytestmark = pytest.mark.django_db


def test_bench_privacy_refuses_without_postgresql_and_redis_and_creates_nothing():
    with pytest.raises(CommandError) as refused:
        call_command("bench_privacy", "--events", "1000", "--subjects", "10")

    if connection.vendor == "postgresql":  # the test settings run jobs in process
        assert str(refused.value) == (
            "bench_privacy runs jobs through a real rqworker: set REDIS_URL=redis://..."
        )
    else:
        assert str(refused.value) == (
            "bench_privacy needs PostgreSQL: set DATABASE_URL=postgres://... "
            "(this database is sqlite)."
        )
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    "arguments", [["--subjects", "2001"], ["--events", "0"], ["--users", "many"]]
)
def test_bench_privacy_rejects_bad_arguments(arguments):
    with pytest.raises(CommandError):
        call_command("bench_privacy", *arguments)
