"""The privacy request engine with real processes: `manage.py rqworker` workers that crash, a Redis
server that goes away, processors that fail, workers that race, and the sweep that books itself.

Each test has a redis-server of its own and PostgreSQL's test database; workers run the local
settings (DEBUG off) with REDIS_URL pointing at that server, exactly as in production.
"""

import json
import os
import sys
import time
import uuid
import zipfile
from datetime import datetime

import pytest
from django.conf import settings
from django.utils import timezone
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from accounts.actors import Actor
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry, PrivacyRequest, RequestSubject, Status
from privacy_requests.services import privacy_request_submit
from privacy_requests.services.queueing import job_id_for, privacy_request_enqueue
from privacy_requests.worker import PrivacyWorker
from projects.models import Event, IdentityKind, IdentityLink, IdentityLinkRecord, Profile
from tests.e2e.conftest import poll_until, result_files_in, without_checkpoint
from tests.factories import EventFactory, IdentityLinkFactory, ProfileFactory, ProjectFactory

pytestmark = pytest.mark.e2e

QUEUE = "default"

# Runs in `manage.py shell -c`: submits a request as the API would, in a process of its own.
SUBMIT_CODE = """
import json, os
from accounts.models import User
from accounts.actors import Actor
from privacy_requests.services import privacy_request_submit
from projects.models import Project

order = json.loads(os.environ["E2E_SUBMIT"])
request = privacy_request_submit(
    project=Project.objects.get(id=order["project_id"]),
    actor=Actor(user=User.objects.get(id=order["user_id"]), via="api"),
    channel="api", kind=order["kind"], compliance="GDPR", distinct_ids=order["distinct_ids"],
)
request.refresh_from_db()
print("SUBMITTED", json.dumps({"tracking_id": request.tracking_id, "status": request.status}))
"""

# Runs with `python -c`: a real rqworker whose export processor fails as E2E_FAULT says. The
# work-horse is forked from this process, so it inherits the patched processor table.
FAULTY_WORKER_CODE = """
import os
import django

django.setup()
from django.core.management import call_command
from django.db import OperationalError
from privacy_requests.engine import registry

fault = os.environ["E2E_FAULT"]
tries = 0

def faulty_processor(run):
    global tries
    tries += 1
    print(f"E2E processor try {tries}", flush=True)
    if fault == "bad-data":
        raise ValueError("event 42 has a time the export cannot represent")
    if fault == "database-down" or (fault == "database-blip" and tries <= 2):
        # Drivers put the reason on the first line; later lines may quote row values.
        raise OperationalError("server closed the connection unexpectedly\\nDETAIL: row 7")
    return export_process(run)

export_process = registry.PROCESSORS["export"]
registry.PROCESSORS["export"] = faulty_processor
call_command("rqworker", "default")
"""

# Runs in `manage.py shell -c`: connects, says so, waits for the go file, then processes.
RACER_CODE = """
import os, pathlib, time
from privacy_requests.models import PrivacyRequest
from privacy_requests.services import privacy_request_process

tracking_id = os.environ["E2E_TRACKING_ID"]
go = pathlib.Path(os.environ["E2E_GO_FILE"])
PrivacyRequest.objects.filter(tracking_id=tracking_id).exists()  # connected before the start
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
print("returned", privacy_request_process(tracking_id=tracking_id), flush=True)
"""


@pytest.fixture
def engine_env(database_url, redis_server, tmp_path) -> dict[str, str]:
    """Environment of the test's child processes: local settings with DEBUG off, the test
    database, the test's own Redis server; no sweep booked within a test unless it asks."""
    (tmp_path / "e2e_engine_settings.py").write_text(
        "from config.settings.local import *  # noqa: F403\n"
        "# Automatic retries of transient errors pause briefly, so a test sees all four tries.\n"
        "PRIVACY_RETRY_BACKOFF = [0.1, 0.2, 0.3]\n"
    )
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="e2e_engine_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        PRIVACY_SWEEP_INTERVAL="3600",
    )
    return env


