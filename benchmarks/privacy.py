"""`manage.py bench_privacy`: privacy requests end to end on a large store (PostgreSQL only).

What the parts share lives here: the refusal on other databases, the dataset (built with
`manage.py generate_events`, or reused), the choice of subjects, and a real `rqworker` process.
Each part (privacy_export.py, privacy_deletion.py) measures one kind of request.
"""

import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts.models import User
from benchmarks.database import database_url
from benchmarks.errors import BenchRefused
from config.processes import Child, ChildFailed
from projects.models import Event, Project

BENCH_ORGANIZATION = "Privacy benchmark"
BENCH_OWNER = "privacy-bench@example.com"
WORKER_START_TIMEOUT = 60.0
# Each measured deletion removes about 1% of the store: a rerun still reuses it.
REUSE_SHARE = 0.9

Say = Callable[[str], None]


def bench_require_postgresql_and_redis() -> None:
    if connection.vendor != "postgresql":
        raise BenchRefused(
            "bench_privacy needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(this database is {connection.vendor})."
        )
    if settings.JOBS_SYNC:
        raise BenchRefused(
            "bench_privacy runs jobs through a real rqworker: set REDIS_URL=redis://..."
        )


@dataclass(frozen=True)
class BenchDataset:
    project: Project
    owner: User
    events: int
    users: int
    project_token: str
    gdpr_token: str  # the owner's, for the GDPR API


def bench_dataset(*, events: int, users: int, seed: int, say: Say) -> BenchDataset:
    """The bench project for this size, filled by `generate_events` unless it already holds at
    least 90% of `events` events (a rerun reuses it, after its deletions)."""
    out = io.StringIO()
    call_command(
        "createorg",
        org=BENCH_ORGANIZATION,
        owner=BENCH_OWNER,
        project=f"{events:,} events, {users:,} users",
        json=True,
        stdout=out,
    )
    issued = json.loads(out.getvalue())
    project = Project.objects.get(id=issued["project_id"])
    owner = User.objects.get(email=BENCH_OWNER)
    have = Event.objects.filter(project=project).count()
    if have >= events * REUSE_SHARE:
        say(f"Reusing project {project.name!r}: {have:,} events.")
    else:
        missing = events - have
        more_users = max(1, round(users * missing / events))
        say(
            f"Generating {missing:,} events for {more_users:,} users in {project.name!r} "
            "with generate_events ..."
        )
        started = time.monotonic()
        call_command(
            "generate_events",
            project_token=issued["project_token"],
            users=more_users,
            events=missing,
            seed=seed,
            stdout=io.StringIO(),
        )
        say(f"  generated in {time.monotonic() - started:.1f} s")
    # Fresh planner statistics and visibility maps, as autovacuum would have made by the time
    # requests come in (a server with autovacuum off, as some test machines run, never makes
    # them: every index-only count then reads the table too). Quick where nothing changed.
    with connection.cursor() as cursor:
        for table in ("projects_event", "projects_profile", "projects_identitylink"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return BenchDataset(
        project=project,
        owner=owner,
        events=events,
        users=users,
        project_token=issued["project_token"],
        gdpr_token=issued["gdpr_token"],
    )


def bench_subjects(project: Project, *, count: int, seed: int) -> list[str]:
    """`count` generated users of the project, a fixed pseudo-random sample for a seed. Their
    identity clusters (devices, aliases, merged ids) come along when the request starts."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT distinct_id FROM projects_profile WHERE project_id = %s "
            "AND distinct_id LIKE 'user-%%' ORDER BY md5(distinct_id || %s) LIMIT %s",
            [project.id, str(seed), count],
        )
        subjects = [row[0] for row in cursor.fetchall()]
    if len(subjects) < count:
        raise BenchRefused(f"The bench project has {len(subjects):,} users; {count:,} needed.")
    return subjects


class BenchWorker(Child):
    """A real `manage.py rqworker` in a session of its own, its output collected.

    `code` runs in `python -c` after django.setup() and before the worker starts, e.g. to have
    jobs report what they measured; the work-horse, forked from the worker, inherits it.
    """

    def __init__(self, *, code: str = "", extra_env: dict[str, str] | None = None):
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            # DEBUG keeps every query in memory: never in a worker that is measured.
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        script = (
            "import django\ndjango.setup()\n"
            + code
            + "\nfrom django.core.management import call_command\n"
            "call_command('rqworker', 'default')\n"
        )
        super().__init__(
            [sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR, collect_output=True
        )

    def wait_ready(self) -> None:
        try:
            self.wait_for_line(r"Listening on", timeout=WORKER_START_TIMEOUT)
        except ChildFailed as exc:
            self.stop()
            raise BenchRefused(
                "The rqworker did not start:\n" + "\n".join(self.lines[-20:])
            ) from exc

    def rss_kb(self) -> int:
        return proc_status_kb(self.pid, "VmRSS")

    def stop(self, *, grace: float = 30, **options) -> bool:
        return super().stop(grace=grace, **options)


def proc_status_kb(pid: int | str, field: str) -> int:
    """A memory figure of /proc/<pid>/status (Linux), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise BenchRefused(f"/proc/{pid}/status has no {field}")
