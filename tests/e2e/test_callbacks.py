"""Signed callbacks end to end (issue 19): gunicorn, an rqworker, a redis-server of the test's
own and a receiver in a process of its own, on the PostgreSQL test database.

A callback arrives for each subscribed event (submitted, started, succeeded, revoked, failed,
overdue), each with a signature that verifies; the receiver fails every delivery twice and
each gets its third try (the backoff is set to a second); a replayed body is told by its
timestamp; and with private addresses not allowed, the worker refuses to call the receiver.
"""

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.callbacks.endpoints import callback_endpoint_create
from privacy_requests.callbacks.signing import SignatureInvalid, signature_verify
from privacy_requests.models import CallbackDelivery, PrivacyRequest, Status
from projects.models import Event
from tests.e2e.conftest import poll_until, unused_port
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory

pytestmark = pytest.mark.e2e

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"
RECEIVER = Path(__file__).resolve().parent.parent / "callback_receiver.py"


class ReceiverProcess:
    def __init__(self, spawn, env, tmp_path: Path, *, codes: str = ""):
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "received.jsonl"
        self.log.touch()
        self.process = spawn(
            command=[sys.executable, str(RECEIVER), str(self.port), str(self.log), codes],
            env=env,
        )
        self.process.wait_for_line(r"Receiving on", timeout=10)

    def received(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


def _organization():
    organization = OrganizationFactory(name="Acme")
    project = ProjectFactory(organization=organization)
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    return organization, project, owner


def _api(base_url, project, token, method, path, body=None):
    return requests.request(
        method,
        f"{base_url}{path}?token={project.token}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _events(receiver) -> list[tuple[str, str]]:
    return [
        (json.loads(record["body"])["task_id"], json.loads(record["body"])["event"])
        for record in receiver.received()
        if record["answered"] == 200
    ]


def test_a_callback_arrives_for_each_event_signed_and_retried(
    site_env, gunicorn_site, spawn, tmp_path
):
    env = {
        **site_env,
        "CALLBACK_RETRY_BASE_SECONDS": "1",
        "PRIVACY_DELETION_DELAY": "3600",
    }
    receiver = ReceiverProcess(spawn, env, tmp_path, codes="500,500")
    base_url, _ = gunicorn_site
    worker = spawn("rqworker", "default", env=env)
    worker.wait_for_line(r"Listening on", timeout=30)
    organization, project, owner = _organization()
    endpoint = callback_endpoint_create(
        actor=Actor(user=owner, via="web"),
        organization=organization,
        url=receiver.url + "/hooks",
        events=["submitted", "started", "succeeded", "failed", "revoked", "overdue"],
    )
    token = gdpr_token_reset(user=owner)
    Event.objects.create(
        project=project,
        distinct_id="alice",
        name="Signup",
        time=timezone.now(),
        insert_id="e1",
        ingested_at=timezone.now(),
    )

    # An export: submitted (the receiver fails it twice), started, succeeded.
    export = _api(base_url, project, token, "post", RETRIEVALS, {"distinct_ids": ["alice"]})
    assert export.status_code == 201, export.text
    export_id = export.json()["results"]["task_id"]
    expected = {(export_id, "submitted"), (export_id, "started"), (export_id, "succeeded")}
    poll_until(
        lambda: expected <= set(_events(receiver)),
        timeout=60,
        message=lambda: f"callbacks so far: {receiver.received()}\n{worker.output()}",
    )

    # Every delivery: two 500s, then the third try, each signed afresh, under one webhook-id.
    tries: dict[str, list[dict]] = {}
    for record in receiver.received():
        tries.setdefault(record["headers"]["webhook-id"], []).append(record)
    assert {len(records) for records in tries.values()} == {3}
    for records in tries.values():
        assert [record["answered"] for record in records] == [500, 500, 200]
        timestamps = [int(record["headers"]["webhook-timestamp"]) for record in records]
        assert timestamps[0] < timestamps[1] < timestamps[2]
    delivery = CallbackDelivery.objects.get(request__tracking_id=export_id, event="submitted")
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 3, 200)
    for record in receiver.received():
        body = record["body"].encode()
        signature_verify(
            secret=endpoint.secret, headers=record["headers"], body=body, now=record["at"]
        )
        # The same body and headers replayed ten minutes later are refused by their timestamp.
        with pytest.raises(SignatureInvalid, match="too old"):
            signature_verify(
                secret=endpoint.secret,
                headers=record["headers"],
                body=body,
                now=record["at"] + 600,
            )
    succeeded = next(
        json.loads(record["body"])
        for record in receiver.received()
        if json.loads(record["body"])["event"] == "succeeded"
    )
    assert succeeded["results"] == {"status": "SUCCESS", "result": ""}

    # A deletion in its grace period, canceled: submitted, then revoked.
    deletion = _api(base_url, project, token, "post", DELETIONS, {"distinct_ids": ["bob"]})
    deletion_id = deletion.json()["results"]["task_id"]
    canceled = _api(base_url, project, token, "delete", f"{DELETIONS}{deletion_id}/")
    assert canceled.status_code == 204, canceled.text
    poll_until(
        lambda: {(deletion_id, "submitted"), (deletion_id, "revoked")} <= set(_events(receiver)),
        timeout=30,
        message=lambda: f"callbacks so far: {receiver.received()}",
    )

    # An export whose file cannot be written (the storage is gone) fails after its retries.
    media = Path(env["MEDIA_ROOT"])
    media.rename(tmp_path / "media-away")
    media.write_text("not a directory")
    failing = _api(base_url, project, token, "post", RETRIEVALS, {"distinct_ids": ["alice"]})
    failing_id = failing.json()["results"]["task_id"]
    poll_until(
        lambda: (failing_id, "failed") in set(_events(receiver)),
        timeout=60,
        message=lambda: f"callbacks so far: {receiver.received()}\n{worker.output()}",
    )
    media.unlink()
    (tmp_path / "media-away").rename(media)

    # Past its due date, the failed request is overdue: the sweep sends the event once.
    PrivacyRequest.objects.filter(tracking_id=failing_id).update(
        due_at=timezone.now() - timedelta(days=1)
    )
    for _ in range(2):
        sweep = spawn("privacy_sweep", env=env)
        assert sweep.wait(timeout=60) == 0, sweep.output()
    poll_until(
        lambda: (failing_id, "overdue") in set(_events(receiver)),
        timeout=30,
        message=lambda: f"callbacks so far: {receiver.received()}",
    )
    assert PrivacyRequest.objects.get(tracking_id=failing_id).status == Status.FAILURE
    assert sorted(event for task, event in _events(receiver) if task == failing_id) == [
        "failed",
        "overdue",
        "started",
        "submitted",
    ]


def test_a_private_address_is_refused_when_not_allowed(site_env, gunicorn_site, spawn, tmp_path):
    env = {**site_env, "CALLBACK_ALLOW_PRIVATE_ADDRESSES": "0"}
    receiver = ReceiverProcess(spawn, env, tmp_path)
    base_url, _ = gunicorn_site
    worker = spawn("rqworker", "default", env=env)
    worker.wait_for_line(r"Listening on", timeout=30)
    organization, project, owner = _organization()
    # Registered where the test settings allow it; the worker's settings do not.
    callback_endpoint_create(
        actor=Actor(user=owner, via="web"),
        organization=organization,
        url=receiver.url + "/hooks",
        events=["submitted"],
    )
    token = gdpr_token_reset(user=owner)

    created = _api(base_url, project, token, "post", RETRIEVALS, {"distinct_ids": ["alice"]})
    assert created.status_code == 201, created.text

    delivery = poll_until(
        lambda: CallbackDelivery.objects.filter(status="refused").first(),
        timeout=30,
        message=lambda: f"no refused delivery:\n{worker.output()}",
    )
    assert delivery.error == "Refused: 127.0.0.1 resolves to 127.0.0.1 is a loopback address."
    assert delivery.attempts == 1
    assert receiver.received() == []
