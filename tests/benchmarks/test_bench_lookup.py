"""bench_lookup: refuses other databases than PostgreSQL, and on PostgreSQL times each kind of
end-user lookup over a generated store, audited as the page's are."""

import io
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import Organization
from benchmarks.lookup import BENCH_ORGANIZATION
from privacy_requests.models import AuditAction, AuditEntry
from projects.models import Profile

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.mark.skipif(ON_POSTGRESQL, reason="the refusal is for other databases")
@pytest.mark.django_db
def test_bench_lookup_refuses_other_databases_than_postgresql():
    with pytest.raises(CommandError, match=r"^bench_lookup needs PostgreSQL: .*sqlite\)\.$"):
        call_command("bench_lookup", "--profiles", "10", stdout=io.StringIO())
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    "arguments", [["--profiles", "0"], ["--profiles", "many"], ["--lookups", "0"]]
)
def test_bench_lookup_rejects_bad_arguments(arguments):
    with pytest.raises(CommandError):
        call_command("bench_lookup", *arguments)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="bench_lookup runs on PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_bench_lookup_times_each_kind_of_lookup():
    out = io.StringIO()

    call_command("bench_lookup", "--profiles", "300", "--lookups", "5", stdout=out)

    output = out.getvalue()
    assert Profile.objects.filter(project__organization__name=BENCH_ORGANIZATION).count() == 300
    for name in ("$email, reads only", "$email", "$created (any property)", "distinct_id prefix",
                 "engage where $email"):  # fmt: skip
        pattern = (
            rf"\n  {re.escape(name)} +median +[\d.]+ ms, p95 +[\d.]+ ms, slowest +[\d.]+ ms; "
            r"[\d.]+ ids found a lookup"
        )
        assert re.search(pattern, output), output
    assert re.search(r"\n  \$email +median .*; 1\.0 ids found a lookup +\(target < 50 ms: ", output)
    # Each of the three kinds the service runs: the five values untimed (warm-up, at most
    # ten), then timed.
    assert AuditEntry.objects.filter(action=AuditAction.END_USER_LOOKED_UP).count() == 30