def seed_people(project, *, people: int) -> tuple[list[str], list[str]]:
    """`people` end users, person-NN: each has n % 3 + 1 events, every other one a profile, and
    a device id linked to them that has one event of its own. Also data that is not theirs: a
    bystander in the same project, and the same person ids in another project.

    Returns the person ids (what a requester gives) and the device ids (linked), sorted."""
    persons = [f"person-{n:02d}" for n in range(people)]
    devices = [f"$device:phone-{n:02d}" for n in range(people)]
    for n, (person, device) in enumerate(zip(persons, devices, strict=True)):
        EventFactory.create_batch(n % 3 + 1, project=project, distinct_id=person)
        EventFactory(project=project, distinct_id=device)
        if n % 2 == 0:
            ProfileFactory(project=project, distinct_id=person)
        IdentityLinkFactory(
            project=project, distinct_id=device, canonical_id=person, kind=IdentityKind.DEVICE
        )
    EventFactory.create_batch(3, project=project, distinct_id="bystander")
    ProfileFactory(project=project, distinct_id="bystander")
    elsewhere = ProjectFactory()
    for person in persons:
        EventFactory(project=elsewhere, distinct_id=person)
        ProfileFactory(project=elsewhere, distinct_id=person)
    return persons, sorted(devices)


def counts_in_database(*, project, subjects: list[str], snapshot_at: datetime) -> dict:
    """What the request must find, counted straight from the tables."""
    return {
        "events": Event.objects.filter(
            project=project, distinct_id__in=subjects, ingested_at__lte=snapshot_at
        ).count(),
        "profiles": Profile.objects.filter(project=project, distinct_id__in=subjects).count(),
        "identities": IdentityLink.objects.filter(
            project=project, distinct_id__in=subjects
        ).count(),
        # Raw link rows (IdentityLinkFactory): no link records.
        "identity_evidence": IdentityLinkRecord.objects.filter(
            project=project, distinct_id__in=subjects
        ).count(),
    }


def submit_in_process_of_its_own(
    spawn, env, *, project, user, distinct_ids, kind: str = "export"
) -> tuple[str, str]:
    """Submits a request from a `manage.py shell` process; returns (tracking_id, its output)."""
    order = {
        "project_id": project.id,
        "user_id": user.id,
        "distinct_ids": distinct_ids,
        "kind": kind,
    }
    submitter = spawn("shell", "-c", SUBMIT_CODE, env={**env, "E2E_SUBMIT": json.dumps(order)})
    assert submitter.wait(timeout=30) == 0, submitter.output()
    submitted = json.loads(submitter.wait_for_line(r"^SUBMITTED (.*)$", timeout=1).group(1))
    return submitted["tracking_id"], submitter.output()


def submit_with_enqueue_lost(monkeypatch, *, project, user, distinct_ids) -> PrivacyRequest:
    """Submits in this process, with the enqueue lost (as if Redis dropped it): no job."""
    monkeypatch.setattr(
        "privacy_requests.services.submission.privacy_request_enqueue", lambda *, tracking_id: False
    )
    return privacy_request_submit(
        project=project,
        actor=Actor(user=user, via="web"),
        channel="web",
        kind="export",
        compliance="GDPR",
        distinct_ids=distinct_ids,
    )


def run_sweep(spawn, env) -> str:
    sweep = spawn("privacy_sweep", env=env)
    assert sweep.wait(timeout=30) == 0, sweep.output()
    return without_checkpoint(sweep.wait_for_line(r"^Sweep: .*$", timeout=1).group(0))


def request_get(tracking_id: str) -> PrivacyRequest:
    return PrivacyRequest.objects.get(tracking_id=tracking_id)


def wait_until_final(tracking_id: str, *, timeout: float, processes=(), on_poll=None):
    def final():
        request = request_get(tracking_id)
        if on_poll is not None:
            on_poll(request)
        return request if request.status in (Status.SUCCESS, Status.FAILURE) else None

    def explain() -> str:
        request = request_get(tracking_id)
        outputs = "\n".join(f"--- {' '.join(p.command)[:80]}:\n{p.output()}" for p in processes)
        return f"{tracking_id} still {request.status} ({request.progress})\n{outputs}"

    return poll_until(final, timeout=timeout, message=explain, interval=0.05)


def audit_actions(request: PrivacyRequest) -> list[str]:
    return list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", flat=True)
    )


