"""Deletions with real processes: a `manage.py rqworker` SIGKILLed in the middle of a large
deletion, then the sweep and a new worker finish it; a revoked deletion whose job a worker
picks up later does nothing.

Each test has a redis-server of its own and PostgreSQL's test database; workers run the local
settings (DEBUG off) with REDIS_URL pointing at that server, as in production.
"""

import json
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from rq import Queue
from rq.job import Job, JobStatus

from accounts.actors import OPERATOR, Actor
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import (
    privacy_request_cancel,
    privacy_request_process,
    privacy_request_submit,
)
from privacy_requests.services.queueing import PROCESS_JOB, job_id_for
from projects.identity import LinkRequest, identity_links_apply
from projects.models import (
    Event,
    IdentityKind,
    IdentityLink,
    IdentityLinkRecord,
    Profile,
    SuppressedId,
)
from tests.e2e.conftest import poll_until, without_checkpoint
from tests.factories import ProjectFactory
from tests.privacy_requests.deletion_support import events_add, profile_add

pytestmark = pytest.mark.e2e

QUEUE = "default"
BATCH = 25  # events per transaction in these tests (5,000 by default)
PEOPLE = 40


@pytest.fixture
def deletion_env(database_url, redis_server, tmp_path) -> dict[str, str]:
    """Local settings with DEBUG off, small batches, slow steps and a short lease (so the test
    can kill a worker mid-deletion and the sweep soon sees the request orphaned); the test
    database and the test's own Redis; no sweep booked by the workers themselves."""
    (tmp_path / "e2e_deletion_settings.py").write_text(
        f"from config.settings.local import *  # noqa: F403\nPRIVACY_DELETION_BATCH = {BATCH}\n"
    )
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="e2e_deletion_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
        PRIVACY_SWEEP_INTERVAL="3600",
        PRIVACY_SUBJECT_CHUNK="10",
        PRIVACY_STEP_DELAY_SECONDS="0.05",
        PRIVACY_LEASE_SECONDS="2",
    )
    return env


@pytest.fixture
def no_enqueue(monkeypatch):
    """Requests submitted in the test process are not enqueued from here: the sweep (a process
    of its own) enqueues them on the test's Redis."""
    monkeypatch.setattr(
        "privacy_requests.services.submission.privacy_request_enqueue", lambda *, tracking_id: False
    )


def seed(project) -> list[str]:
    """PEOPLE end users with an alias, a device and a merged id each (4 ids, 1 cluster), 9 to
    52 events per cluster (about 1,200 in all), profiles; and bystanders who keep theirs.
    Returns the ids a requester gives: each person's alias (Mixpanel's rule: it deletes the
    person)."""
    links = []
    for n in range(PEOPLE):
        person = f"person-{n:02d}"
        links += [
            LinkRequest(f"alias-{n:02d}", person, IdentityKind.ALIAS),
            LinkRequest(f"$device:{n:02d}", person, IdentityKind.DEVICE),
            LinkRequest(f"merged-{n:02d}", person, IdentityKind.MERGE),
        ]
        events_add(project, person, 6 + n)
        events_add(project, f"alias-{n:02d}", 1)
        events_add(project, f"$device:{n:02d}", 2)
        events_add(project, f"merged-{n:02d}", n % 3)
        profile_add(project, person, {"$email": f"{person}@end-user.test"})
    for n in range(10):
        events_add(project, f"bystander-{n}", 5)
        profile_add(project, f"bystander-{n}")
        links.append(LinkRequest(f"bystander-alias-{n}", f"bystander-{n}", IdentityKind.ALIAS))
    identity_links_apply(project=project, links=links)
    return [f"alias-{n:02d}" for n in range(PEOPLE)]


def remaining(project) -> dict[str, list]:
    """The project's rows, without the columns that differ between two projects."""
    return {
        "events": sorted(
            Event.objects.filter(project=project).values_list(
                "distinct_id", "name", "time", "insert_id", "source"
            )
        ),
        "profiles": sorted(
            Profile.objects.filter(project=project).values_list("distinct_id", "properties")
        ),
        "identities": sorted(
            IdentityLink.objects.filter(project=project).values_list(
                "distinct_id", "canonical_id", "kind"
            )
        ),
        "identity_evidence": sorted(
            IdentityLinkRecord.objects.filter(project=project).values_list(
                "distinct_id", "canonical_id", "kind", "outcome", "count"
            )
        ),
    }


def request_get(tracking_id: str) -> PrivacyRequest:
    return PrivacyRequest.objects.get(tracking_id=tracking_id)


def run_sweep(spawn, env) -> str:
    sweep = spawn("privacy_sweep", env=env)
    assert sweep.wait(timeout=30) == 0, sweep.output()
    return without_checkpoint(sweep.wait_for_line(r"^Sweep: .*$", timeout=1).group(0))


def actions(request) -> list[str]:
    return list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", flat=True)
    )


