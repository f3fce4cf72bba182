"""bench_engage_query: refuses other databases than PostgreSQL, and on PostgreSQL measures every
where and strategy, then mixpanel-utils through gunicorn."""

import io
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import Organization
from benchmarks.engage_query import BENCH_ORGANIZATION, WHERES
from projects.models import Profile

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(ON_POSTGRESQL, reason="the refusal is for other databases")
@pytest.mark.django_db
def test_bench_engage_query_refuses_other_databases_than_postgresql():
    with pytest.raises(CommandError, match=r"^bench_engage_query needs PostgreSQL: .*sqlite\)\.$"):
        call_command("bench_engage_query", "--profiles", "10", stdout=io.StringIO())
    assert not Organization.objects.exists()


@pytest.mark.parametrize("arguments", [["--profiles", "0"], ["--profiles", "many"]])
def test_bench_engage_query_rejects_bad_arguments(arguments):
    with pytest.raises(CommandError):
        call_command("bench_engage_query", *arguments)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="bench_engage_query runs on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_bench_engage_query_measures_each_where_and_strategy_and_mixpanel_utils():
    out = io.StringIO()

    call_command("bench_engage_query", "--profiles", "2500", stdout=out)

    output = out.getvalue()
    assert Profile.objects.filter(project__organization__name=BENCH_ORGANIZATION).count() == 2500
    for name in WHERES:
        for strategy in ("database", "python"):
            pattern = (
                rf"\n  {re.escape(name)} +{strategy} +[\d,]+ profiles: page 0 in [\d.]+ s "
                r"\(peak [\d.]+ MiB\); "
                r"(\d+ later pages in [\d.]+ s \(slowest \d+ ms\)|no later page)"
            )
            assert re.search(pattern, output), output
    for strategy in ("database", "python"):
        assert re.search(
            rf"\n  every profile +{strategy} +2,500 profiles: .*; 2 later pages", output
        )
    assert re.search(r"\n  every profile +2,500 profiles in [\d.]+ s \([\d,]+ profiles/s\)", output)
    assert re.search(r"\n  deduplicate_people's +2,500 profiles in [\d.]+ s", output), output