def crash_env(engine_env, *, chunk: int, step_delay: float) -> dict[str, str]:
    """Slow steps, so a test can kill a worker between two of them, and a short lease, so the
    sweep soon sees that the dead worker's request is orphaned."""
    return {
        **engine_env,
        "PRIVACY_SUBJECT_CHUNK": str(chunk),
        "PRIVACY_STEP_DELAY_SECONDS": str(step_delay),
        "PRIVACY_LEASE_SECONDS": "3",
    }


def kill_worker_once(tracking_id: str, worker, *, saved) -> PrivacyRequest:
    """Waits until the request's progress satisfies saved(progress), then SIGKILLs the worker:
    its main process, rq's scheduler and the work-horse, which rq puts in a process group of
    its own (so killing the worker's group alone would leave the horse running)."""
    poll_until(
        lambda: saved(request_get(tracking_id).progress),
        timeout=20,
        interval=0.05,
        message=lambda: (
            f"progress never got there: {request_get(tracking_id).progress}\n{worker.output()}"
        ),
    )
    horses = [pid for pid in worker.session_members() if os.getpgid(pid) != worker.pid]
    worker.kill()
    assert horses, "no work-horse in a process group of its own"
    return request_get(tracking_id)


def hand_over_after_lease_expiry(tracking_id: str, spawn, env) -> None:
    """Nothing renews the dead worker's lease: once it runs out, the sweep re-enqueues."""
    poll_until(
        lambda: request_get(tracking_id).lease_until < timezone.now(),
        timeout=10,
        message="the dead worker's lease did not run out",
    )
    assert request_get(tracking_id).status == Status.STARTED
    assert run_sweep(spawn, env) == "Sweep: enqueued 1, enqueue failed 0, pseudonymized 0 requests"


def test_worker_killed_mid_deletion_is_resumed_from_its_last_saved_step(
    engine_env, spawn, owner, project
):
    # 10 persons and their 10 devices: 20 subjects. In chunks of 5, the deletion takes 4 steps
    # for each of events, profiles and identity links, plus export files before and after and
    # the receipt: 15 steps of half a second.
    persons, devices = seed_people(project, people=10)
    subjects = persons + devices
    seeded_at = timezone.now()
    theirs = counts_in_database(project=project, subjects=subjects, snapshot_at=seeded_at)
    others = {
        "events": Event.objects.exclude(project=project, distinct_id__in=subjects).count(),
        "profiles": Profile.objects.exclude(project=project, distinct_id__in=subjects).count(),
    }
    env = crash_env(engine_env, chunk=5, step_delay=0.5)
    first = spawn("rqworker", QUEUE, env=env)
    tracking_id, _ = submit_in_process_of_its_own(
        spawn, engine_env, project=project, user=owner, distinct_ids=persons, kind="deletion"
    )

    # Killed once all events and some profiles are gone: at least 20 + 10 of 3 × 20 subjects.
    crashed = kill_worker_once(tracking_id, first, saved=lambda p: p.get("done", 0) >= 30)
    crashed_at = crashed.progress["done"]

    assert crashed.status == Status.STARTED
    assert crashed.runs == 1
    assert crashed.snapshot_at > seeded_at
    assert crashed.progress["phase"] in ("profiles", "identities")
    assert 30 <= crashed_at < 60
    assert crashed.progress["counts"]["events"] == 29
    # An event that arrives after the request started lies past its snapshot: left alone.
    late = EventFactory(project=project, distinct_id=persons[-1])
    assert late.ingested_at > crashed.snapshot_at

    hand_over_after_lease_expiry(tracking_id, spawn, engine_env)
    second = spawn("rqworker", QUEUE, env=env)
    saved_steps: list[int] = []

    def note_step(request: PrivacyRequest) -> None:
        if not saved_steps or saved_steps[-1] != request.progress["done"]:
            saved_steps.append(request.progress["done"])

    final = wait_until_final(tracking_id, timeout=20, processes=[second], on_poll=note_step)

    assert final.status == Status.SUCCESS, final.error
    # The new worker went on from the saved step, never back to an earlier one. (Normally
    # every step is seen; a busy machine may poll past one, never back.)
    assert saved_steps[0] == crashed_at
    assert saved_steps[-1] == 60
    assert saved_steps == sorted(set(saved_steps))
    assert set(saved_steps) <= set(range(crashed_at, 61, 5))
    # Each row was counted once: the totals are what the tables held before the deletion.
    assert theirs == {"events": 29, "profiles": 5, "identities": 10, "identity_evidence": 0}
    assert final.counts == {**theirs, "export_files": 0}
    assert counts_in_database(
        project=project, subjects=subjects, snapshot_at=crashed.snapshot_at
    ) == {"events": 0, "profiles": 0, "identities": 0, "identity_evidence": 0}
    assert list(Event.objects.filter(project=project, distinct_id__in=subjects)) == [late]
    assert (
        Event.objects.exclude(project=project, distinct_id__in=subjects).count()
        == (others["events"])
    )
    assert (
        Profile.objects.exclude(project=project, distinct_id__in=subjects).count()
        == (others["profiles"])
    )
    assert final.runs == 2
    assert final.snapshot_at == crashed.snapshot_at
    assert final.not_found == []
    assert final.lease_until is None
    assert final.result_file != ""  # the receipt
    assert list(
        RequestSubject.objects.filter(request=final)
        .order_by("position")
        .values_list("distinct_id", "linked")
    ) == ([(person, False) for person in persons] + [(device, True) for device in devices])
    assert audit_actions(final) == [
        "submitted",
        "staged",
        "started",
        "resumed",
        "deleted",
        "succeeded",
    ]
    resumed = AuditEntry.objects.get(request=final, action="resumed")
    assert resumed.detail == {
        "run": 2,
        "snapshot_at": crashed.snapshot_at.isoformat(),
        "subjects": 20,
    }
    assert audit_verify(organization_id=project.organization_id) is None


