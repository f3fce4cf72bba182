"""End users' data in the back office (DESIGN section 9): read-only for staff, lists without
property values, and every record opened audited with the end user named by HMAC only."""

from http import HTTPStatus

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from privacy_requests.models import AuditEntry
from projects.models import Event, GroupProfile, IdentityKind, Profile, SuppressedId
from projects.pii import distinct_id_hmac
from tests.admin_support import sign_in_with_mfa, staff_user
from tests.factories import EventFactory, IdentityLinkFactory, ProfileFactory, ProjectFactory

pytestmark = pytest.mark.django_db

SECRET_VALUE = "alice@private.example"


@pytest.fixture
def staff():
    return staff_user()


@pytest.fixture
def staff_client(client, staff):
    sign_in_with_mfa(client, staff)
    return client


@pytest.fixture
def records(project):
    """Alice's event, profile and identity link, and Bob's, with a property value to hide."""
    return {
        "event": EventFactory(
            project=project, distinct_id="alice", properties={"$email": SECRET_VALUE, "plan": "pro"}
        ),
        "profile": ProfileFactory(
            project=project, distinct_id="alice", properties={"$email": SECRET_VALUE}
        ),
        "identitylink": IdentityLinkFactory(
            project=project,
            distinct_id="$device:phone-1",
            canonical_id="alice",
            kind=IdentityKind.DEVICE,
        ),
        "bob_event": EventFactory(
            project=project, distinct_id="bob", properties={"$email": "bob@private.example"}
        ),
        "bob_profile": ProfileFactory(project=project, distinct_id="bob"),
        "bob_link": IdentityLinkFactory(
            project=project, distinct_id="bob-alias", canonical_id="bob"
        ),
    }


def changelist(model: str) -> str:
    return reverse(f"admin:projects_{model}_changelist")


def listed_ids(response) -> list[int]:
    assert response.status_code == HTTPStatus.OK
    return sorted(record.id for record in response.context["cl"].result_list)


@pytest.mark.parametrize("model", ["event", "profile", "identitylink"])
def test_lists_show_no_property_values_and_are_not_audited(staff_client, records, model):
    response = staff_client.get(changelist(model))

    content = response.content.decode()
    assert response.status_code == HTTPStatus.OK
    assert SECRET_VALUE not in content
    assert "bob@private.example" not in content
    assert "$email" not in content
    assert not AuditEntry.objects.exists()


def test_lists_count_properties_instead(staff_client, records):
    content = staff_client.get(changelist("event")).content.decode()

    assert '<td class="field-property_count">2 properties (open to see; audited)</td>' in content


@pytest.mark.parametrize(
    ("model", "term", "expected"),
    [
        ("event", "alice", ["event"]),
        ("event", "Alice", []),  # distinct_ids are case-sensitive
        ("event", "ali", []),  # exact, never a substring of someone else's id
        ("profile", "alice", ["profile"]),
        ("identitylink", "$device:phone-1", ["identitylink"]),
        ("identitylink", "alice", ["identitylink"]),  # the cluster's root
        ("identitylink", "bob", ["bob_link"]),
    ],
)
def test_search_by_distinct_id(staff_client, records, model, term, expected):
    response = staff_client.get(changelist(model), {"q": term})

    assert listed_ids(response) == sorted(records[name].id for name in expected)


@pytest.mark.parametrize(
    ("model", "name"),
    [("event", "event"), ("profile", "profile"), ("identitylink", "identitylink")],
)
def test_opening_a_record_is_audited_by_hmac(staff_client, staff, records, project, model, name):
    record = records[name]

    response = staff_client.get(reverse(f"admin:projects_{model}_change", args=[record.id]))

    assert response.status_code == HTTPStatus.OK
    entry = AuditEntry.objects.get()
    assert entry.organization_id == project.organization_id
    assert entry.actor == f"staff:{staff.email}"
    assert entry.action == "staff_viewed_end_user_data"
    assert entry.request is None
    expected = {
        "model": f"projects.{model}",
        "id": record.id,
        "project": project.id,
        "distinct_id_hmac": distinct_id_hmac(project_id=project.id, distinct_id=record.distinct_id),
    }
    if model == "identitylink":
        expected["canonical_id_hmac"] = distinct_id_hmac(project_id=project.id, distinct_id="alice")
    assert entry.detail == expected
    assert record.distinct_id not in str(entry.detail)