def test_a_worker_killed_mid_deletion_is_finished_by_the_sweep_and_a_new_worker_exactly(
    deletion_env, spawn, project, no_enqueue, settings
):
    settings.PRIVACY_DELETION_BATCH = BATCH
    settings.PRIVACY_SUBJECT_CHUNK = 10
    twin = ProjectFactory(organization=project.organization)  # the same data, never killed
    for target in (project, twin):
        target.suppress_deleted_ids = True
        target.save(update_fields=["suppress_deleted_ids"])
    given = seed(project)
    assert seed(twin) == given
    theirs = (
        Event.objects.filter(project=project).exclude(distinct_id__startswith="bystander").count()
    )
    assert theirs > 40 * BATCH
    request = privacy_request_submit(
        project=project,
        actor=OPERATOR,
        channel="api",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=given,
    )

    first = spawn("rqworker", QUEUE, env=deletion_env)
    assert run_sweep(spawn, deletion_env) == (
        "Sweep: enqueued 1, enqueue failed 0, pseudonymized 0 requests"
    )

    def far_into_the_events(progress):
        return progress.get("phase") == "events" and progress["counts"]["events"] >= theirs // 3

    poll_until(
        lambda: far_into_the_events(request_get(request.tracking_id).progress),
        timeout=60,
        interval=0.02,
        message=lambda: f"{request_get(request.tracking_id).progress}\n{first.output()}",
    )
    first.kill()  # SIGKILL: the worker, its scheduler and the work-horse, mid-transaction or not

    crashed = request_get(request.tracking_id)
    assert crashed.status == Status.STARTED
    assert crashed.progress["phase"] == "events"
    # What the saved progress counts is exactly what is gone: no batch half-counted.
    left = (
        Event.objects.filter(project=project).exclude(distinct_id__startswith="bystander").count()
    )
    assert crashed.progress["counts"]["events"] == theirs - left
    assert 0 < left < theirs
    assert SuppressedId.objects.filter(project=project).count() == 4 * PEOPLE

    poll_until(
        lambda: request_get(request.tracking_id).lease_until < timezone.now(),
        timeout=10,
        message="the dead worker's lease did not run out",
    )
    assert run_sweep(spawn, deletion_env) == (
        "Sweep: enqueued 1, enqueue failed 0, pseudonymized 0 requests"
    )
    second = spawn("rqworker", QUEUE, env=deletion_env)
    poll_until(
        lambda: request_get(request.tracking_id).status == Status.SUCCESS,
        timeout=60,
        message=lambda: f"{request_get(request.tracking_id)}\n{second.output()}",
    )

    # The uninterrupted run, in this process, of the same deletion on the twin project.
    uninterrupted = privacy_request_submit(
        project=twin,
        actor=OPERATOR,
        channel="api",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=given,
    )
    assert privacy_request_process(tracking_id=uninterrupted.tracking_id) == Status.SUCCESS
    finished, uninterrupted = (
        request_get(request.tracking_id),
        request_get(uninterrupted.tracking_id),
    )

    assert remaining(project) == remaining(twin)
    assert remaining(project)["identities"] == [
        (f"bystander-alias-{n}", f"bystander-{n}", "alias") for n in range(10)
    ]
    assert {row[0] for row in remaining(project)["events"]} == {f"bystander-{n}" for n in range(10)}
    assert (
        finished.counts
        == uninterrupted.counts
        == {
            "events": theirs,
            "profiles": PEOPLE,
            "identities": 3 * PEOPLE,
            "identity_evidence": 3 * PEOPLE,
            "export_files": 0,
        }
    )
    assert (
        SuppressedId.objects.filter(project=project).count()
        == SuppressedId.objects.filter(project=twin).count()
        == 4 * PEOPLE
    )
    assert finished.runs == 2 and uninterrupted.runs == 1
    assert actions(finished) == [
        "submitted",
        "staged",
        "started",
        "ids_suppressed",
        "resumed",
        "deleted",
        "succeeded",
    ]
    assert finished.progress["longest_transaction_ms"] < 2000
    private = Path(deletion_env["VAR_DIR"]) / "private"
    receipt = json.loads((private / finished.result_file).read_text())
    assert receipt["rows_removed"] == finished.counts
    assert audit_verify(organization_id=project.organization_id) is None


@pytest.mark.parametrize("status", [Status.PENDING, Status.STAGING])
def test_a_revoked_deletion_whose_job_a_worker_picks_up_later_does_nothing(
    deletion_env, spawn, redis_server, project, owner, no_enqueue, settings, status
):
    settings.PRIVACY_DELETION_DELAY = 3600 if status == Status.STAGING else 0
    given = seed(project)[:3]
    before = remaining(project)
    request = privacy_request_submit(
        project=project,
        actor=OPERATOR,
        channel="web",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=given,
    )
    worker = spawn("rqworker", QUEUE, env=deletion_env)
    queue = Queue(QUEUE, connection=redis_server.client())

    def run_job() -> Job:
        job = queue.enqueue(
            PROCESS_JOB, request.tracking_id, job_id=job_id_for(request.tracking_id), result_ttl=600
        )
        poll_until(
            lambda: job.get_status(refresh=True) == JobStatus.FINISHED,
            timeout=30,
            message=lambda: worker.output(),
        )
        return job

    if status == Status.STAGING:  # the worker stages it; its grace period keeps it there
        assert run_job().return_value() == Status.STAGING
    assert request_get(request.tracking_id).status == status
    privacy_request_cancel(request=request, actor=Actor(user=owner, via="web"))
    PrivacyRequest.objects.filter(id=request.id).update(not_before=timezone.now())

    assert run_job().return_value() == Status.REVOKED
    time.sleep(0.5)  # nothing else runs after the job returned
    revoked = request_get(request.tracking_id)
    assert revoked.status == Status.REVOKED
    assert revoked.canceled_by == f"web:{owner.email}"
    assert revoked.runs == 0 and revoked.started_at is None
    assert remaining(project) == before
    assert actions(revoked)[-1] == "canceled"
    assert "started" not in actions(revoked)
