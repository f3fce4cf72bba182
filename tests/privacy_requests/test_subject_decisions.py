"""A person's decisions about a request's subject set (issue 14, items 3 and 4): linked ids
left out, refused or unverified ids included, stored with who and when, audited, applied when
the job records the subject set; refused and unverified ids never reached on their own."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor, service_account_actor
from accounts.models import Role
from privacy_requests.audit import subject_hmac
from privacy_requests.errors import InvalidRequest, InvalidTransition, NotAllowed
from privacy_requests.models import (
    AuditEntry,
    PrivacyRequest,
    RequestSubject,
    Status,
    SubjectDecision,
)
from privacy_requests.selectors import privacy_request_decisions, privacy_request_reached_ids
from privacy_requests.services import privacy_request_process, privacy_sweep
from privacy_requests.services.subject_decisions import privacy_request_subjects_decide
from projects import identity
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, IdentityLink, IdentityLinksFrom, Profile
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

PUBLIC = LinkProvenance(endpoint="track", authenticated=False)
SECRET = LinkProvenance(endpoint="import", authenticated=True, principal="project-secret")
LONG_AGO = datetime(2025, 6, 1, tzinfo=UTC)


def events(project, distinct_id, count):
    Event.objects.bulk_create(
        Event(
            project=project,
            distinct_id=distinct_id,
            name="Purchase",
            time=LONG_AGO + timedelta(minutes=n),
            insert_id=f"{distinct_id}-{n}",
            properties={"address": f"{distinct_id}'s address"},
            ingested_at=timezone.now(),
        )
        for n in range(count)
    )


@pytest.fixture
def attacked(project):
    """The issue's attack under Mixpanel's rule: the victim's anonymous id identified as the
    attacker's, the attacker's second id aliased into the victim's cluster."""
    events(project, "victim-123", 3)
    events(project, "victim-root", 2)
    events(project, "attacker-1", 1)
    events(project, "attacker-2", 1)
    Profile.objects.create(
        project=project,
        distinct_id="victim-root",
        properties={"$email": "victim@mail.example"},
        updated_at=timezone.now(),
    )
    identity_links_apply(
        project=project,
        links=[LinkRequest("victim-phone", "victim-root", IdentityKind.DEVICE)],
        provenance=SECRET,
    )
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("victim-123", "attacker-1", IdentityKind.IDENTIFY),
            LinkRequest("attacker-2", "victim-root", IdentityKind.ALIAS),
        ],
        provenance=PUBLIC,
    )
    return project


def victims_rows(project) -> tuple[int, int]:
    ids = ["victim-123", "victim-root", "victim-phone"]
    return (
        Event.objects.filter(project=project, distinct_id__in=ids).count(),
        Profile.objects.filter(project=project, distinct_id__in=ids).count(),
    )


def decide(request, actor, *, left_out=(), included=()):
    return privacy_request_subjects_decide(
        privacy_request=request, actor=actor, left_out=list(left_out), included=list(included)
    )


def test_left_out_ids_are_stored_audited_and_spared_by_the_deletion(
    attacked, submit, owner_actor, django_capture_on_commit_callbacks
):
    request = submit(kind="deletion", distinct_ids=["attacker-1"])

    decided = decide(request, owner_actor, left_out=["victim-123"])
    assert decided.changed is True
    decision = SubjectDecision.objects.get(request=request)
    assert (decision.distinct_id, decision.decision, decision.decided_by) == (
        "victim-123",
        "left_out",
        owner_actor.text,
    )
    entry = AuditEntry.objects.filter(request=request).latest("seq")
    assert (entry.action, entry.actor) == ("subjects_decided", owner_actor.text)
    assert entry.detail == {
        "left_out": [subject_hmac(project_id=attacked.id, distinct_id="victim-123")],
        "included": [],
    }
    assert "victim-123" not in str(entry.detail)

    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS
    done = PrivacyRequest.objects.get(id=request.id)
    assert victims_rows(attacked) == (5, 1)
    assert not Event.objects.filter(project=attacked, distinct_id="attacker-1").exists()
    assert privacy_request_reached_ids(request=done) == ["attacker-1"]
    # The attacker's id no longer roots the victim's anonymous id.
    assert not IdentityLink.objects.filter(project=attacked, canonical_id="attacker-1").exists()