def test_worker_killed_mid_export_starts_the_package_over_and_leaves_one_file(
    engine_env, spawn, owner, project, tmp_path
):
    # 5 persons and their 5 devices: 10 subjects, in 2 chunks of 5. The export saves its
    # progress after each chunk of each file (events, profiles, identities) and before saving.
    persons, devices = seed_people(project, people=5)
    subjects = persons + devices
    seeded_at = timezone.now()
    env = crash_env(engine_env, chunk=5, step_delay=0.5)
    first = spawn("rqworker", QUEUE, env=env)
    tracking_id, _ = submit_in_process_of_its_own(
        spawn, engine_env, project=project, user=owner, distinct_ids=persons
    )

    # Killed once the events file is written, while profiles or identities are.
    crashed = kill_worker_once(
        tracking_id, first, saved=lambda p: p.get("step") in ("profiles", "identities")
    )
    crashed_at = (crashed.progress["step"], crashed.progress["done"])
    first_file = crashed.progress["file"]

    hand_over_after_lease_expiry(tracking_id, spawn, engine_env)
    second = spawn("rqworker", QUEUE, env=env)
    saved_steps: list[tuple[str, int]] = []

    def note_step(request: PrivacyRequest) -> None:
        step = (request.progress.get("step"), request.progress.get("done"))
        if not saved_steps or saved_steps[-1] != step:
            saved_steps.append(step)

    final = wait_until_final(tracking_id, timeout=20, processes=[second], on_poll=note_step)

    assert final.status == Status.SUCCESS, final.error
    # An interrupted export writes its package from scratch (DESIGN section 4).
    assert saved_steps[0] == crashed_at
    assert saved_steps[1][0] == "events"
    assert saved_steps[-1] == ("saving", 10)
    expected = counts_in_database(project=project, subjects=subjects, snapshot_at=seeded_at)
    assert expected == {"events": 14, "profiles": 3, "identities": 5, "identity_evidence": 0}
    assert final.counts == expected
    assert final.runs == 2
    assert audit_actions(final) == ["submitted", "staged", "started", "resumed", "succeeded"]
    # One package in storage (and its subjects' packages beside it, issue 17, built by a job
    # of their own after SUCCESS), under the second run's name; nothing of the dead run's.
    final = poll_until(
        lambda: (
            (r := PrivacyRequest.objects.get(pk=final.pk)).subject_packages_pending is False and r
        ),
        timeout=20,
        message=lambda: second.output(),
    )
    stored = result_files_in(tmp_path / "var" / "private")
    assert stored == sorted([final.result_file, *(p["file"] for p in final.result_packages)])
    assert final.result_packages
    assert final.result_file != first_file
    with zipfile.ZipFile(tmp_path / "var" / "private" / final.result_file) as package:
        manifest = json.loads(package.read("manifest.json"))
        events = package.read("events.jsonl").decode().splitlines()
    assert manifest["counts"] == expected
    assert len(events) == expected["events"]
    assert audit_verify(organization_id=project.organization_id) is None


