"""Deleting a project (issue 20, item 4): the end-user store keeps no foreign key to the project
(Citus refuses one from a distributed table to a local one), so project_delete removes the
project's store rows itself, in statements by project and distinct_id, before the project."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.actors import OPERATOR, Actor
from accounts.models import Role
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditAction, AuditEntry, PrivacyRequest, RequestKind
from privacy_requests.services import privacy_request_submit
from projects.errors import NotAllowed, ProjectNotDeletable
from projects.models import (
    Event,
    GroupProfile,
    IdentityLink,
    IdentityLinkRecord,
    Profile,
    Project,
)
from projects.services import project_delete
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.factories import (
    EventFactory,
    IdentityLinkFactory,
    MembershipFactory,
    ProfileFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db
STORE = (Event, Profile, IdentityLink, IdentityLinkRecord)


def link_record(project, distinct_id: str) -> IdentityLinkRecord:
    now = timezone.now()
    return IdentityLinkRecord.objects.create(
        project=project,
        distinct_id=distinct_id,
        canonical_id="root",
        kind="alias",
        authenticated=True,
        outcome="formed",
        endpoint="import",
        first_seen_at=now,
        last_seen_at=now,
    )


def end_user_data(project, *, users: int) -> None:
    for n in range(users):
        distinct_id = f"{project.name}-user-{n}"
        EventFactory.create_batch(3, project=project, distinct_id=distinct_id)
        ProfileFactory(project=project, distinct_id=distinct_id)
        IdentityLinkFactory(
            project=project,
            distinct_id=f"{distinct_id}-alias",
            canonical_id=distinct_id,
            record=link_record(project, f"{distinct_id}-alias"),
        )


def rows_of(project_id: int) -> dict[str, int]:
    return {model.__name__: model.objects.filter(project_id=project_id).count() for model in STORE}


def test_deleting_a_project_removes_its_store_rows_in_batches_and_leaves_others_untouched():
    doomed, kept = ProjectFactory(name="doomed"), ProjectFactory(name="kept")
    end_user_data(doomed, users=7)
    end_user_data(kept, users=2)
    GroupProfile.objects.create(
        project=doomed, group_key="company", group_id="acme", updated_at=timezone.now()
    )
    before_kept = rows_of(kept.pk)
    doomed_id = doomed.pk

    # Two distinct_ids' rows a statement at most for events: several statements per table.
    deletion = project_delete(actor=OPERATOR, project=doomed, batch=5)

    assert deletion.removed == {
        "projects_event": 21,
        "projects_profile": 7,
        "projects_identitylink": 7,
        "projects_identitylinkrecord": 7,
    }
    assert rows_of(doomed_id) == {model.__name__: 0 for model in STORE}
    assert not Project.objects.filter(pk=doomed_id).exists()
    assert not GroupProfile.objects.filter(project_id=doomed_id).exists()
    assert (
        rows_of(kept.pk)
        == before_kept
        == {
            "Event": 6,
            "Profile": 2,
            "IdentityLink": 2,
            "IdentityLinkRecord": 2,
        }
    )
    assert IdentityLink.objects.filter(project=kept, record__isnull=False).count() == 2


def test_a_project_with_privacy_requests_is_not_deleted_nor_its_data():
    membership = MembershipFactory(role=Role.OWNER)
    project = ProjectFactory(organization=membership.organization, name="audited")
    end_user_data(project, users=2)
    privacy_request_submit(
        project=project,
        actor=Actor(user=membership.user, via="web"),
        channel="web",
        kind=RequestKind.EXPORT,
        compliance="GDPR",
        disclosure=None,
        distinct_ids=["audited-user-0"],
    )

    with pytest.raises(ProjectNotDeletable, match="privacy requests"):
        project_delete(actor=OPERATOR, project=project)

    assert Project.objects.filter(pk=project.pk).exists()
    assert PrivacyRequest.objects.filter(project=project).count() == 1
    assert rows_of(project.pk) == {
        "Event": 6,
        "Profile": 2,
        "IdentityLink": 2,
        "IdentityLinkRecord": 2,
    }


@pytest.mark.parametrize("role", [Role.MEMBER, None])
def test_only_managers_staff_superusers_and_the_operator_delete_a_project(role):
    project = ProjectFactory(name="guarded")
    end_user_data(project, users=1)
    user = (
        MembershipFactory(role=role, organization=project.organization).user
        if role
        else staff_user(superuser=False)
    )
    via = "web" if role else "staff"

    with pytest.raises(NotAllowed):
        project_delete(actor=Actor(user=user, via=via), project=project)

    assert Project.objects.filter(pk=project.pk).exists()
    assert rows_of(project.pk)["Event"] == 3


@pytest.fixture
def superuser_client(client):
    sign_in_with_mfa(client, staff_user())
    return client


def test_staff_delete_a_project_from_the_admin_after_typing_its_name(
    superuser_client, django_capture_on_commit_callbacks
):
    project = ProjectFactory(name="Old app")
    end_user_data(project, users=2)
    changelist = reverse("admin:projects_project_changelist")
    action = {"action": "delete_with_end_user_data", "_selected_action": [project.pk]}

    asked = superuser_client.post(changelist, action)
    wrong = superuser_client.post(changelist, {**action, "apply": "1", "name": "old app"})

    assert asked.status_code == wrong.status_code == HTTPStatus.OK
    assert "Delete the project Old app of" in asked.content.decode()
    assert "This is not the project&#x27;s name" in wrong.content.decode()
    assert rows_of(project.pk)["Event"] == 6

    # JOBS_SYNC in the test settings: the deletion queued on commit runs at once.
    with django_capture_on_commit_callbacks(execute=True):
        done = superuser_client.post(changelist, {**action, "apply": "1", "name": "Old app"})

    assert done.status_code == HTTPStatus.FOUND
    assert [str(m) for m in get_messages(done.wsgi_request)] == [
        "Old app is being deleted with all its end users' data; it leaves this list when the "
        "deletion is done."
    ]
    assert not Project.objects.filter(pk=project.pk).exists()
    assert rows_of(project.pk) == {model.__name__: 0 for model in STORE}
    entry = AuditEntry.objects.get(action=AuditAction.PROJECT_DELETED)
    assert entry.organization_id == project.organization_id
    assert entry.actor == Actor(user=done.wsgi_request.user, via="staff").text
    assert entry.detail == {
        "project_id": project.pk,
        "project": "Old app",
        "removed": {
            "projects_event": 6,
            "projects_profile": 2,
            "projects_identitylink": 2,
            "projects_identitylinkrecord": 2,
        },
    }
    assert audit_verify(organization_id=project.organization_id) is None


def test_a_deletion_that_cannot_be_recorded_keeps_the_project(monkeypatch):
    project = ProjectFactory(name="unrecorded")
    project_id = project.pk
    end_user_data(project, users=1)

    def chain_down(**kwargs):
        raise RuntimeError("the audit chain cannot be written")

    monkeypatch.setattr("privacy_requests.services.project_deletions.audit_append", chain_down)
    with pytest.raises(RuntimeError):
        project_delete(actor=OPERATOR, project=project)

    # The store rows went first (a second run finishes), the project and its record did not.
    assert Project.objects.filter(pk=project_id).exists()
    assert not AuditEntry.objects.filter(action=AuditAction.PROJECT_DELETED).exists()
    monkeypatch.undo()
    project_delete(actor=OPERATOR, project=Project.objects.get(pk=project_id))
    assert not Project.objects.filter(pk=project_id).exists()
    assert AuditEntry.objects.get(action=AuditAction.PROJECT_DELETED).actor == OPERATOR.text


def test_the_admin_offers_the_deletion_to_superusers_only(client):
    project = ProjectFactory(name="Kept app")
    operator = staff_user(superuser=False)
    operator.user_permissions.add(*Permission.objects.filter(codename__endswith="_project"))
    sign_in_with_mfa(client, operator)
    changelist = reverse("admin:projects_project_changelist")

    listed = client.get(changelist)
    posted = client.post(
        changelist,
        {
            "action": "delete_with_end_user_data",
            "_selected_action": [project.pk],
            "apply": "1",
            "name": "Kept app",
        },
    )

    assert listed.status_code == HTTPStatus.OK
    assert "Kept app" in listed.content.decode()
    assert "delete_with_end_user_data" not in listed.content.decode()
    assert posted.status_code == HTTPStatus.OK  # "No action selected": the list again
    assert Project.objects.filter(pk=project.pk).exists()
