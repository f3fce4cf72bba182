"""bench_retention: refuses other databases than PostgreSQL, and on PostgreSQL compares today's
table with monthly partitions and says which way expired events must go."""

import io
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Organization
from benchmarks.retention import PLAIN
from projects.models import Event

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(ON_POSTGRESQL, reason="the refusal is for other databases")
@pytest.mark.django_db
def test_bench_retention_refuses_other_databases_than_postgresql():
    with pytest.raises(CommandError, match=r"^bench_retention needs PostgreSQL: .*sqlite\)\.$"):
        call_command("bench_retention", "--events", "1000", stdout=io.StringIO())
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    "arguments", [["--events", "10"], ["--samples", "2"], ["--chunk", "0"], ["--max-rows", "x"]]
)
def test_bench_retention_rejects_bad_arguments(arguments):
    with pytest.raises(CommandError):
        call_command("bench_retention", *arguments)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="bench_retention runs on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_bench_retention_compares_both_layouts_and_leaves_the_copy_whole():
    out = io.StringIO()

    call_command(
        "bench_retention",
        *["--events", "5000", "--samples", "3", "--chunk", "20"],
        *["--walk-ids", "30", "--max-rows", "40"],
        stdout=out,
    )

    output = out.getvalue()
    assert re.search(
        r"\n\d[\d,]* distinct_ids, 2[45] monthly partitions; 3 samples each\.\n", output
    )
    for name in (
        "read, 1 subject",
        "delete, 1 subject",
        "read, 20 subjects",
        "delete, 20 subjects",
    ):
        pattern = (
            rf"\n  {re.escape(name)} +today +[\d.]+ ms, monthly partitions +[\d.]+ ms "
            r"\(median\): [\d.]+x\n"
        )
        assert re.search(pattern, output), output
    assert re.search(r"\n  DETACH \+ DROP PARTITION +[\d.]+ ms\n", output), output
    assert re.search(r"\n  batched deletes +[\d.]+ ms \([\d,]+ batches of 30 ids walked", output)
    assert re.search(
        r"\nWorst per-subject ratio [\d.]+x \(rule: partitions only if <= 1\.10x\)", output
    )
    # The month the batches removed was put back: a rerun measures the same table.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {PLAIN}")  # noqa: S608
        assert cursor.fetchone()[0] == Event.objects.count() == 5000