def test_request_submitted_while_redis_is_down_is_processed_once_redis_is_back(
    engine_env, spawn, redis_server, owner, project
):
    persons, devices = seed_people(project, people=3)
    redis_server.stop()

    tracking_id, output = submit_in_process_of_its_own(
        spawn, engine_env, project=project, user=owner, distinct_ids=persons
    )

    assert f"Could not enqueue {job_id_for(tracking_id)}; the sweep will retry" in output
    assert request_get(tracking_id).status == Status.PENDING
    # A sweep while Redis is still down reports it and changes nothing.
    assert run_sweep(spawn, engine_env) == (
        "Sweep: enqueued 0, enqueue failed 1, pseudonymized 0 requests"
    )
    assert request_get(tracking_id).status == Status.PENDING

    redis_server.start()  # on the same port, empty
    assert run_sweep(spawn, engine_env) == (
        "Sweep: enqueued 1, enqueue failed 0, pseudonymized 0 requests"
    )
    job = Job.fetch(job_id_for(tracking_id), connection=redis_server.client())
    assert job.get_status() == JobStatus.QUEUED
    worker = spawn("rqworker", QUEUE, env=engine_env)
    final = wait_until_final(tracking_id, timeout=20, processes=[worker])

    assert final.status == Status.SUCCESS, final.error
    assert final.counts == {"events": 9, "profiles": 2, "identities": 3, "identity_evidence": 0}
    assert final.counts == counts_in_database(
        project=project,
        subjects=persons + devices,
        snapshot_at=final.snapshot_at,
    )
    assert final.runs == 1
    assert audit_actions(final) == ["submitted", "staged", "started", "succeeded"]


@pytest.mark.parametrize(
    ("fault", "tries", "status", "error", "actions"),
    [
        pytest.param(
            "bad-data",
            1,
            Status.FAILURE,
            "ValueError: event 42 has a time the export cannot represent",
            ["submitted", "staged", "started", "failed"],
            id="non-transient-error-fails-at-once",
        ),
        pytest.param(
            "database-blip",
            3,
            Status.SUCCESS,
            "",
            ["submitted", "staged", "started", "succeeded"],
            id="transient-error-retried-then-succeeds",
        ),
        pytest.param(
            "database-down",
            4,
            Status.FAILURE,
            "Gave up after 4 tries: OperationalError: server closed the connection unexpectedly",
            ["submitted", "staged", "started", "failed"],
            id="transient-error-retried-three-times-then-fails",
        ),
    ],
)
def test_processing_error_ends_failure_with_a_readable_reason_unless_a_retry_cures_it(
    engine_env, spawn, owner, project, fault, tries, status, error, actions
):
    persons, _ = seed_people(project, people=3)
    worker = spawn(
        command=[sys.executable, "-c", FAULTY_WORKER_CODE], env={**engine_env, "E2E_FAULT": fault}
    )
    tracking_id, _ = submit_in_process_of_its_own(
        spawn, engine_env, project=project, user=owner, distinct_ids=persons
    )

    final = wait_until_final(tracking_id, timeout=20, processes=[worker])

    assert final.status == status
    assert final.error == error
    assert final.runs == 1
    assert final.lease_until is None
    assert final.finished_at is not None
    assert audit_actions(final) == actions
    last = AuditEntry.objects.filter(request=final).order_by("seq").last()
    if status == Status.FAILURE:
        assert last.detail == {"error": error}
        assert final.counts == {}
    else:
        assert final.counts == {"events": 9, "profiles": 2, "identities": 3, "identity_evidence": 0}
    worker.wait_for_line(rf"E2E processor try {tries}$", timeout=5)
    assert sum(line.startswith("E2E processor try") for line in worker.lines) == tries
    retried = [line for line in worker.lines if f"Transient error on {tracking_id}" in line]
    assert len(retried) == min(tries - 1, 3)


