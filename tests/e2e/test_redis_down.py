"""Redis stopped under a real gunicorn (issue 16, section 1): every entry point still answers,
never 500. A person signs in, submits an export and a deletion (through its preview) on the
pages, follows them on the polling endpoints; the GDPR API creates, reads, lists and cancels;
the SDK's /track, /engage and /import are stored; the back office opens. The requests wait as
rows (the truth); once Redis is back the sweep enqueues them and a worker ends each one
SUCCESS exactly once, with counts that match the database and the audit trail. And Redis
stopped while a deletion runs: the job goes on (its state is in PostgreSQL), ends once, and
the worker serves the next request after Redis is back.

gunicorn and the worker run the local settings (DEBUG off) on the PostgreSQL test database and
a redis-server of the test's own, as in production.
"""

import base64
import json
import re
import time
from http import HTTPStatus

import pytest
import requests
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.actors import Actor
from accounts.models import Role
from accounts.services import gdpr_token_issue
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from projects.models import Event, Profile
from projects.services import project_rotate_api_secret
from tests.e2e.conftest import HttpClient, poll_until, without_checkpoint
from tests.factories import (
    EventFactory,
    MembershipFactory,
    ProfileFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"
HTTP_TIMEOUT = 20
PASSWORD = "correct-horse-battery-staple"


def csrf_token(page_text: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page_text)
    assert match, page_text[:2000]
    return match.group(1)


def tracking_id_in(url: str) -> str:
    match = re.search(r"/privacy/(?!export/|deletion/)([A-Za-z0-9_-]+)/$", url)
    assert match, url
    return match.group(1)


def run_sweep(spawn, env) -> str:
    sweep = spawn("privacy_sweep", env=env)
    assert sweep.wait(timeout=30) == 0, sweep.output()
    return without_checkpoint(sweep.wait_for_line(r"^Sweep: .*$", timeout=1).group(0))


def final_or_none(tracking_id: str) -> PrivacyRequest | None:
    request = PrivacyRequest.objects.get(tracking_id=tracking_id)
    return request if request.status in (Status.SUCCESS, Status.FAILURE) else None


def audit_actions(request: PrivacyRequest) -> list[str]:
    return list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", flat=True)
    )


