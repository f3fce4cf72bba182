"""`manage.py bench_engage_query`: the engage query on a store of N generated profiles
(PostgreSQL only), measured the two ways it is used.

- In process, for a few `where` expressions and each strategy (the database evaluates `where`
  in SQL, or Python evaluates it over the streamed profiles): page 0 (one walk of the whole
  selection, which counts it and notes where each page starts), the Python heap's peak during
  page 0 (what stays flat whatever the store), and a full pass through every later page with
  the session, as mixpanel-utils makes it.
- Over HTTP: the unmodified `mixpanel-utils` `query_engage` through gunicorn, the whole
  selection, as `people_*` with `query_params` and `deduplicate_people` fetch it.

The bench project is reused when it already holds the profiles (a rerun measures again).
"""

import importlib.util
import io
import json
import math
import os
import socket
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from benchmarks.database import database_url
from benchmarks.errors import BenchRefused
from config.processes import Child, ChildFailed
from projects.engage_query.parameters import engage_query_parse
from projects.engage_query.selectors import PAGE_SIZE, Strategy, profile_page_select
from projects.models import Profile, Project

BENCH_ORGANIZATION = "Engage query benchmark"
BENCH_OWNER = "engage-query-bench@example.com"
SERVER_START_TIMEOUT = 60.0
WHERES = {
    "every profile": "",
    "deduplicate_people's": '(boolean(properties["$email"]) == true)',
    "plan is pro": 'properties["plan"] == "pro"',
    "US, not free": 'properties["$country_code"] == "US" and properties["plan"] != "free"',
}
HTTP_WHERES = ("every profile", "deduplicate_people's")

Say = Callable[[str], None]


@dataclass(frozen=True)
class PassFigures:
    where: str
    strategy: Strategy
    total: int
    first_page_seconds: float
    first_page_peak_bytes: int
    pages: int
    later_pages_seconds: float
    slowest_later_page_seconds: float

    def line(self) -> str:
        later = (
            f"{self.pages - 1:,} later pages in {self.later_pages_seconds:.2f} s "
            f"(slowest {self.slowest_later_page_seconds * 1000:.0f} ms)"
            if self.pages > 1
            else "no later page"
        )
        return (
            f"  {self.where:<22} {self.strategy:<8} {self.total:>9,} profiles: "
            f"page 0 in {self.first_page_seconds:.2f} s "
            f"(peak {self.first_page_peak_bytes / 2**20:.1f} MiB); {later}"
        )


def engage_bench_run(*, profiles: int, seed: int, say: Say) -> None:
    if connection.vendor != "postgresql":
        raise BenchRefused(
            "bench_engage_query needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(this database is {connection.vendor})."
        )
    for package in ("gunicorn", "mixpanel_utils"):
        if importlib.util.find_spec(package) is None:
            raise BenchRefused(f"{package} is not installed: pip install -e '.[dev]'.")
    project, secret = _bench_project(profiles=profiles, seed=seed, say=say)
    say(f"Engage query on {profiles:,} profiles, {PAGE_SIZE:,} a page, in process:")
    for name, where in WHERES.items():
        for strategy in ("database", "python"):
            say(_full_pass(project=project, name=name, where=where, strategy=strategy).line())
    _through_gunicorn(project=project, secret=secret, say=say)


def _bench_project(*, profiles: int, seed: int, say: Say) -> tuple[Project, str]:
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
            events=max(1, (profiles - have) // 10),
            seed=seed,
            stdout=io.StringIO(),
        )
        say(f"  generated in {time.monotonic() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE projects_profile")
    return project, issued["api_secret"]


def _full_pass(*, project: Project, name: str, where: str, strategy: Strategy) -> PassFigures:
    def page(**params: str):
        query = engage_query_parse({"where": where, **params})
        return profile_page_select(project=project, query=query, strategy=strategy)

    started = time.perf_counter()
    first = page()
    first_seconds = time.perf_counter() - started
    # Traced apart: tracing slows Python several times over.
    tracemalloc.start()
    page()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    pages = max(1, math.ceil(first.total / PAGE_SIZE))
    slowest = later = 0.0
    for number in range(1, pages):
        started = time.perf_counter()
        body = page(session_id=first.session_id, page=str(number))
        seconds = time.perf_counter() - started
        if not body.results:
            raise BenchRefused(f"{name}, {strategy}: page {number} came back empty")
        later += seconds
        slowest = max(slowest, seconds)
    return PassFigures(
        where=name,
        strategy=strategy,
        total=first.total,
        first_page_seconds=first_seconds,
        first_page_peak_bytes=peak,
        pages=pages,
        later_pages_seconds=later,
        slowest_later_page_seconds=slowest,
    )


def _through_gunicorn(*, project: Project, secret: str, say: Say) -> None:
    # Imported here: a development dependency, checked for before the run.
    from mixpanel_utils import MixpanelUtils

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_CONN_MAX_AGE": "60",
        "DJANGO_SETTINGS_MODULE": os.environ.get(
            "DJANGO_SETTINGS_MODULE", "config.settings.production"
        ),
    }
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread",
               "--threads", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "300",
               "--log-level", "warning", "config.wsgi:application"]  # fmt: skip
    server = Child(command, cwd=settings.BASE_DIR, env=env, collect_output=True)
    try:
        try:
            server.wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=SERVER_START_TIMEOUT)
        except ChildFailed as exc:
            raise BenchRefused(f"gunicorn did not start: {server.output()[-500:]}") from exc
        client = MixpanelUtils(secret, token=project.token, timeout=300)
        client.formatted_api = f"http://127.0.0.1:{port}/api"
        client.import_api = f"http://127.0.0.1:{port}"
        say("mixpanel-utils query_engage through gunicorn (2 workers, 2 threads each):")
        for name in HTTP_WHERES:
            params = {"project_id": project.pk}
            if WHERES[name]:
                params["where"] = WHERES[name]
            started = time.perf_counter()
            fetched = client.query_engage(params)
            seconds = time.perf_counter() - started
            say(
                f"  {name:<22} {len(fetched):>9,} profiles in {seconds:.1f} s "
                f"({len(fetched) / seconds:,.0f} profiles/s)"
            )
    finally:
        server.stop(grace=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
