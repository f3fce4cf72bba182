"""`manage.py bench_lookup`: the end-user lookup (issue 18) on a store of N generated profiles
(PostgreSQL only), as the page and the API run it: the service, which finds the matching ids,
reviews their clusters, counts their events and appends the audit entry. For each kind of
lookup, `--lookups` different values drawn from the store, each timed once; the median, p95
and slowest. The target: `$email` under 50 ms over 1M profiles.

- `$email`: a profile's address in capitals (the lookup ignores case), one match; also the
  reads alone (the selector), without the audit entry, whose commit waits for the disk.
- another property: `$created` (a timestamp, about one profile each), through the GIN index.
- prefix: a user id without its last two digits (up to 100 ids, 50 shown).
- the engage query's `where properties["$email"] == "…"`: its first page.

The bench project is reused when it already holds the profiles (a rerun measures again).
"""

import io
import json
import statistics
import time
from collections.abc import Callable

from django.core.management import call_command
from django.db import connection

from accounts.actors import OPERATOR
from benchmarks.errors import BenchRefused
from privacy_requests.services.end_user_lookup import end_user_lookup
from projects.end_user_lookup import end_user_lookup_find, lookup_query_make
from projects.engage_query.parameters import engage_query_parse
from projects.engage_query.selectors import profile_page_select
from projects.models import Profile, Project

BENCH_ORGANIZATION = "Lookup benchmark"
BENCH_OWNER = "lookup-bench@example.com"
TARGET_MS = 50.0
WARM_UP = 10

Say = Callable[[str], None]


def lookup_bench_run(*, profiles: int, lookups: int, seed: int, say: Say) -> None:
    if connection.vendor != "postgresql":
        raise BenchRefused(
            "bench_lookup needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(this database is {connection.vendor})."
        )
    project = _bench_project(profiles=profiles, seed=seed, say=say)
    sample = list(
        Profile.objects.filter(project=project)
        .order_by("?")
        .values_list("distinct_id", "properties")[:lookups]
    )
    say(f"End-user lookup on {profiles:,} profiles, {len(sample)} different values each:")
    kinds: dict[str, Callable[[str, dict], Callable[[], int]]] = {
        "$email, reads only": lambda _, p: _find(project, "$email", p["$email"].upper()),
        "$email": lambda _, p: _service(project, "$email", p["$email"].upper()),
        "$created (any property)": lambda _, p: _service(project, "$created", p["$created"]),
        "distinct_id prefix": lambda distinct_id, _: _service(project, None, distinct_id[:-2]),
        "engage where $email": lambda _, p: _engage(project, p["$email"]),
    }
    for name, make in kinds.items():
        # Warm-up, untimed: the first statements of a connection plan and cache.
        for distinct_id, properties in sample[:WARM_UP]:
            make(distinct_id, properties)()
        timings, found = [], 0
        for distinct_id, properties in sample:
            run = make(distinct_id, properties)
            started = time.perf_counter()
            found += run()
            timings.append((time.perf_counter() - started) * 1000)
        say(_line(name, timings, found))


def _service(project: Project, property_name: str | None, value: str) -> Callable[[], int]:
    query = lookup_query_make(property_name=property_name, value=value)

    def run() -> int:
        result = end_user_lookup(actor=OPERATOR, project=project, query=query)
        return len(result.matched)

    return run


def _find(project: Project, property_name: str, value: str) -> Callable[[], int]:
    """The selector alone: the reads, without the audit entry and its commit."""
    query = lookup_query_make(property_name=property_name, value=value)
    return lambda: len(end_user_lookup_find(project=project, query=query).matched)


def _engage(project: Project, email: str) -> Callable[[], int]:
    query = engage_query_parse({"where": f'properties["$email"] == {json.dumps(email)}'})
    return lambda: len(profile_page_select(project=project, query=query).results)


def _line(name: str, timings: list[float], found: int) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    verdict = ""
    if name == "$email":
        verdict = f"  (target < {TARGET_MS:.0f} ms: {'met' if p95 < TARGET_MS else 'NOT met'})"
    return (
        f"  {name:<26} median {median:6.1f} ms, p95 {p95:6.1f} ms, slowest {ordered[-1]:6.1f} ms; "
        f"{found / len(timings):.1f} ids found a lookup{verdict}"
    )


def _bench_project(*, profiles: int, seed: int, say: Say) -> Project:
    out = io.StringIO()
    call_command(
        "createorg",
        org=BENCH_ORGANIZATION,
        owner=BENCH_OWNER,
        project=f"{profiles:,} profiles",
        json=True,
        stdout=out,
    )
    issued = json.loads(out.getvalue())
    project = Project.objects.get(id=issued["project_id"])
    have = Profile.objects.filter(project=project).count()
    if have >= profiles:
        say(f"Reusing project {project.name!r}: {have:,} profiles.")
    else:
        say(f"Generating {profiles - have:,} profiles in {project.name!r} with generate_events ...")
        started = time.monotonic()
        call_command(
            "generate_events",
            project_token=issued["project_token"],
            users=profiles - have,
            events=profiles - have,
            seed=seed,
            stdout=io.StringIO(),
        )
        say(f"  generated in {time.monotonic() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE projects_profile")
        cursor.execute("ANALYZE projects_identitylink")
    return project
