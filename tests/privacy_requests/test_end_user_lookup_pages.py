"""Issue 18: "Find an end user" on the Data & Privacy pages. Owners and admins search a
project of their organization; every search is audited; members are told why not, and
everyone else learns nothing. A result starts an export or a deletion with its id filled in."""

from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from privacy_requests.models import AuditAction, AuditEntry
from privacy_requests.web.presenters import audit_detail_summary
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import IdentityKind, Profile
from projects.pii import distinct_id_hmac
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.privacy_requests.web_support import export_url

pytestmark = pytest.mark.django_db


def lookup_url(organization) -> str:
    return reverse("privacy_web:end_user_lookup", args=[organization.id])


def profile(project, distinct_id, **properties):
    return Profile.objects.create(
        project=project, distinct_id=distinct_id, properties=properties, updated_at=timezone.now()
    )


@pytest.fixture
def jane(project):
    profile(project, "user-jane", **{"$email": "jane@example.com"})
    profile(project, "user-janet", **{"$email": "janet@example.com"})
    identity_links_apply(
        project=project,
        links=[LinkRequest("$device:jane-phone", "user-jane", IdentityKind.DEVICE)],
        provenance=LinkProvenance(endpoint="track", authenticated=False),
    )
    return "user-jane"


def search(client, organization, project, value, search_by="$email", **extra):
    return client.post(
        lookup_url(organization),
        {"project": project.id, "search_by": search_by, "value": value, **extra},
    )


def lookups() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=AuditAction.END_USER_LOOKED_UP).order_by("seq"))


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_find_a_person_by_email(client, organization, project, jane, role):
    user = MembershipFactory(organization=organization, role=role).user
    client.force_login(user)

    response = search(client, organization, project, "Jane@Example.com")

    assert response.status_code == HTTPStatus.OK
    result = response.context["result"]
    assert result.matched == ["user-jane"]
    page = response.content.decode()
    assert "user-jane" in page and "$device:jane-phone" in page
    assert "user-janet" not in page
    assert "device id with &#x27;user-jane&#x27; · public (project token only) · track" in page
    (entry,) = lookups()
    assert entry.actor == f"web:{user.email}"
    assert entry.organization_id == organization.id
    assert entry.detail == {
        "project": project.id,
        "searched": "$email",
        "value_hmac": distinct_id_hmac(project_id=project.id, distinct_id="jane@example.com"),
        "matched": 1,
        "more": False,
        "matched_hmacs": [distinct_id_hmac(project_id=project.id, distinct_id="user-jane")],
    }
    assert "jane@example.com" not in str(entry.detail).lower()
    assert audit_detail_summary(entry) == f"searched $email in project {project.id}: 1 id found"


def test_the_page_offers_the_search_without_searching(client, organization, owner):
    client.force_login(owner)

    response = client.get(lookup_url(organization))

    assert response.status_code == HTTPStatus.OK
    assert response.context["result"] is None
    assert lookups() == []


def test_a_result_starts_an_export_or_a_deletion_with_its_id(
    client, organization, project, jane, owner
):
    client.force_login(owner)

    (shown,) = search(client, organization, project, "jane@example.com").context["people"]

    for url, name in ((shown["export_url"], "export_new"), (shown["deletion_url"], "deletion_new")):
        parts = urlsplit(url)
        assert parts.path == reverse(f"privacy_web:{name}", args=[organization.id])
        assert parse_qs(parts.query) == {"project": [str(project.id)], "distinct_id": ["user-jane"]}
        form = client.get(url).context["form"]
        assert form.initial == {
            "project": project.id,
            "ids_from": "one",
            "distinct_id": "user-jane",
        }


def test_the_request_form_keeps_a_linked_id_verbatim_and_ignores_a_foreign_project(
    client, organization, project, owner
):
    client.force_login(owner)
    theirs = ProjectFactory()

    form = client.get(export_url(organization), {"project": theirs.id, "distinct_id": " x "})

    assert form.context["form"].initial == {"ids_from": "one", "distinct_id": " x "}
    too_long = client.get(export_url(organization), {"distinct_id": "x" * 256})
    assert too_long.context["form"].initial == {}