def test_two_processes_racing_on_one_request_run_it_exactly_once(
    engine_env, spawn, owner, project, monkeypatch, tmp_path
):
    persons, devices = seed_people(project, people=3)
    request = submit_with_enqueue_lost(
        monkeypatch, project=project, user=owner, distinct_ids=persons
    )
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    racer_env = {
        **engine_env,
        "E2E_TRACKING_ID": request.tracking_id,
        "E2E_GO_FILE": str(go),
        "PRIVACY_SUBJECT_CHUNK": "2",
        "PRIVACY_STEP_DELAY_SECONDS": "0.3",
    }
    racers = [spawn("shell", "-c", RACER_CODE, env=racer_env) for _ in range(2)]
    for racer in racers:
        racer.wait_for_line(r"^ready$", timeout=20)

    go.touch()  # both call privacy_request_process within a millisecond or so
    for racer in racers:
        assert racer.wait(timeout=20) == 0, racer.output()

    returned = sorted(
        racer.wait_for_line(r"^returned (\w+)$", timeout=1).group(1) for racer in racers
    )
    final = request_get(request.tracking_id)
    # The loser found the request STARTED under the winner's lease and left it alone.
    assert returned == ["STARTED", "SUCCESS"]
    assert final.status == Status.SUCCESS
    assert final.runs == 1
    assert audit_actions(final) == ["submitted", "staged", "started", "succeeded"]
    assert final.counts == {"events": 9, "profiles": 2, "identities": 3, "identity_evidence": 0}
    assert final.counts == counts_in_database(
        project=project,
        subjects=persons + devices,
        snapshot_at=final.snapshot_at,
    )
    assert audit_verify(organization_id=project.organization_id) is None


def test_worker_books_and_runs_the_sweep_itself_which_recovers_a_lost_enqueue(
    engine_env, spawn, redis_server, owner, project, monkeypatch
):
    persons, _ = seed_people(project, people=3)
    request = submit_with_enqueue_lost(
        monkeypatch, project=project, user=owner, distinct_ids=persons
    )
    redis = redis_server.client()
    assert request.status == Status.PENDING
    assert not Job.exists(job_id_for(request.tracking_id), connection=redis)

    # No --with-scheduler and no sweep command: the worker class does both on its own.
    worker = spawn("rqworker", QUEUE, env={**engine_env, "PRIVACY_SWEEP_INTERVAL": "2"})
    final = wait_until_final(request.tracking_id, timeout=15, processes=[worker])

    assert final.status == Status.SUCCESS, final.error
    assert final.runs == 1
    assert audit_actions(final) == ["submitted", "staged", "started", "succeeded"]
    # rq's scheduler ran in this worker and moved the booked sweep to the queue; the sweep job,
    # with its slot id, enqueued the request's job.
    sweep_line = worker.wait_for_line(
        r"privacy_requests\.tasks\.sweep\(\) \((privacy-sweep-\d+)\)", timeout=1
    )
    job_id = job_id_for(request.tracking_id)
    process_line = worker.wait_for_line(
        rf"process_privacy_request\('{request.tracking_id}'\) \({job_id}\)", timeout=1
    )
    assert worker.lines.index(sweep_line.string) < worker.lines.index(process_line.string)
    worker.wait_for_line(rf"Scheduler for {QUEUE} started with PID \d+", timeout=1)
    assert redis.exists(f"rq:scheduler-lock:{QUEUE}")
    # Each sweep books the next one.
    poll_until(
        lambda: [
            job_id
            for job_id in ScheduledJobRegistry(QUEUE, connection=redis).get_job_ids()
            if job_id.startswith("privacy-sweep-") and job_id != sweep_line.group(1)
        ],
        timeout=5,
        message=lambda: f"no next sweep booked:\n{worker.output()}",
    )


def test_worker_books_the_sweep_again_at_its_maintenance_after_redis_lost_it(
    redis_server, settings
):
    # Without this, a Redis server that restarted empty under running workers left them with
    # no sweep until one of them restarted: a request whose enqueue failed meanwhile stayed
    # PENDING for good. RQ's maintenance round (which also restarts its scheduler) heals it.
    settings.JOBS_SYNC = False
    settings.RQ_QUEUES = {QUEUE: {"URL": redis_server.url, "DEFAULT_TIMEOUT": 900}}
    redis = redis_server.client()
    worker = PrivacyWorker([QUEUE], connection=redis)

    def booked_sweeps() -> list[str]:
        return ScheduledJobRegistry(QUEUE, connection=redis).get_job_ids()

    worker.run_maintenance_tasks()
    first = booked_sweeps()
    assert len(first) == 1
    assert first[0].startswith("privacy-sweep-")
    worker.run_maintenance_tasks()
    assert booked_sweeps() == first  # a chain is alive: nothing more booked

    redis.flushall()  # the server restarted without its data
    assert booked_sweeps() == []
    worker.run_maintenance_tasks()

    again = booked_sweeps()
    assert len(again) == 1
    assert again[0].startswith("privacy-sweep-")