def test_without_a_decision_the_attack_works_as_in_mixpanel(attacked, submit):
    request = submit(kind="deletion", distinct_ids=["attacker-1"], run=True)

    assert PrivacyRequest.objects.get(id=request.id).status == Status.SUCCESS
    assert victims_rows(attacked) == (2, 1)  # victim-123's 3 events are gone


def test_under_authenticated_the_deletion_of_the_attacker_spares_the_victim(attacked, submit):
    attacked.identity_links_from = IdentityLinksFrom.AUTHENTICATED
    attacked.save(update_fields=["identity_links_from"])

    first = submit(kind="deletion", distinct_ids=["attacker-1"], run=True)
    second = submit(kind="deletion", distinct_ids=["attacker-2"], run=True)

    assert victims_rows(attacked) == (5, 1)
    assert privacy_request_reached_ids(request=PrivacyRequest.objects.get(id=first.id)) == [
        "attacker-1"
    ]
    assert privacy_request_reached_ids(request=PrivacyRequest.objects.get(id=second.id)) == [
        "attacker-2"
    ]


def test_an_included_refused_device_is_deleted_with_the_victim(
    project, submit, owner_actor, monkeypatch
):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 4)
    events(project, "victim", 2)
    events(project, "$device:new-laptop", 3)
    identity_links_apply(
        project=project,
        links=[LinkRequest(f"fake-{n}", "victim", IdentityKind.ALIAS) for n in range(6)],
        provenance=PUBLIC,
    )
    identity_links_apply(
        project=project,
        links=[LinkRequest("$device:new-laptop", "victim", IdentityKind.DEVICE)],
        provenance=SECRET,
    )
    request = submit(kind="deletion", distinct_ids=["victim"])

    decide(request, owner_actor, included=["$device:new-laptop"])
    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS

    assert not Event.objects.filter(project=project, distinct_id="$device:new-laptop").exists()
    subject = RequestSubject.objects.get(request=request, distinct_id="$device:new-laptop")
    assert (subject.linked, subject.included) == (True, True)
    started = AuditEntry.objects.get(request=request, action="started")
    assert started.detail["included"] == 1


def test_a_refused_device_is_never_reached_without_a_decision(project, submit, monkeypatch):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 2)
    events(project, "$device:new-laptop", 3)
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("fake", "victim", IdentityKind.ALIAS),
            LinkRequest("$device:new-laptop", "victim", IdentityKind.DEVICE),
        ],
    )

    submit(kind="deletion", distinct_ids=["victim"], run=True)

    assert Event.objects.filter(project=project, distinct_id="$device:new-laptop").count() == 3


def test_decisions_are_replaced_and_a_kept_decision_keeps_who_and_when(
    attacked, submit, owner_actor, make_member
):
    request = submit(kind="export", distinct_ids=["attacker-2"])
    decide(request, owner_actor, left_out=["victim-root", "victim-phone"])
    first = SubjectDecision.objects.get(request=request, distinct_id="victim-root")
    admin = Actor(user=make_member(Role.ADMIN), via="web")

    decided = decide(request, admin, left_out=["victim-root"])

    assert decided.left_out == ["victim-root"]
    assert [(d.distinct_id, d.decision) for d in privacy_request_decisions(request=request)] == [
        ("victim-root", "left_out")
    ]
    kept = SubjectDecision.objects.get(request=request)
    assert (kept.distinct_id, kept.decided_by, kept.decided_at) == (
        "victim-root",
        owner_actor.text,
        first.decided_at,
    )
    audit_before = AuditEntry.objects.count()
    assert decide(request, admin, left_out=["victim-root"]).changed is False
    assert AuditEntry.objects.count() == audit_before


