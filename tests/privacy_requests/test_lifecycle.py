from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.actors import SYSTEM, Actor
from accounts.models import Role
from privacy_requests.engine import registry
from privacy_requests.engine.run import LeaseLost
from privacy_requests.engine.subjects import count_subject_rows
from privacy_requests.errors import InvalidRequest, InvalidTransition, NotAllowed
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import (
    privacy_request_cancel,
    privacy_request_expedite,
    privacy_request_extend,
    privacy_request_process,
    privacy_request_retry,
    privacy_sweep,
)
from privacy_requests.services.processing import _claim
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def actions(request):
    return list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", flat=True)
    )


def reload(request):
    return PrivacyRequest.objects.get(id=request.id)


def test_a_request_runs_pending_staging_started_success_with_an_audit_entry_each(submit, add_event):
    add_event("alice")
    add_event("alice")

    request = reload(submit(distinct_ids=["alice", "nobody"], run=True))

    assert request.status == Status.SUCCESS
    assert request.counts == {"events": 2, "profiles": 0, "identities": 0, "identity_evidence": 0}
    assert request.not_found == ["nobody"]
    assert request.runs == 1
    assert request.started_at is not None and request.finished_at is not None
    assert request.lease_until is None
    assert actions(request) == ["submitted", "staged", "started", "succeeded"]
    assert (
        AuditEntry.objects.filter(request=request)
        .exclude(action="submitted")
        .values_list("actor", flat=True)
        .distinct()
        .get()
        == SYSTEM.text
    )


def test_processing_twice_does_nothing_more(submit):
    request = submit(run=True)

    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS
    assert reload(request).runs == 1
    assert actions(request) == ["submitted", "staged", "started", "succeeded"]


@pytest.mark.parametrize("status", [Status.PENDING, Status.STAGING])
def test_cancel_before_started(submit, owner_actor, status):
    request = submit()
    PrivacyRequest.objects.filter(id=request.id).update(status=status)

    canceled = privacy_request_cancel(request=request, actor=owner_actor)

    assert canceled.status == Status.REVOKED
    assert canceled.canceled_by == owner_actor.text
    assert canceled.canceled_at is not None
    assert actions(request)[-1] == "canceled"
    # A job that still runs for it finds nothing to do.
    assert privacy_request_process(tracking_id=request.tracking_id) == Status.REVOKED
    assert reload(request).runs == 0


@pytest.mark.parametrize("status", [Status.STARTED, Status.SUCCESS, Status.FAILURE, Status.REVOKED])
def test_cancel_is_refused_once_started_or_final(submit, owner_actor, status):
    request = submit()
    PrivacyRequest.objects.filter(id=request.id).update(status=status)

    with pytest.raises(InvalidTransition) as error:
        privacy_request_cancel(request=request, actor=owner_actor)

    assert error.value.status == status
    assert f"This request is {status}" in str(error.value)
    assert reload(request).status == status
    assert actions(request) == ["submitted"]


def test_member_cannot_cancel(submit, project):
    request = submit()
    member = MembershipFactory(organization=project.organization, role=Role.MEMBER).user

    with pytest.raises(NotAllowed):
        privacy_request_cancel(request=request, actor=Actor(user=member, via="web"))

    assert reload(request).status == Status.PENDING


def test_staff_cancel_from_the_back_office(submit):
    request = submit()
    staff = MembershipFactory(role=Role.MEMBER).user
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])

    canceled = privacy_request_cancel(request=request, actor=Actor(user=staff, via="staff"))

    assert canceled.canceled_by == f"staff:{staff.email}"


def test_retry_from_failure_keeps_tracking_id_and_due_date(submit, owner_actor, monkeypatch):
    def broken(run):
        raise ValueError("the processor broke")

    monkeypatch.setitem(registry.PROCESSORS, "export", broken)
    failed = reload(submit(run=True))
    assert failed.status == Status.FAILURE
    assert failed.error == "ValueError: the processor broke"

    monkeypatch.setitem(registry.PROCESSORS, "export", count_subject_rows)
    retried = privacy_request_retry(request=failed, actor=owner_actor)

    assert retried.status == Status.PENDING
    assert retried.tracking_id == failed.tracking_id
    assert retried.due_at == failed.due_at
    assert retried.attempts == 2
    assert retried.error == ""
    assert privacy_request_process(tracking_id=failed.tracking_id) == Status.SUCCESS
    assert actions(failed) == [
        "submitted",
        "staged",
        "started",
        "failed",
        "retried",
        "staged",
        "started",
        "succeeded",
    ]
    assert AuditEntry.objects.get(request=failed, action="retried").detail == {
        "previous_error": "ValueError: the processor broke"
    }


@pytest.mark.parametrize("status", [Status.PENDING, Status.STARTED, Status.SUCCESS])
def test_retry_only_from_failure(submit, owner_actor, status):
    request = submit()
    PrivacyRequest.objects.filter(id=request.id).update(status=status)

    with pytest.raises(InvalidTransition):
        privacy_request_retry(request=request, actor=owner_actor)

    assert reload(request).attempts == 1


