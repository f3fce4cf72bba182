"""`manage.py bench_ingest`: /import through gunicorn over real HTTP, against a raw COPY of the
very same rows into the same table, in one run (PostgreSQL only).

The bench uses its own organization and two projects of it, one a side, so the two loads insert
into the same table and indexes without deduplicating each other; a run's rows are deleted at
the end unless asked to keep them.
"""

import importlib.util
import io
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from benchmarks.errors import BenchRefused
from benchmarks.ingest_client import LIBRARY, LIBRARY_VERSION, bench_events_build
from benchmarks.servers import BenchServer, last_line
from projects.generation import disk_check
from projects.ingestion.event_rows import UNSTORED_PROPERTIES
from projects.models import Event, Project

BENCH_ORGANIZATION = "Ingestion benchmark"
BENCH_OWNER = "ingestion-bench@example.com"
IMPORT_PROJECT = "Import through gunicorn"
COPY_PROJECT = "Raw COPY"
CLIENT_TIMEOUT = 3600.0

Say = Callable[[str], None]


@dataclass
class BenchResult:
    events: int
    import_imported: int
    import_seconds: float
    copy_seconds: float
    latency_p50: float | None
    latency_p95: float | None

    @property
    def import_rate(self) -> float:
        return self.import_imported / self.import_seconds if self.import_seconds else 0.0

    @property
    def copy_rate(self) -> float:
        return self.events / self.copy_seconds if self.copy_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.import_rate / self.copy_rate if self.copy_rate else 0.0


def ingest_bench_run(
    *,
    events: int,
    batch: int,
    workers: int,
    connections: int,
    keep_data: bool = False,
    say: Say,
) -> BenchResult:
    if connection.vendor != "postgresql":
        raise BenchRefused(
            "bench_ingest needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(this database is {connection.vendor})."
        )
    if importlib.util.find_spec("gunicorn") is None:
        raise BenchRefused("gunicorn is not installed: pip install -e '.[dev]'.")
    disk_check(users=1, events=2 * events)
    import_project, token, api_secret = _bench_project(IMPORT_PROJECT)
    copy_project, _, _ = _bench_project(COPY_PROJECT)
    run_tag = secrets.token_hex(4)
    now = int(time.time())
    say(
        f"Bench {run_tag}: {events:,} events in batches of {batch:,}, gunicorn with {workers} "
        f"workers, {connections} client connections (organization {BENCH_ORGANIZATION!r})"
    )
    try:
        client = _import_through_gunicorn(
            task={
                "run_tag": run_tag,
                "token": token,
                "api_secret": api_secret,
                "events": events,
                "batch": batch,
                "connections": connections,
                "now": now,
            },
            workers=workers,
            say=say,
        )
        if client["failure_count"]:
            raise BenchRefused(
                f"{client['failure_count']} requests to /import failed, the first: "
                f"{client['failures'][0]}"
            )
        if client["events_imported"] != events:
            raise BenchRefused(
                f"/import accepted {client['events_imported']:,} of {events:,} events."
            )
        say(
            f"  /import: {events:,} events in {client['seconds']:.2f} s = "
            f"{events / client['seconds']:,.0f} events/s (request p50 "
            f"{client['latency_p50'] * 1000:.0f} ms, p95 {client['latency_p95'] * 1000:.0f} ms)"
        )
        copy_seconds = _copy_same_rows(
            project=copy_project, run_tag=run_tag, token=token, events=events, now=now
        )
        say(
            f"  COPY:    {events:,} events in {copy_seconds:.2f} s = "
            f"{events / copy_seconds:,.0f} events/s"
        )
    finally:
        if not keep_data:
            _bench_rows_delete(projects=[import_project, copy_project], run_tag=run_tag)
    return BenchResult(
        events=events,
        import_imported=client["events_imported"],
        import_seconds=client["seconds"],
        copy_seconds=copy_seconds,
        latency_p50=client["latency_p50"],
        latency_p95=client["latency_p95"],
    )


def _bench_project(name: str) -> tuple[Project, str, str]:
    """The bench organization's project `name`, its token and a freshly issued API secret."""
    out = io.StringIO()
    call_command("createorg", org=BENCH_ORGANIZATION, owner=BENCH_OWNER, project=name, json=True,
                 stdout=out)  # fmt: skip
    issued = json.loads(out.getvalue())
    project = Project.objects.get(id=issued["project_id"])
    return project, issued["project_token"], issued["api_secret"]


def _import_through_gunicorn(*, task: dict, workers: int, say: Say) -> dict:
    with BenchServer(workers=workers, say=say) as server:
        finished = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "benchmarks.ingest_client"],
            input=json.dumps({**task, "port": server.port}).encode(),
            capture_output=True,
            cwd=settings.BASE_DIR,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
    if finished.returncode != 0:
        raise BenchRefused(
            "The client process failed: " + last_line(finished.stderr.decode(errors="replace"))
        )
    return json.loads(finished.stdout)


def _copy_text(value: str) -> str:
    # COPY's text format: backslash escapes for the characters that delimit rows and columns.
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _copy_same_rows(*, project: Project, run_tag: str, token: str, events: int, now: int) -> float:
    """COPYs the rows /import stored, made ready beforehand: the time is the database's alone."""
    ingested_at = datetime.now(tz=UTC).isoformat()
    source = _copy_text(f"import/{LIBRARY} {LIBRARY_VERSION}")
    lines = []
    for event in bench_events_build(run_tag=run_tag, token=token, count=events, now=now):
        properties = event["properties"]
        stored = {key: value for key, value in properties.items() if key not in UNSTORED_PROPERTIES}
        lines.append(
            "\t".join(
                (
                    str(project.id),
                    _copy_text(properties["distinct_id"]),
                    _copy_text(event["event"]),
                    datetime.fromtimestamp(properties["time"], tz=UTC).isoformat(),
                    properties["$insert_id"],
                    _copy_text(json.dumps(stored, ensure_ascii=False, separators=(",", ":"))),
                    source,
                    ingested_at,
                )
            )
            + "\n"
        )
    blocks = [
        "".join(lines[start : start + 10_000]).encode() for start in range(0, len(lines), 10_000)
    ]
    del lines
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(
            "COPY projects_event (project_id, distinct_id, name, time, insert_id, properties, "
            "source, ingested_at) FROM STDIN"
        ) as copy:
            for block in blocks:
                copy.write(block)
    return time.perf_counter() - started


def _bench_rows_delete(*, projects: list[Project], run_tag: str) -> None:
    # Every distinct_id of the run starts with "bench-<tag>-": an index range, whatever the
    # collation ("." follows "-").
    Event.objects.filter(
        project__in=projects,
        distinct_id__gte=f"bench-{run_tag}-",
        distinct_id__lt=f"bench-{run_tag}.",
    ).delete()