def test_with_redis_stopped_every_entry_point_answers_and_the_sweep_finishes_the_requests(
    gunicorn_site, site_env, redis_server, spawn, project
):
    base_url, server = gunicorn_site
    owner = UserFactory(email="owner@shop.test")
    MembershipFactory(user=owner, organization=project.organization, role=Role.OWNER)
    staff = UserFactory(email="staff@operator.test", is_staff=True, is_superuser=True)
    for user in (owner, staff):
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        # The servers' hasher: the test settings' MD5 is not among theirs.
        user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
        user.save(update_fields=["password"])
    gdpr_token = gdpr_token_issue(user=owner)
    api_secret = project_rotate_api_secret(actor=Actor(user=owner, via="web"), project=project)
    for person, events in (("alice", 3), ("bob", 2), ("carol", 4), ("dave", 1)):
        EventFactory.create_batch(events, project=project, distinct_id=person)
        ProfileFactory(project=project, distinct_id=person)
    org = project.organization.id
    redis_server.stop()

    # The pages: sign in, submit an export, a deletion through its preview, follow them.
    person = HttpClient()
    landed = person.sign_in(base_url, email=owner.email, password=PASSWORD)
    assert landed.status == HTTPStatus.OK, landed.text[:2000]
    assert "/accounts/login/" not in landed.url, landed.text
    form = person.get(f"{base_url}/orgs/{org}/privacy/export/")
    assert form.status == HTTPStatus.OK
    exported = person.post(
        f"{base_url}/orgs/{org}/privacy/export/",
        {
            "csrfmiddlewaretoken": csrf_token(form.text),
            "compliance": "GDPR",
            "project": str(project.id),
            "ids_from": "one",
            "distinct_id": "alice",
            "disclosure": "Data",
        },
    )
    assert exported.status == HTTPStatus.OK and "/privacy/export/" in exported.url, exported.text
    exported = person.post(
        exported.url, {"csrfmiddlewaretoken": csrf_token(exported.text), "action": "submit"}
    )
    assert exported.status == HTTPStatus.OK, exported.text[:3000]
    web_export = tracking_id_in(exported.url)
    form = person.get(f"{base_url}/orgs/{org}/privacy/deletion/")
    preview = person.post(
        f"{base_url}/orgs/{org}/privacy/deletion/",
        {
            "csrfmiddlewaretoken": csrf_token(form.text),
            "compliance": "GDPR",
            "project": str(project.id),
            "ids_from": "one",
            "distinct_id": "bob",
        },
    )
    assert preview.status == HTTPStatus.OK and "/privacy/deletion/" in preview.url, preview.text
    confirmed = person.post(
        preview.url, {"csrfmiddlewaretoken": csrf_token(preview.text), "confirm": "on"}
    )
    assert confirmed.status == HTTPStatus.OK, confirmed.text[:3000]
    web_deletion = tracking_id_in(confirmed.url)
    status = person.get(f"{base_url}/orgs/{org}/privacy/{web_deletion}/status/")
    assert status.status == HTTPStatus.OK
    assert json.loads(status.text)["status"] == Status.PENDING
    listed = person.get(f"{base_url}/orgs/{org}/privacy/")
    assert listed.status == HTTPStatus.OK and web_export in listed.text

    # The GDPR API: create, status, list, cancel.
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {gdpr_token}"
    query = {"token": project.token}
    created = api.post(
        f"{base_url}{RETRIEVALS}", params=query, json={"distinct_ids": ["carol"]}, timeout=20
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    api_export = created.json()["results"]["task_id"]
    created = api.post(
        f"{base_url}{DELETIONS}", params=query, json={"distinct_ids": ["dave"]}, timeout=20
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    api_deletion = created.json()["results"]["task_id"]
    created = api.post(
        f"{base_url}{RETRIEVALS}", params=query, json={"distinct_ids": ["nobody"]}, timeout=20
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    api_canceled = created.json()["results"]["task_id"]
    read = api.get(f"{base_url}{RETRIEVALS}{api_export}/", params=query, timeout=20)
    assert (read.status_code, read.json()["results"]["status"]) == (200, "PENDING")
    assert api.get(f"{base_url}/api/requests/", timeout=20).status_code == HTTPStatus.OK
    canceled = api.delete(f"{base_url}{RETRIEVALS}{api_canceled}/", params=query, timeout=20)
    assert canceled.status_code == HTTPStatus.NO_CONTENT, canceled.text

    # Ingestion, as the SDKs send it.
    def sdk_data(payload) -> dict:
        return {"data": base64.b64encode(json.dumps(payload).encode()).decode()}

    tracked = requests.post(
        f"{base_url}/track",
        data=sdk_data([{"event": "Opened", "properties": {
            "token": project.token, "distinct_id": "erin", "time": 1767225600,
            "$insert_id": "redis-down-1"}}]),
        timeout=HTTP_TIMEOUT,
    )  # fmt: skip
    engaged = requests.post(
        f"{base_url}/engage",
        data=sdk_data([{"$token": project.token, "$distinct_id": "erin", "$set": {"plan": "x"}}]),
        timeout=HTTP_TIMEOUT,
    )
    imported = requests.post(
        f"{base_url}/import",
        json=[{"event": "Paid", "properties": {
            "distinct_id": "erin", "time": 1767225600, "$insert_id": "redis-down-2"}}],
        auth=(api_secret, ""),
        timeout=HTTP_TIMEOUT,
    )  # fmt: skip
    assert (tracked.status_code, tracked.text) == (200, "1")
    assert (engaged.status_code, engaged.text) == (200, "1")
    assert imported.status_code == HTTPStatus.OK, imported.text

    # The back office.
    operator = HttpClient()
    operator.sign_in(base_url, email=staff.email, password=PASSWORD)
    index = operator.get(f"{base_url}/admin/")
    assert index.status == HTTPStatus.OK, index.text[:3000]
    changelist = operator.get(f"{base_url}/admin/privacy_requests/privacyrequest/")
    assert changelist.status == HTTPStatus.OK and api_export in changelist.text
    dashboard = operator.get(f"{base_url}/admin/rq/")
    assert dashboard.status == HTTPStatus.SERVICE_UNAVAILABLE, dashboard.text[:3000]

    assert "Internal Server Error" not in server.output()
    assert sorted(Event.objects.filter(distinct_id="erin").values_list("insert_id", flat=True)) == [
        "redis-down-1",
        "redis-down-2",
    ]
    assert Profile.objects.get(project=project, distinct_id="erin").properties == {"plan": "x"}
    waiting = [web_export, web_deletion, api_export, api_deletion]
    assert {
        request.tracking_id: request.status
        for request in PrivacyRequest.objects.filter(tracking_id__in=waiting)
    } == dict.fromkeys(waiting, Status.PENDING)

    # Redis back: the sweep enqueues what waits, a worker runs each request once.
    redis_server.start()
    assert run_sweep(spawn, site_env) == (
        "Sweep: enqueued 4, enqueue failed 0, pseudonymized 0 requests"
    )
    worker = spawn("rqworker", "default", env=site_env)

    def all_final():
        final = list(PrivacyRequest.objects.filter(tracking_id__in=waiting))
        return final if all(r.status in (Status.SUCCESS, Status.FAILURE) for r in final) else None

    final = {
        request.tracking_id: request
        for request in poll_until(all_final, timeout=60, message=worker.output, interval=0.2)
    }
    events = {"alice": 3, "bob": 2, "carol": 4, "dave": 1}
    for tracking_id, person_id in zip(waiting, ["alice", "bob", "carol", "dave"], strict=True):
        request = final[tracking_id]
        assert request.status == Status.SUCCESS, request.error
        assert request.runs == 1
        counts = {"events": events[person_id], "profiles": 1, "identities": 0}
        assert {key: request.counts[key] for key in counts} == counts
    assert Event.objects.filter(project=project, distinct_id__in=["bob", "dave"]).count() == 0
    assert Event.objects.filter(project=project, distinct_id__in=["alice", "carol"]).count() == 7
    assert audit_actions(final[api_export]) == ["submitted", "staged", "started", "succeeded"]
    assert audit_actions(final[web_deletion]) == [
        "submitted",
        "staged",
        "started",
        "deleted",
        "succeeded",
    ]
    assert PrivacyRequest.objects.get(tracking_id=api_canceled).status == Status.REVOKED
    assert audit_verify(organization_id=project.organization_id) is None


def test_redis_stopped_while_a_deletion_runs_the_request_still_ends_once(
    gunicorn_site, site_env, redis_server, spawn, project
):
    base_url, server = gunicorn_site
    owner = UserFactory(email="owner@shop.test")
    MembershipFactory(user=owner, organization=project.organization, role=Role.OWNER)
    gdpr_token = gdpr_token_issue(user=owner)
    people = [f"person-{n:02d}" for n in range(20)]
    for person in people:
        EventFactory.create_batch(30, project=project, distinct_id=person)
        ProfileFactory(project=project, distinct_id=person)
    EventFactory.create_batch(3, project=project, distinct_id="bystander")
    worker_env = {
        **site_env,
        "PRIVACY_DELETION_BATCH": "30",
        "PRIVACY_SUBJECT_CHUNK": "5",
        "PRIVACY_STEP_DELAY_SECONDS": "0.1",
        "PRIVACY_LEASE_SECONDS": "3",
        "LOG_LEVEL": "INFO",
    }
    worker = spawn("rqworker", "default", env=worker_env)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {gdpr_token}"
    query = {"token": project.token}
    created = api.post(
        f"{base_url}{DELETIONS}", params=query, json={"distinct_ids": people}, timeout=20
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    tracking_id = created.json()["results"]["task_id"]

    def deleting_events():
        progress = PrivacyRequest.objects.get(tracking_id=tracking_id).progress or {}
        return progress.get("phase") == "events" and progress["counts"]["events"] >= 150

    poll_until(deleting_events, timeout=30, interval=0.05, message=worker.output)
    redis_server.stop()
    during = api.get(f"{base_url}{DELETIONS}{tracking_id}", params=query, timeout=20)
    assert during.status_code == HTTPStatus.OK, during.text
    assert during.json()["results"]["status"] == "STARTED"
    time.sleep(2)
    redis_server.start()  # empty

    request = poll_until(
        lambda: final_or_none(tracking_id), timeout=60, interval=0.2, message=worker.output
    )
    # The job is in PostgreSQL's hands: it went on while Redis was away, and ended once.
    assert request.status == Status.SUCCESS, request.error
    assert request.runs == 1
    assert request.counts == {
        "events": 600,
        "profiles": 20,
        "identities": 0,
        "identity_evidence": 0,
        "export_files": 0,
    }
    assert Event.objects.filter(project=project, distinct_id__in=people).count() == 0
    assert Profile.objects.filter(project=project, distinct_id__in=people).count() == 0
    assert Event.objects.filter(project=project, distinct_id="bystander").count() == 3
    assert audit_actions(request) == ["submitted", "staged", "started", "deleted", "succeeded"]
    # The same worker serves the next request: it outlived the outage.
    created = api.post(
        f"{base_url}{RETRIEVALS}", params=query, json={"distinct_ids": ["bystander"]}, timeout=20
    )
    assert created.status_code == HTTPStatus.CREATED, created.text
    export = poll_until(
        lambda: final_or_none(created.json()["results"]["task_id"]),
        timeout=30,
        interval=0.2,
        message=worker.output,
    )
    assert (export.status, export.counts["events"]) == (Status.SUCCESS, 3)
    assert worker.poll() is None
    assert audit_verify(organization_id=project.organization_id) is None
