"""Four-eyes approval under concurrency, on PostgreSQL: two approvers deciding at once, or an
approval racing the expiry, never both win (the conditional UPDATE of services/approval.py)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.errors import InvalidTransition
from privacy_requests.models import AuditAction, AuditEntry, PrivacyRequest, Status
from privacy_requests.services import privacy_request_submit
from privacy_requests.services.approval import (
    approvals_expire,
    privacy_request_approve,
    privacy_request_reject,
)
from projects.models import Event
from tests.factories import EventFactory, MembershipFactory, OrganizationFactory, ProjectFactory

DECISIONS = (AuditAction.APPROVED, AuditAction.APPROVAL_REJECTED, AuditAction.APPROVAL_EXPIRED)


def waiting_deletion():
    organization = OrganizationFactory(approval_subjects_over=1)
    project = ProjectFactory(organization=organization)
    for distinct_id in ("alice", "bob"):
        EventFactory(project=project, distinct_id=distinct_id)
    requester = MembershipFactory(organization=organization, role=Role.OWNER).user
    # Not enqueued while it waits, so no job runs in this process.
    return privacy_request_submit(
        project=project,
        actor=Actor(user=requester, via="api"),
        channel="api",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=["alice", "bob"],
    )


def race(*actions):
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []

    def run(action):
        try:
            barrier.wait(timeout=10)
            action()
            outcomes.append("won")
        except InvalidTransition:
            outcomes.append("lost")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rounds", range(3))
def test_two_approvers_and_the_expiry_never_both_win(rounds):
    if connection.vendor != "postgresql":
        pytest.skip("a real race needs PostgreSQL; SQLite serializes writers anyway")
    request = waiting_deletion()
    admins = [
        Actor(
            user=MembershipFactory(organization=request.organization, role=Role.ADMIN).user,
            via="web",
        )
        for _ in range(2)
    ]
    expired = []

    def expire():
        # An expiry racing an approval made in the last moment of the 7 days.
        expired.append(approvals_expire(now=timezone.now() + timedelta(days=8)))

    outcomes = race(
        lambda: privacy_request_approve(request=request, actor=admins[0], reason="ok"),
        lambda: privacy_request_reject(request=request, actor=admins[1], reason="no"),
        expire,
    )

    decided = AuditEntry.objects.filter(request=request, action__in=DECISIONS).count()
    winners = outcomes.count("won") - (1 if expired == [0] else 0)
    assert (decided, winners) == (1, 1)
    request.refresh_from_db()
    # Approved, the deletion ran (the test settings run jobs in process); else nothing went.
    approved = AuditEntry.objects.filter(request=request, action=AuditAction.APPROVED).exists()
    assert request.status == (Status.SUCCESS if approved else Status.REVOKED)
    assert Event.objects.filter(project=request.project).count() == (0 if approved else 2)
    assert PrivacyRequest.objects.filter(id=request.id, approval_state="awaiting").count() == 0