def test_the_detail_shows_the_properties_to_staff(staff_client, records):
    response = staff_client.get(reverse("admin:projects_event_change", args=[records["event"].id]))

    assert SECRET_VALUE in response.content.decode()
    assert 'name="_save"' not in response.content.decode()


def test_a_missing_record_writes_no_audit_entry(staff_client, records):
    response = staff_client.get(reverse("admin:projects_event_change", args=[999_999]))

    assert response.status_code == HTTPStatus.FOUND  # the admin's "does not exist" redirect
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("model", "name"),
    [("event", "event"), ("profile", "profile"), ("identitylink", "identitylink")],
)
def test_end_user_data_cannot_be_changed_added_or_deleted(staff_client, records, model, name):
    record = records[name]
    model_class = type(record)
    before = model_class.objects.count()

    delete_page = staff_client.get(reverse(f"admin:projects_{model}_delete", args=[record.id]))
    delete_post = staff_client.post(
        reverse(f"admin:projects_{model}_delete", args=[record.id]), {"post": "yes"}
    )
    change = staff_client.post(
        reverse(f"admin:projects_{model}_change", args=[record.id]), {"distinct_id": "mallory"}
    )
    add = staff_client.get(reverse(f"admin:projects_{model}_add"))
    bulk = staff_client.post(
        changelist(model),
        {"action": "delete_selected", "index": 0, ACTION_CHECKBOX_NAME: [record.id], "post": "yes"},
    )

    assert delete_page.status_code == HTTPStatus.FORBIDDEN
    assert delete_post.status_code == HTTPStatus.FORBIDDEN
    assert change.status_code == HTTPStatus.FORBIDDEN
    assert add.status_code == HTTPStatus.FORBIDDEN
    assert bulk.status_code == HTTPStatus.OK  # the list again: there is no such action
    assert staff_client.get(changelist(model)).context["action_form"] is None
    assert model_class.objects.count() == before
    assert model_class.objects.get(id=record.id).distinct_id == record.distinct_id


def test_group_profiles_are_read_only_and_hide_properties(staff_client, project):
    group = GroupProfile.objects.create(
        project=project,
        group_key="company",
        group_id="Acme",
        properties={"ceo": SECRET_VALUE},
        updated_at="2026-01-01T00:00:00Z",
    )

    listing = staff_client.get(changelist("groupprofile"), {"q": "Acme"})

    assert listed_ids(listing) == [group.id]
    assert SECRET_VALUE not in listing.content.decode()
    assert (
        staff_client.get(reverse("admin:projects_groupprofile_delete", args=[group.id])).status_code
        == HTTPStatus.FORBIDDEN
    )
    assert (
        staff_client.post(
            reverse("admin:projects_groupprofile_change", args=[group.id]), {"group_id": "x"}
        ).status_code
        == HTTPStatus.FORBIDDEN
    )


def test_suppressed_ids_are_read_only_and_found_by_raw_id(staff_client, project):
    other = ProjectFactory()
    alice = SuppressedId.objects.create(
        project=project, id_hmac=distinct_id_hmac(project_id=project.id, distinct_id="alice")
    )
    SuppressedId.objects.create(
        project=other, id_hmac=distinct_id_hmac(project_id=other.id, distinct_id="bob")
    )

    assert listed_ids(staff_client.get(changelist("suppressedid"), {"q": "alice"})) == [alice.id]
    assert listed_ids(staff_client.get(changelist("suppressedid"), {"q": alice.id_hmac})) == [
        alice.id
    ]
    assert listed_ids(staff_client.get(changelist("suppressedid"), {"q": "carol"})) == []
    assert (
        staff_client.get(reverse("admin:projects_suppressedid_delete", args=[alice.id])).status_code
        == HTTPStatus.FORBIDDEN
    )
    assert SuppressedId.objects.count() == 2


def test_projects_cannot_be_deleted_in_the_admin(staff_client, records, project):
    response = staff_client.get(reverse("admin:projects_project_delete", args=[project.id]))

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Event.objects.filter(project=project).count() == 2
    assert Profile.objects.filter(project=project).count() == 2