def test_submit_and_decide_in_one_transaction_run_the_export_with_the_decision(
    attacked, submit, owner_actor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        request = submit(kind="export", distinct_ids=["attacker-2"])
        decide(request, owner_actor, left_out=["victim-root", "victim-phone"])

    done = PrivacyRequest.objects.get(id=request.id)
    assert done.status == Status.SUCCESS
    assert privacy_request_reached_ids(request=done) == ["attacker-2"]


@pytest.mark.parametrize(
    ("left_out", "included", "message"),
    [
        (["attacker-2"], [], "left_out[0] is not an id the project's identity links add"),
        (["nobody"], [], "left_out[0] is not an id the project's identity links add"),
        ([], ["victim-root"], "included[0] has no refused or unverified link"),
        ([], ["nobody"], "included[0] has no refused or unverified link"),
        (["victim-root"], ["victim-root"], "both left out and included"),
        ([""], [], "left_out[0] must be a distinct_id"),
        (["a\x00b"], [], "left_out[0] contains a NUL"),
        ("victim-root", [], "left_out must be a list"),
    ],
)
def test_invalid_decisions_are_refused_and_change_nothing(
    attacked, submit, owner_actor, left_out, included, message
):
    request = submit(kind="deletion", distinct_ids=["attacker-2"])
    audit_before = AuditEntry.objects.count()

    with pytest.raises(InvalidRequest, match=re.escape(message)):
        privacy_request_subjects_decide(
            privacy_request=request, actor=owner_actor, left_out=left_out, included=included
        )

    assert not SubjectDecision.objects.exists()
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize("status", [Status.STARTED, Status.SUCCESS, Status.REVOKED])
def test_decisions_are_refused_once_the_request_started_or_ended(
    attacked, submit, owner_actor, status
):
    request = submit(kind="deletion", distinct_ids=["attacker-2"])
    PrivacyRequest.objects.filter(id=request.id).update(status=status)

    with pytest.raises(InvalidTransition):
        decide(request, owner_actor, left_out=["victim-root"])

    assert not SubjectDecision.objects.exists()


def test_members_outsiders_and_member_service_accounts_cannot_decide(
    attacked, submit, make_member, make_service_account
):
    request = submit(kind="deletion", distinct_ids=["attacker-2"])
    outsider_org = ProjectFactory().organization
    outsider = MembershipFactory(organization=outsider_org, role=Role.OWNER).user
    member_account, _ = make_service_account("member")
    audit_before = AuditEntry.objects.count()

    for actor in (
        Actor(user=make_member(Role.MEMBER), via="web"),
        Actor(user=outsider, via="web"),
        service_account_actor(member_account),
    ):
        with pytest.raises(NotAllowed):
            decide(request, actor, left_out=["victim-root"])

    assert not SubjectDecision.objects.exists()
    assert AuditEntry.objects.count() == audit_before


def test_an_admin_service_account_may_decide_through_the_api(
    attacked, submit, make_service_account
):
    account, _ = make_service_account("admin")
    request = submit(kind="deletion", distinct_ids=["attacker-2"])

    decide(request, service_account_actor(account), left_out=["victim-root"])

    assert SubjectDecision.objects.get().decided_by == f"api:service-account:{account.username}"


def test_the_sweep_pseudonymizes_decisions_with_the_subjects(attacked, submit, owner_actor):
    request = submit(kind="export", distinct_ids=["attacker-2"])
    decide(request, owner_actor, left_out=["victim-root"])
    privacy_request_process(tracking_id=request.tracking_id)

    privacy_sweep(now=timezone.now() + timedelta(days=31))

    decision = SubjectDecision.objects.get(request=request)
    assert decision.distinct_id == subject_hmac(project_id=attacked.id, distinct_id="victim-root")