def test_a_running_worker_books_the_sweep_and_restarts_its_scheduler_soon_after_redis_restarts(
    engine_env, spawn, redis_server
):
    # A real worker, idle, under a Redis server that loses everything: within one maintenance
    # round (a minute by default, 2 s here; RQ's own is 10 minutes and an idle worker blocked
    # on Redis for 405 s between checks) the sweep is booked again and the scheduler runs.
    redis = redis_server.client()
    env = {
        **engine_env,
        "PRIVACY_SWEEP_INTERVAL": "600",
        "PRIVACY_WORKER_MAINTENANCE_INTERVAL": "2",
    }
    worker = spawn("rqworker", QUEUE, env=env)

    def booked() -> list[str]:
        return [
            job_id
            for job_id in ScheduledJobRegistry(QUEUE, connection=redis).get_job_ids()
            if job_id.startswith("privacy-sweep-")
        ]

    poll_until(booked, timeout=15, message=lambda: f"no sweep booked:\n{worker.output()}")
    poll_until(
        lambda: redis.exists(f"rq:scheduler-lock:{QUEUE}"),
        timeout=15,
        message=lambda: f"no scheduler:\n{worker.output()}",
    )

    redis.flushall()  # the server restarted without its data
    assert booked() == []
    lost_at = time.monotonic()

    poll_until(booked, timeout=15, message=lambda: f"no sweep booked again:\n{worker.output()}")
    poll_until(
        lambda: redis.exists(f"rq:scheduler-lock:{QUEUE}"),
        timeout=15,
        message=lambda: f"the scheduler did not come back:\n{worker.output()}",
    )
    assert time.monotonic() - lost_at < 15
    assert worker.process.poll() is None


def test_a_worker_started_while_redis_is_down_waits_for_it_then_works(
    engine_env, spawn, redis_server, owner, project
):
    # It used to print the connection error and exit, so a worker (re)started during a Redis
    # outage stayed down until something restarted it.
    redis_server.stop()
    persons, _ = seed_people(project, people=2)
    worker = spawn("rqworker", QUEUE, env={**engine_env, "PRIVACY_SWEEP_INTERVAL": "1"})
    worker.wait_for_line(r"Redis does not answer .*; waiting for it", timeout=15)
    # Submitted meanwhile: stored, its enqueue failed; the sweep will find it.
    request = privacy_request_submit(
        project=project,
        actor=Actor(user=owner, via="api"),
        channel="api",
        kind="export",
        compliance="gdpr",
        distinct_ids=persons,
    )
    time.sleep(2)
    assert worker.process.poll() is None

    redis_server.start()
    worker.wait_for_line(r"Redis answers again; the worker starts", timeout=15)
    final = wait_until_final(request.tracking_id, timeout=30, processes=[worker])
    assert final.status == Status.SUCCESS, final.error
    assert final.runs == 1


def test_the_sweep_replaces_a_job_whose_killed_execution_left_a_dangling_id(redis_server, settings):
    # Found by `chaos`: after a work-horse was SIGKILLed, its job's execution registry named an
    # execution whose hash had expired, and RQ's Job.delete() raised ValueError on it, so the
    # sweep's re-enqueue (which replaces the job) crashed.
    settings.JOBS_SYNC = False
    settings.RQ_QUEUES = {QUEUE: {"URL": redis_server.url, "DEFAULT_TIMEOUT": 900}}
    redis = redis_server.client()
    tracking_id = uuid.uuid4().hex
    job_id = job_id_for(tracking_id)
    assert privacy_request_enqueue(tracking_id=tracking_id)
    job = Job.fetch(job_id, connection=redis)
    redis.zadd(job.execution_registry.key, {"dead-execution": time.time() + 3600})

    assert privacy_request_enqueue(tracking_id=tracking_id, replace=True)

    assert Job.fetch(job_id, connection=redis).get_status() == JobStatus.QUEUED
    assert not redis.exists(job.execution_registry.key)