def test_transient_errors_are_retried_automatically(submit, monkeypatch):
    calls = []

    def flaky(run):
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return count_subject_rows(run)

    monkeypatch.setitem(registry.PROCESSORS, "export", flaky)

    request = reload(submit(run=True))

    assert request.status == Status.SUCCESS
    assert len(calls) == 3


def test_transient_errors_end_in_failure_after_three_retries(submit, monkeypatch):
    calls = []

    def down(run):
        calls.append(1)
        raise RedisConnectionError("Connection refused")

    monkeypatch.setitem(registry.PROCESSORS, "export", down)

    request = reload(submit(run=True))

    assert request.status == Status.FAILURE
    assert request.error == "Gave up after 4 tries: ConnectionError: Connection refused"
    assert len(calls) == 4
    assert actions(request)[-1] == "failed"


def test_a_failed_enqueue_leaves_the_request_pending_and_the_sweep_recovers_it(submit, monkeypatch):
    def refuse(*args, **kwargs):
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr("privacy_requests.services.queueing.enqueue", refuse)
    request = submit(run=True)
    assert reload(request).status == Status.PENDING

    monkeypatch.undo()
    report = privacy_sweep()

    assert report.enqueued == 1
    assert reload(request).status == Status.SUCCESS


def test_two_workers_claiming_the_same_request_only_one_wins(submit):
    request = submit()
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)

    first = _claim(reload(request))
    second = _claim(reload(request))

    assert first is not None
    assert second is None
    assert reload(request).runs == 1
    assert actions(request) == ["submitted", "started"]


def test_a_started_request_with_a_live_lease_is_left_alone(submit):
    request = submit()
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    _claim(reload(request))

    assert privacy_request_process(tracking_id=request.tracking_id) == Status.STARTED
    assert reload(request).runs == 1


def test_an_expired_lease_is_taken_over_and_resumes_from_the_saved_step(
    submit, add_event, settings
):
    settings.PRIVACY_SUBJECT_CHUNK = 1
    for distinct_id in ("a", "b", "c"):
        add_event(distinct_id)
    request = submit(distinct_ids=["a", "b", "c"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    dead = _claim(reload(request))
    dead.checkpoint(
        {
            "phase": "count",
            "done": 1,
            "total": 3,
            "counts": {"events": 1, "profiles": 0, "identities": 0, "identity_evidence": 0},
        }
    )
    PrivacyRequest.objects.filter(id=request.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS

    finished = reload(request)
    assert finished.counts == {"events": 3, "profiles": 0, "identities": 0, "identity_evidence": 0}
    assert finished.runs == 2
    assert actions(request) == ["submitted", "started", "resumed", "succeeded"]
    # The dead worker, were it to wake up, can neither save nor finish.
    with pytest.raises(LeaseLost):
        dead.checkpoint({"phase": "count", "done": 2})


def test_extend_once_with_a_reason(submit, owner_actor):
    request = submit(compliance="CCPA")

    with pytest.raises(InvalidRequest):
        privacy_request_extend(request=request, actor=owner_actor, reason="  ")
    extended = privacy_request_extend(
        request=request, actor=owner_actor, reason="Large volume of data"
    )
    with pytest.raises(InvalidTransition) as error:
        privacy_request_extend(request=extended, actor=owner_actor, reason="Again")

    assert extended.due_at == request.received_at + timedelta(days=90)
    assert extended.extended is True
    assert "already extended once" in str(error.value)
    assert reload(request).due_at == extended.due_at
    assert actions(request) == ["submitted", "extended"]


def test_gdpr_extension_is_three_months_from_receipt(submit, owner_actor):
    request = submit(received_at=datetime(2025, 11, 30, tzinfo=UTC))
    assert request.due_at == datetime(2025, 12, 30, tzinfo=UTC)

    extended = privacy_request_extend(request=request, actor=owner_actor, reason="Complex")

    assert extended.due_at == datetime(2026, 2, 28, tzinfo=UTC)


def test_final_requests_cannot_be_extended(submit, owner_actor):
    request = submit(run=True)

    with pytest.raises(InvalidTransition):
        privacy_request_extend(request=request, actor=owner_actor, reason="Late")


def test_deletion_waits_in_staging_for_its_grace_period_then_the_sweep_runs_it(
    submit, settings, add_event
):
    settings.PRIVACY_DELETION_DELAY = 3600
    add_event("alice")

    request = reload(submit(kind="deletion", run=True))
    assert request.status == Status.STAGING

    privacy_sweep()
    assert reload(request).status == Status.STAGING
    privacy_sweep(now=timezone.now() + timedelta(hours=2))
    assert reload(request).status == Status.STAGING  # the job itself re-checks not_before

    PrivacyRequest.objects.filter(id=request.id).update(not_before=timezone.now())
    privacy_sweep()
    assert reload(request).status == Status.SUCCESS


def test_expedite_ends_the_grace_period(
    submit, settings, owner_actor, django_capture_on_commit_callbacks
):
    settings.PRIVACY_DELETION_DELAY = 3600
    request = reload(submit(kind="deletion", run=True))

    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_expedite(request=request, actor=owner_actor)

    assert reload(request).status == Status.SUCCESS
    assert "expedited" in actions(request)
