"""The project's identity link rule (issue 14, items 2 and 5): owners and admins switch it on
the settings page, audited; the GDPR API and the export manifest report what a request
reached, and how each id came in."""

import json
import re
import threading
from http import HTTPStatus

import pytest
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.actors import OPERATOR, Actor, service_account_actor
from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.errors import InvalidRequest, NotAllowed
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import privacy_request_process
from privacy_requests.services.identity_rule import identity_links_from_set
from privacy_requests.services.subject_decisions import privacy_request_subjects_decide
from projects import identity
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, IdentityLinksFrom, Project
from tests.factories import EventFactory, MembershipFactory
from tests.privacy_requests.export_support import manifest_of, package_of

pytestmark = pytest.mark.django_db

PUBLIC = LinkProvenance(endpoint="track", authenticated=False)
SECRET = LinkProvenance(endpoint="import", authenticated=True, principal="project-secret")


def rule_url(project) -> str:
    return reverse("projects:identity_links", args=[project.id])


def settings_url(project) -> str:
    return reverse("projects:settings", args=[project.id])


def rule_of(project) -> str:
    return Project.objects.values_list("identity_links_from", flat=True).get(pk=project.pk)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_switch_the_rule_and_the_change_is_audited(
    client, make_member, project, role
):
    user = make_member(role)
    client.force_login(user)

    page = client.get(settings_url(project)).content.decode()
    assert 'id="identity-links-tradeoff"' in page
    assert '<strong id="identity-links-state">any ingestion</strong>' in page
    response = client.post(rule_url(project), {"identity_links_from": "authenticated"}, follow=True)

    assert rule_of(project) == IdentityLinksFrom.AUTHENTICATED
    assert '<strong id="identity-links-state">authenticated ingestion only</strong>' in (
        response.content.decode()
    )
    entry = AuditEntry.objects.latest("seq")
    assert (entry.action, entry.actor, entry.request) == (
        "identity_links_rule_changed",
        f"web:{user.email}",
        None,
    )
    assert entry.detail == {"project": project.id, "from": "any", "to": "authenticated"}


def test_the_page_explains_the_trade_off_in_two_sentences(client, owner, project):
    client.force_login(owner)

    page = client.get(settings_url(project)).content.decode()

    start = page.index('<p id="identity-links-tradeoff">')
    paragraph = page[start : page.index("</p>", start)]
    assert len(re.findall(r"\.(?:\s|$)", paragraph.strip())) == 2
    assert "public project token" in paragraph and "API secret" in paragraph


def test_choosing_the_rule_in_force_changes_and_audits_nothing(client, owner, project):
    client.force_login(owner)
    before = AuditEntry.objects.count()

    response = client.post(rule_url(project), {"identity_links_from": "any"}, follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "Nothing changed: that was already the rule."
    ]
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("value", ["", "ANY", "public", "authenticated\x00"])
def test_a_bad_choice_changes_nothing(client, owner, project, value):
    client.force_login(owner)

    response = client.post(rule_url(project), {"identity_links_from": value}, follow=True)

    assert response.status_code == HTTPStatus.OK
    assert rule_of(project) == "any"
    assert not AuditEntry.objects.exists()


def test_members_get_403_outsiders_404_anonymous_the_login_and_nothing_changes(
    client, member, outsider, project
):
    data = {"identity_links_from": "authenticated"}
    client.force_login(member)
    assert client.post(rule_url(project), data).status_code == HTTPStatus.FORBIDDEN
    client.force_login(outsider)
    assert client.post(rule_url(project), data).status_code == HTTPStatus.NOT_FOUND
    client.logout()
    response = client.post(rule_url(project), data)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("account_login"))
    assert client.get(rule_url(project)).status_code in (
        HTTPStatus.FOUND,
        HTTPStatus.METHOD_NOT_ALLOWED,
    )

    assert rule_of(project) == "any"
    assert not AuditEntry.objects.exists()


def test_the_service_refuses_members_service_accounts_and_unknown_rules(
    project, make_member, make_service_account
):
    member_account, _ = make_service_account("member")
    before = AuditEntry.objects.count()  # the account's creation
    for actor in (
        Actor(user=make_member(Role.MEMBER), via="web"),
        service_account_actor(member_account),
    ):
        with pytest.raises(NotAllowed):
            identity_links_from_set(project=project, actor=actor, rule="authenticated")
    with pytest.raises(InvalidRequest):
        identity_links_from_set(project=project, actor=OPERATOR, rule="everyone")

    assert rule_of(project) == "any"
    assert AuditEntry.objects.count() == before