def test_a_member_is_told_why_not_and_nothing_is_searched(
    client, organization, project, jane, member
):
    client.force_login(member)

    response = search(client, organization, project, "jane@example.com")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "user-jane" not in response.content.decode()
    assert client.get(lookup_url(organization)).status_code == HTTPStatus.FORBIDDEN
    assert lookups() == []


def test_staff_who_are_not_members_and_other_organizations_get_404(
    client, organization, project, jane, outsider
):
    staff = UserFactory(is_staff=True, is_superuser=True)
    for user in (staff, outsider):
        client.force_login(user)
        assert search(client, organization, project, "jane@example.com").status_code == (
            HTTPStatus.NOT_FOUND
        )
        assert client.get(lookup_url(organization)).status_code == HTTPStatus.NOT_FOUND
    assert lookups() == []


def test_anonymous_visitors_are_sent_to_sign_in(client, organization, project, jane):
    response = search(client, organization, project, "jane@example.com")

    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith(reverse("account_login"))
    assert lookups() == []


def test_another_organizations_project_is_never_searched(client, organization, owner, outsider):
    theirs = ProjectFactory(organization=outsider.memberships.get().organization)
    profile(theirs, "their-jane", **{"$email": "jane@example.com"})
    client.force_login(owner)

    response = search(client, organization, theirs, "jane@example.com")

    assert response.status_code == HTTPStatus.OK
    assert response.context["result"] is None
    assert "project" in response.context["form"].errors
    assert "their-jane" not in response.content.decode()
    assert lookups() == []


def test_a_search_needs_no_csrf_exemption(client, organization, project, owner):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)

    response = search(strict, organization, project, "jane@example.com")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert lookups() == []


def test_hostile_values_are_escaped(client, organization, project, owner):
    hostile = '<script>alert("x")</script>'
    profile(project, hostile, **{"$name": hostile})
    client.force_login(owner)

    page = search(client, organization, project, hostile, search_by="$name").content.decode()

    assert hostile not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    nobody = search(client, organization, project, hostile + "!", search_by="$name")
    assert hostile not in nobody.content.decode()


def test_another_property_and_a_prefix(client, organization, project, jane, owner):
    profile(project, "user-bob", customer_id="C-7")
    client.force_login(owner)

    by_property = search(
        client, organization, project, "C-7", search_by="property", property_name="customer_id"
    )
    by_prefix = search(client, organization, project, "user-ja", search_by="prefix")
    unnamed = search(client, organization, project, "C-7", search_by="property")

    assert by_property.context["result"].matched == ["user-bob"]
    assert by_prefix.context["result"].matched == ["user-jane", "user-janet"]
    assert unnamed.context["result"] is None
    assert unnamed.context["form"].errors["property_name"] == ["Name the property to search."]
    assert [entry.detail["searched"] for entry in lookups()] == [
        "customer_id",
        "distinct_id prefix",
    ]


def test_more_than_the_limit_says_so(client, organization, project, owner):
    Profile.objects.bulk_create(
        Profile(project=project, distinct_id=f"u{n:02}", properties={"plan": "pro"},
                updated_at=timezone.now())
        for n in range(51)
    )  # fmt: skip
    client.force_login(owner)

    response = search(
        client, organization, project, "pro", search_by="property", property_name="plan"
    )

    assert len(response.context["people"]) == 50
    assert "More than 50 ids match" in response.content.decode()
    (entry,) = lookups()
    assert (entry.detail["matched"], entry.detail["more"]) == (50, True)


def test_the_requests_page_links_to_the_search(client, organization, project, owner):
    client.force_login(owner)

    page = client.get(reverse("privacy_web:list", args=[organization.id])).content.decode()

    assert f'href="{lookup_url(organization)}"' in page
