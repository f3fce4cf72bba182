"""Suppression of deleted ids: stored as HMACs by the deletion, enforced at ingestion for the
official SDK, switched per project and lifted per id, audited."""

import json
from urllib.parse import urlencode

import mixpanel
import pytest

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.deletions import processor as deletion_processor
from privacy_requests.deletions.suppression import suppression_lift, suppression_set
from privacy_requests.errors import NotAllowed
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from projects.identity import LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, Profile, Project, SuppressedId
from projects.pii import distinct_id_hmac
from tests.factories import MembershipFactory
from tests.privacy_requests.deletion_support import events_add, profile_add

ALICE = ["alice", "alias-of-alice", "$device:phone"]


def reload(request):
    return PrivacyRequest.objects.get(id=request.id)


def suppress(project, enabled=True):
    Project.objects.filter(id=project.id).update(suppress_deleted_ids=enabled)
    project.suppress_deleted_ids = enabled


def hmacs(project, ids):
    return {distinct_id_hmac(project_id=project.id, distinct_id=distinct_id) for distinct_id in ids}


def org_audit(project, action):
    return list(
        AuditEntry.objects.filter(
            organization_id=project.organization_id, action=action
        ).values_list("actor", "detail")
    )


@pytest.fixture
def alice(project):
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alias-of-alice", "alice", IdentityKind.ALIAS),
            LinkRequest("$device:phone", "alice", IdentityKind.DEVICE),
        ],
    )
    for distinct_id in ALICE:
        events_add(project, distinct_id, 2)
    profile_add(project, "alice")
    events_add(project, "bob", 1)


# --- the deletion's side ---------------------------------------------------------------------


@pytest.mark.django_db
def test_suppression_is_off_by_default_and_a_deletion_then_stores_nothing(submit, project, alice):
    assert project.suppress_deleted_ids is False

    request = reload(submit(kind="deletion", distinct_ids=["alice"], run=True))

    assert request.status == Status.SUCCESS
    assert not SuppressedId.objects.exists()
    assert not AuditEntry.objects.filter(request=request, action="ids_suppressed").exists()


@pytest.mark.django_db
def test_a_deletion_suppresses_every_subject_id_as_an_hmac_before_removing_events(
    submit, project, alice, monkeypatch
):
    suppress(project)
    seen = []

    def purge(**kwargs):  # runs after the suppression and before the first event goes
        seen.append(
            (set(SuppressedId.objects.values_list("id_hmac", flat=True)), Event.objects.count())
        )
        return 0

    monkeypatch.setattr(deletion_processor, "export_files_purge", purge)

    request = reload(submit(kind="deletion", distinct_ids=["alias-of-alice", "ghost"], run=True))

    everyone = [*ALICE, "ghost"]
    assert seen[0] == (hmacs(project, everyone), 7)
    assert set(SuppressedId.objects.values_list("project_id", "id_hmac", "request_id")) == {
        (project.id, id_hmac, request.id) for id_hmac in hmacs(project, everyone)
    }
    assert AuditEntry.objects.get(request=request, action="ids_suppressed").detail == {"ids": 4}
    assert Event.objects.count() == 1


@pytest.mark.django_db
def test_an_id_deleted_twice_stays_suppressed_by_the_first_deletion(submit, project, alice):
    suppress(project)

    first = reload(submit(kind="deletion", distinct_ids=["alice"], run=True))
    second = reload(submit(kind="deletion", distinct_ids=["alice", "bob"], run=True))

    assert second.status == Status.SUCCESS
    assert dict(SuppressedId.objects.values_list("id_hmac", "request_id")) == {
        **dict.fromkeys(hmacs(project, ALICE), first.id),
        **dict.fromkeys(hmacs(project, ["bob"]), second.id),
    }


# --- the official SDK against a live server ----------------------------------------------------


@pytest.fixture
def sdk_urls(live_server):
    # Only the live server here: a fixture that also wants the project makes pytest-django
    # start the server in an order in which, on in-memory SQLite, its threads cannot share
    # the test's connection.
    return {
        "events_url": f"{live_server.url}/track",
        "people_url": f"{live_server.url}/engage",
        "retry_limit": 0,
    }


def sdk_client(project, urls):
    """The official SDK pointed at the live server; `answers` collects the server's JSON
    answers (the SDK itself only checks their status)."""
    answers = []
    consumer = mixpanel.Consumer(**urls)
    consumer._session.hooks["response"].append(
        lambda response, **_: answers.append(response.json())
    )
    client = mixpanel.Mixpanel(project.token, consumer=consumer)
    client.answers = answers
    return client


def _events_of(project, ids):
    return list(
        Event.objects.filter(project=project, distinct_id__in=ids).values_list(
            "distinct_id", "name"
        )
    )


