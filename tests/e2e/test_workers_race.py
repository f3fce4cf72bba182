"""Two real rqworkers racing for one request (issue 16, section 1): the request is submitted
through the GDPR API, and its job is delivered twice (as a sweep's re-enqueue racing a
worker that is still alive would deliver it). Both workers run a job for it at the same time;
the lease lets exactly one process it, the other returns at once, and the request ends
SUCCESS once with the counts the tables held.
"""

import time
from http import HTTPStatus

import pytest
import requests
from rq import Queue
from rq.job import JobStatus

from accounts.models import Role
from accounts.services import gdpr_token_issue
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services.queueing import PROCESS_JOB, job_id_for
from projects.models import Event, Profile
from tests.e2e.conftest import poll_until
from tests.factories import EventFactory, MembershipFactory, ProfileFactory, UserFactory

pytestmark = pytest.mark.e2e

RETRIEVALS = "/api/app/data-retrievals/v3.0/"


def test_two_workers_given_the_same_request_process_it_exactly_once(
    gunicorn_site, site_env, redis_server, spawn, project
):
    base_url, _ = gunicorn_site
    owner = UserFactory(email="owner@shop.test")
    MembershipFactory(user=owner, organization=project.organization, role=Role.OWNER)
    people = [f"person-{n:02d}" for n in range(10)]
    for n, person in enumerate(people):
        EventFactory.create_batch(n + 1, project=project, distinct_id=person)
        ProfileFactory(project=project, distinct_id=person)
    EventFactory.create_batch(2, project=project, distinct_id="bystander")
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {gdpr_token_issue(user=owner)}"
    created = api.post(
        f"{base_url}{RETRIEVALS}",
        params={"token": project.token},
        json={"distinct_ids": people},
        timeout=20,
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    tracking_id = created.json()["results"]["task_id"]

    queue = Queue("default", connection=redis_server.client())
    first = queue.fetch_job(job_id_for(tracking_id))
    assert first is not None and first.get_status() == JobStatus.QUEUED
    second = queue.enqueue(PROCESS_JOB, tracking_id, job_id=f"{job_id_for(tracking_id)}-again")
    # Slow steps: the first job still runs when the second worker takes its job.
    worker_env = {**site_env, "PRIVACY_SUBJECT_CHUNK": "2", "PRIVACY_STEP_DELAY_SECONDS": "0.2"}
    workers = [spawn("rqworker", "default", env=worker_env) for _ in range(2)]

    def both_done():
        return all(
            job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED)
            for job in (first, second)
        )

    poll_until(
        both_done,
        timeout=60,
        interval=0.1,
        message=lambda: "\n---\n".join(worker.output() for worker in workers),
    )
    time.sleep(0.5)  # nothing runs after both jobs returned

    returned = sorted(job.return_value() for job in (first, second))
    assert returned == [Status.STARTED, Status.SUCCESS]
    # Each worker took one job: they raced, rather than one running both in turn.
    took = [
        sum(f"default: {PROCESS_JOB}('{tracking_id}')" in line for line in worker.lines)
        for worker in workers
    ]
    assert sorted(took) == [1, 1], took
    request = PrivacyRequest.objects.get(tracking_id=tracking_id)
    assert request.status == Status.SUCCESS
    assert request.runs == 1
    expected_events = sum(range(1, 11))
    assert request.counts == {
        "events": expected_events,
        "profiles": 10,
        "identities": 0,
        "identity_evidence": 0,
    }
    assert Event.objects.filter(project=project, distinct_id__in=people).count() == 55
    assert Profile.objects.filter(project=project, distinct_id__in=people).count() == 10
    actions = list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", flat=True)
    )
    assert actions == ["submitted", "staged", "started", "succeeded"]
    assert audit_verify(organization_id=project.organization_id) is None
