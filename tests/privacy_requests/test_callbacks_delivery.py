"""Delivering signed callbacks (issue 19): one per subscribed event, in the status resource's
shape, signed; retried with backoff; recorded before the queue sees it; safe by default."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.actors import SYSTEM, Actor
from accounts.models import Role
from privacy_requests.callbacks.deliveries import (
    callback_delivery_attempt,
    callback_delivery_resend,
    callback_event_emit,
)
from privacy_requests.callbacks.endpoints import callback_endpoint_create
from privacy_requests.callbacks.signing import signature_verify
from privacy_requests.models import (
    CallbackDelivery,
    CallbackEvent,
    DeliveryStatus,
    PrivacyRequest,
)
from privacy_requests.services import privacy_request_cancel, privacy_sweep
from tests.callback_receiver import Receiver
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def register(project, owner_actor, receiver):
    def register(*, events=tuple(CallbackEvent.values), path="/hooks", **options):
        return callback_endpoint_create(
            actor=owner_actor,
            organization=project.organization,
            url=receiver.url + path,
            events=list(events),
            **options,
        )

    return register


def bodies(receiver) -> list[dict]:
    return [json.loads(record["body"]) for record in receiver.received]


def test_an_export_calls_back_for_each_subscribed_event_signed(
    register, submit, add_event, receiver
):
    endpoint = register(events=["submitted", "started", "succeeded"])
    add_event("alice")

    request = submit(distinct_ids=["alice"], run=True)

    assert [body["event"] for body in bodies(receiver)] == ["submitted", "started", "succeeded"]
    for record in receiver.received:
        signature_verify(
            secret=endpoint.secret, headers=record["headers"], body=record["body"].encode()
        )
        assert record["path"] == "/hooks"
        assert record["headers"]["content-type"] == "application/json"
    last = bodies(receiver)[-1]
    assert last["task_id"] == request.tracking_id
    assert last["type"] == "privacy_request.succeeded"
    assert last["kind"] == "retrieval"
    assert last["status"] == "ok"
    # The status API's shape, less what the endpoint did not opt into.
    assert last["results"] == {"status": "SUCCESS", "result": ""}
    deliveries = CallbackDelivery.objects.filter(endpoint=endpoint)
    assert {(d.status, d.attempts, d.response_code) for d in deliveries} == {
        (DeliveryStatus.DELIVERED, 1, 200)
    }
    ids = [record["headers"]["webhook-id"] for record in receiver.received]
    assert sorted(ids) == sorted(deliveries.values_list("delivery_id", flat=True))


def test_distinct_ids_and_the_download_link_only_when_opted_in(
    register, submit, add_event, receiver
):
    register(events=["succeeded"], include_distinct_ids=True, include_download_link=True)
    add_event("alice")

    request = submit(distinct_ids=["alice"], run=True)

    results = bodies(receiver)[0]["results"]
    assert results["distinct_ids"] == ["alice"]
    assert results["reached_distinct_ids"] == ["alice"]
    assert results["result"].startswith("http://127.0.0.1:8000/downloads/" + request.tracking_id)
    assert results["subject_results"][0]["distinct_id"] == "alice"


def test_only_subscribed_events_and_covered_projects_are_sent(register, submit, project, receiver):
    register(events=["failed"])
    register(events=["submitted"], project=ProjectFactory(organization=project.organization))

    submit(distinct_ids=["alice"], run=True)

    assert receiver.received == []
    assert CallbackDelivery.objects.count() == 0


def test_a_cancel_calls_back_revoked(
    register, submit, owner_actor, receiver, django_capture_on_commit_callbacks
):
    register(events=["revoked"])
    request = submit(kind="deletion")

    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_cancel(request=request, actor=owner_actor)

    assert [(b["event"], b["results"]["status"]) for b in bodies(receiver)] == [
        ("revoked", "REVOKED")
    ]
    assert bodies(receiver)[0]["kind"] == "deletion"


def test_a_failing_receiver_gets_retries_with_growing_delays(register, submit, receiver):
    receiver.codes = [500, 503]
    register(events=["submitted"])
    submit(run=True)
    delivery = CallbackDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    first_retry = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=1) <= first_retry < timedelta(seconds=2)  # test base: 1 s

    assert callback_delivery_attempt(delivery_pk=delivery.id) == "skipped"  # not due yet
    with time_machine.travel(delivery.next_attempt_at + timedelta(milliseconds=10)):
        assert callback_delivery_attempt(delivery_pk=delivery.id) == "pending"
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_code) == (2, 503)
    assert timedelta(seconds=2) <= delivery.next_attempt_at - delivery.last_attempt_at
    with time_machine.travel(delivery.next_attempt_at + timedelta(milliseconds=10)):
        assert callback_delivery_attempt(delivery_pk=delivery.id) == "delivered"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 3, 200)
    assert len({record["headers"]["webhook-id"] for record in receiver.received}) == 1
    assert len(receiver.received) == 3


def test_retries_stop_after_24_hours(register, submit, receiver, settings):
    settings.CALLBACK_RETRY_BASE_SECONDS = 3600
    receiver.codes = [500] * 50
    register(events=["submitted"])
    submit(run=True)
    delivery = CallbackDelivery.objects.get()

    while delivery.status == DeliveryStatus.PENDING:
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1)):
            callback_delivery_attempt(delivery_pk=delivery.id)
        delivery.refresh_from_db()

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_attempt_at <= delivery.retry_until
    # At 0, 1, 3, 7, 11, 15, 19 and 23 h (1 h, 2 h, then the 4 h ceiling apart); 27 h is past.
    assert delivery.attempts == 8
    assert delivery.next_attempt_at is None


def test_an_unreachable_receiver_is_retried(register, submit, receiver):
    register(events=["submitted"])
    receiver.stop()
    submit(run=True)

    delivery = CallbackDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.error.startswith("ConnectionRefusedError")


def test_a_private_address_is_refused_and_not_retried(register, submit, receiver, settings):
    register(events=["submitted"])
    settings.CALLBACK_ALLOW_PRIVATE_ADDRESSES = False

    submit(run=True)

    delivery = CallbackDelivery.objects.get()
    assert delivery.status == DeliveryStatus.REFUSED
    assert delivery.error == "Refused: 127.0.0.1 resolves to 127.0.0.1 is a loopback address."
    assert receiver.received == []


def test_a_delivery_is_recorded_before_the_queue_and_the_sweep_sends_it(
    register, submit, receiver, django_capture_on_commit_callbacks
):
    """The enqueue after commit never ran (Redis was down): the row is still there."""
    register(events=["submitted"])
    request = submit(run=False)
    delivery = CallbackDelivery.objects.get()
    assert (delivery.status, delivery.request_id) == (DeliveryStatus.PENDING, request.id)
    assert receiver.received == []

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        with django_capture_on_commit_callbacks(execute=True):
            report = privacy_sweep()

    assert "enqueued 1 callbacks again (0 failed)" in report.as_text()
    assert [body["event"] for body in bodies(receiver)] == ["submitted"]


def test_the_overdue_event_goes_out_once(
    register, submit, receiver, django_capture_on_commit_callbacks
):
    register(events=["overdue"])
    request = submit(kind="deletion")
    # Open but not the sweep's to run: a FAILURE waits for a retry.
    PrivacyRequest.objects.filter(id=request.id).update(status="FAILURE")

    later = request.due_at + timedelta(hours=1)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        first = privacy_sweep(actor=SYSTEM)
        second = privacy_sweep(actor=SYSTEM)

    assert "recorded 1 overdue callback events" in first.as_text()
    assert "overdue" not in second.as_text()
    assert [body["event"] for body in bodies(receiver)] == ["overdue"]
    assert PrivacyRequest.objects.get(id=request.id).overdue_event_at is not None


def test_send_again_resends_the_same_delivery(
    register, submit, receiver, owner_actor, django_capture_on_commit_callbacks
):
    register(events=["submitted"])
    submit(run=True)
    delivery = CallbackDelivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        callback_delivery_resend(actor=owner_actor, delivery=delivery)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    ids = [record["headers"]["webhook-id"] for record in receiver.received]
    assert ids == [delivery.delivery_id, delivery.delivery_id]


def test_members_cannot_send_again(register, submit, receiver, project):
    register(events=["submitted"])
    submit(run=True)
    delivery = CallbackDelivery.objects.get()
    member = MembershipFactory(organization=project.organization, role=Role.MEMBER).user
    from privacy_requests.errors import NotAllowed

    with pytest.raises(NotAllowed):
        callback_delivery_resend(actor=Actor(user=member, via="web"), delivery=delivery)

    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_emit_records_nothing_without_endpoints(submit):
    request = submit()

    assert callback_event_emit(request=request, event=CallbackEvent.FAILED) == 0


def test_an_attempt_whose_worker_died_is_taken_back_by_the_sweep(
    register, submit, receiver, django_capture_on_commit_callbacks
):
    register(events=["submitted"])
    submit(run=False)
    delivery = CallbackDelivery.objects.get()
    # A worker claimed it and died before recording the answer.
    CallbackDelivery.objects.filter(id=delivery.id).update(
        status=DeliveryStatus.SENDING, attempts=1, lease_until=timezone.now()
    )

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        with django_capture_on_commit_callbacks(execute=True):
            privacy_sweep()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(receiver.received) == 1


def test_an_attempt_left_hanging_past_the_24_hours_is_given_up(register, submit, receiver):
    register(events=["submitted"])
    submit(run=False)
    delivery = CallbackDelivery.objects.get()
    CallbackDelivery.objects.filter(id=delivery.id).update(
        status=DeliveryStatus.SENDING, attempts=5, lease_until=timezone.now()
    )

    with time_machine.travel(delivery.retry_until + timedelta(minutes=1)):
        privacy_sweep()

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error == "Gave up: the last attempt never finished (its worker stopped)."
    assert receiver.received == []