@pytest.mark.django_db(transaction=True)
def test_sdk_records_of_deleted_ids_are_dropped_and_counted_when_suppression_is_on_until_lifted(
    sdk_urls, submit, project, alice, owner_actor
):
    sdk = sdk_client(project, sdk_urls)
    suppress(project)
    request = reload(submit(kind="deletion", distinct_ids=["alias-of-alice"], run=True))
    assert request.status == Status.SUCCESS

    sdk.track("alice", "Came back", {"plan": "pro"})
    sdk.track("$device:phone", "Opened app")
    sdk.people_set("alice", {"$email": "alice@end-user.test"})
    sdk.track("bob", "Came back")

    suppressed = {"status": 1, "error": None, "num_records_suppressed": 1}
    assert sdk.answers == [suppressed, suppressed, suppressed, {"status": 1, "error": None}]
    assert _events_of(project, ALICE) == []
    assert not Profile.objects.filter(project=project, distinct_id="alice").exists()
    assert _events_of(project, ["bob"]) == [("bob", "Event 0"), ("bob", "Came back")]

    assert suppression_lift(project=project, distinct_id="alice", actor=owner_actor) is True
    sdk.track("alice", "Came back")
    sdk.track("$device:phone", "Opened app")

    assert sdk.answers[-2:] == [{"status": 1, "error": None}, suppressed]
    assert _events_of(project, ALICE) == [("alice", "Came back")]
    assert org_audit(project, "suppression_lifted") == [
        (
            owner_actor.text,
            {
                "project": project.id,
                "id_hmac": distinct_id_hmac(project_id=project.id, distinct_id="alice"),
            },
        )
    ]


@pytest.mark.django_db(transaction=True)
def test_sdk_records_of_deleted_ids_are_stored_when_suppression_is_off(
    sdk_urls, submit, project, alice
):
    sdk = sdk_client(project, sdk_urls)
    request = reload(submit(kind="deletion", distinct_ids=["alice"], run=True))
    assert request.status == Status.SUCCESS

    sdk.track("alice", "Came back")
    sdk.track("$device:phone", "Opened app")

    assert sdk.answers == [{"status": 1, "error": None}] * 2
    assert sorted(_events_of(project, ALICE)) == [
        ("$device:phone", "Opened app"),
        ("alice", "Came back"),
    ]


# --- the switch and the lift ------------------------------------------------------------------


@pytest.mark.django_db
def test_lifting_needs_an_owner_or_admin_and_an_id_that_is_suppressed(project, owner_actor):
    suppress(project)
    SuppressedId.objects.create(
        project=project, id_hmac=distinct_id_hmac(project_id=project.id, distinct_id="alice")
    )
    member = MembershipFactory(organization=project.organization, role=Role.MEMBER).user
    admin = MembershipFactory(organization=project.organization, role=Role.ADMIN).user

    with pytest.raises(NotAllowed):
        suppression_lift(project=project, distinct_id="alice", actor=Actor(user=member, via="web"))
    assert SuppressedId.objects.count() == 1
    assert suppression_lift(project=project, distinct_id="Alice", actor=owner_actor) is False
    assert SuppressedId.objects.count() == 1  # ids are case-sensitive
    assert (
        suppression_lift(project=project, distinct_id="alice", actor=Actor(user=admin, via="api"))
        is True
    )
    assert suppression_lift(project=project, distinct_id="alice", actor=owner_actor) is False

    assert not SuppressedId.objects.exists()
    assert [actor for actor, _ in org_audit(project, "suppression_lifted")] == [
        f"api:{admin.email}"
    ]


@pytest.mark.django_db
def test_the_switch_is_for_owners_and_admins_audited_and_ingestion_follows_it(
    client, project, owner_actor
):
    SuppressedId.objects.create(
        project=project, id_hmac=distinct_id_hmac(project_id=project.id, distinct_id="alice")
    )
    member = MembershipFactory(organization=project.organization, role=Role.MEMBER).user

    def track():
        data = json.dumps(
            {"event": "Came back", "properties": {"token": project.token, "distinct_id": "alice"}}
        )
        return client.post(
            "/track",
            urlencode({"data": data, "verbose": "1"}),
            content_type="application/x-www-form-urlencoded",
        ).json()

    with pytest.raises(NotAllowed):
        suppression_set(project=project, actor=Actor(user=member, via="web"), enabled=True)
    assert Project.objects.get(id=project.id).suppress_deleted_ids is False
    assert track() == {"status": 1, "error": None}

    assert suppression_set(project=project, actor=owner_actor, enabled=True) is True
    assert suppression_set(project=project, actor=owner_actor, enabled=True) is False
    assert Project.objects.get(id=project.id).suppress_deleted_ids is True
    assert track() == {"status": 1, "error": None, "num_records_suppressed": 1}

    assert suppression_set(project=project, actor=owner_actor, enabled=False) is True
    assert track() == {"status": 1, "error": None}
    assert SuppressedId.objects.count() == 1  # kept: switching back on suppresses it again

    assert Event.objects.filter(distinct_id="alice").count() == 2
    assert [
        (action, detail)
        for action, detail in AuditEntry.objects.filter(organization_id=project.organization_id)
        .order_by("seq")
        .values_list("action", "detail")
    ] == [
        ("suppression_enabled", {"project": project.id}),
        ("suppression_disabled", {"project": project.id}),
    ]
