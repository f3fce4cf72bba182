import io
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import Organization
from benchmarks.ingest import BENCH_ORGANIZATION
from projects.models import Event, Project

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(ON_POSTGRESQL, reason="the refusal is for other databases")
@pytest.mark.django_db
def test_bench_ingest_refuses_other_databases_than_postgresql():
    with pytest.raises(CommandError, match=r"^bench_ingest needs PostgreSQL: .*sqlite\)\.$"):
        call_command("bench_ingest", "--events", "10", stdout=io.StringIO())
    assert not Organization.objects.exists()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="bench_ingest runs on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_bench_ingest_imports_through_gunicorn_and_copies_the_same_rows():
    out = io.StringIO()

    call_command(
        "bench_ingest", "--events", "600", "--batch", "200", "--connections", "2", stdout=out
    )

    output = out.getvalue()
    assert re.search(r"/import: 600 events in [\d.]+ s = [\d,]+ events/s", output)
    assert re.search(r"COPY: +600 events in [\d.]+ s = [\d,]+ events/s", output)
    assert re.search(r"ratio \d+\.\d\d \(\d+% of COPY\)\.$", output.strip())
    bench = Project.objects.filter(organization__name=BENCH_ORGANIZATION)
    assert bench.count() == 2
    # The run's rows are deleted at the end.
    assert not Event.objects.filter(project__in=bench).exists()