# --- what a finished request reports -------------------------------------------------------


@pytest.fixture
def api_get(client, project):
    token = gdpr_token_reset(
        user=MembershipFactory(organization=project.organization, role=Role.OWNER).user
    )

    def get(path):
        return client.get(f"{path}?token={project.token}", HTTP_AUTHORIZATION=f"Bearer {token}")

    return get


def test_the_api_status_lists_the_reached_ids_under_the_projects_rule(project, submit, api_get):
    EventFactory(project=project, distinct_id="alice")
    EventFactory(project=project, distinct_id="victim")
    identity_links_apply(
        project=project,
        links=[LinkRequest("alice-phone", "alice", IdentityKind.DEVICE)],
        provenance=SECRET,
    )
    identity_links_apply(
        project=project,
        links=[LinkRequest("victim", "alice", IdentityKind.IDENTIFY)],
        provenance=PUBLIC,
    )
    identity_links_from_set(project=project, actor=OPERATOR, rule="authenticated")

    request = submit(kind="deletion", distinct_ids=["alice", "ghost"], run=True)
    body = api_get(f"/api/app/data-deletions/v3.0/{request.tracking_id}").json()

    assert body["results"]["status"] == "SUCCESS"
    assert body["results"]["distinct_ids"] == ["alice", "ghost"]
    assert body["results"]["reached_distinct_ids"] == ["alice", "alice-phone"]
    assert Event.objects.filter(project=project, distinct_id="victim").exists()


def test_the_manifest_says_how_each_id_came_in_including_one_a_person_included(
    project, submit, owner_actor, monkeypatch, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 2)
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alice-phone", "alice", IdentityKind.DEVICE),
            LinkRequest("$device:laptop", "alice", IdentityKind.DEVICE),
        ],
        provenance=SECRET,
    )
    request = submit(kind="export", distinct_ids=["alice"])
    privacy_request_subjects_decide(
        privacy_request=request, actor=owner_actor, left_out=[], included=["$device:laptop"]
    )
    privacy_request_process(tracking_id=request.tracking_id)
    done = PrivacyRequest.objects.get(id=request.id)
    assert done.status == Status.SUCCESS, done.error

    notes = {note["distinct_id"]: note for note in manifest_of(package_of(done))["how_linked"]}
    assert notes["alice"] == {"distinct_id": "alice", "via": "given"}
    assert notes["alice-phone"]["via"] == "linked"
    assert {
        key: notes["alice-phone"]["link"][key]
        for key in ("kind", "outcome", "authenticated", "endpoint", "other_id")
    } == {
        "kind": "device",
        "outcome": "formed",
        "authenticated": True,
        "endpoint": "import",
        "other_id": "alice",
    }
    laptop = notes["$device:laptop"]
    assert laptop["via"] == "included"
    assert laptop["included_at"] is not None
    assert {key: laptop["link"][key] for key in ("outcome", "reason", "other_id")} == {
        "outcome": "refused",
        "reason": "cluster_full",
        "other_id": "alice",
    }
    assert json.dumps(notes).count("owner") == 0  # who decided stays in the audit trail


@pytest.mark.django_db(transaction=True)
def test_changing_the_rule_does_not_wait_for_a_transaction_that_references_the_project(
    owner, project
):
    # FOR UPDATE on the project waited for (and could deadlock with) any open transaction that
    # inserted a row pointing at it, such as an export being submitted: FOR NO KEY UPDATE
    # does not conflict with that row's key-share lock.
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite locks the whole file")
    actor = Actor(user=owner, via="web")
    inserted, release = threading.Event(), threading.Event()

    def hold_a_reference() -> None:
        try:
            with transaction.atomic():
                # Django's foreign keys are checked at commit: checked now instead, the lock
                # a committing transaction takes is held while the other one runs.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                PrivacyRequest.objects.create(
                    organization_id=project.organization_id,
                    project=project,
                    requested_by="test",
                    kind="export",
                    compliance="gdpr",
                    channel="api",
                    received_at=timezone.now(),
                    due_at=timezone.now(),
                    not_before=timezone.now(),
                )
                inserted.set()
                release.wait(timeout=30)
                transaction.set_rollback(True)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_a_reference)
    holder.start()
    try:
        assert inserted.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            assert identity_links_from_set(project=project, actor=actor, rule="authenticated")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
    finally:
        release.set()
        holder.join(timeout=30)
    project.refresh_from_db()
    assert project.identity_links_from == "authenticated"
