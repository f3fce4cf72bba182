"""The back office's lists filter and sort only as they declare (issue 15, finding 2).

The attack from the security review: `/admin/projects/event/?properties__secret_note__startswith=
ALICE-P` filtered the list, so a staff user read a property value one character at a time
without opening (and so without auditing) a record. Django's admin allows any lookup on a
model's own fields, JSON keys included; every admin of the back office now takes only the
parameters its list filters and date hierarchy declare, and sorts only by its sortable columns.
An undeclared parameter is refused with 400 (Django's DisallowedModelAdminLookup) and lists
nothing.
"""

import re
from http import HTTPStatus

import pytest
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.urls import reverse

from accounts.actors import Actor
from accounts.models import Role
from accounts.services import gdpr_token_issue
from privacy_requests.admin_links import queue_summary_links
from privacy_requests.audit import audit_append
from privacy_requests.models import AuditEntry, PrivacyRequest
from projects.models import GroupProfile
from projects.pii import distinct_id_hmac
from tests.admin_support import TOTP_SECRET, sign_in_with_mfa, staff_user
from tests.factories import EventFactory, IdentityLinkFactory, MembershipFactory, ProfileFactory

pytestmark = pytest.mark.django_db

SECRET = "ALICE-PASSPORT-1234"


@pytest.fixture
def staff():
    return staff_user()


@pytest.fixture
def staff_client(client, staff):
    sign_in_with_mfa(client, staff)
    return client


@pytest.fixture
def end_user_data(project):
    """Alice's records carry the secret; Bob's do not."""
    EventFactory(project=project, distinct_id="alice", properties={"secret_note": SECRET})
    EventFactory(project=project, distinct_id="bob", properties={"secret_note": "nothing"})
    ProfileFactory(project=project, distinct_id="alice", properties={"secret_note": SECRET})
    ProfileFactory(project=project, distinct_id="bob", properties={"secret_note": "nothing"})
    IdentityLinkFactory(project=project, distinct_id="alice-phone", canonical_id="alice")
    GroupProfile.objects.create(
        project=project,
        group_key="company",
        group_id="alice-gmbh",
        properties={"secret_note": SECRET},
        updated_at="2026-01-01T00:00:00Z",
    )
    return project


def assert_refused(response) -> None:
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "cl" not in (response.context or {})
    content = response.content.decode()
    assert "alice" not in content
    assert SECRET not in content


@pytest.mark.parametrize(
    ("model", "lookup", "value"),
    [
        ("event", "properties__secret_note__startswith", "ALICE-P"),
        ("event", "properties__secret_note__regex", "^ALICE"),
        ("event", "properties__secret_note__contains", "PASSPORT"),
        ("event", "properties__secret_note", SECRET),
        ("event", "properties__has_key", "secret_note"),
        ("event", "properties__contains", '{"secret_note": "ALICE-PASSPORT-1234"}'),
        ("event", "insert_id__startswith", ""),
        ("event", "distinct_id__startswith", "ali"),
        ("profile", "properties__secret_note__startswith", "ALICE-P"),
        ("profile", "properties__secret_note__iregex", "^alice"),
        ("identitylink", "canonical_id__startswith", "ali"),
        ("groupprofile", "properties__secret_note__startswith", "ALICE-P"),
        ("groupprofile", "group_id__startswith", "ali"),
    ],
)
def test_end_user_data_lists_refuse_lookups_they_do_not_declare(
    staff_client, end_user_data, model, lookup, value
):
    response = staff_client.get(reverse(f"admin:projects_{model}_changelist"), {lookup: value})

    assert_refused(response)
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("model", ["event", "profile", "identitylink", "groupprofile"])
@pytest.mark.parametrize(
    "order",
    [
        "properties__secret_note",  # a JSON key
        "-properties",
        "99",  # no such column
        "1.properties__secret_note",
    ],
)
def test_end_user_data_lists_refuse_orderings_they_do_not_declare(
    staff_client, end_user_data, model, order
):
    response = staff_client.get(reverse(f"admin:projects_{model}_changelist"), {"o": order})

    assert_refused(response)


def test_the_property_count_column_does_not_sort(staff_client, end_user_data):
    changelist = reverse("admin:projects_event_changelist")
    columns = staff_client.get(changelist).context["cl"].list_display
    by_id = staff_client.get(changelist, {"o": str(columns.index("distinct_id"))})

    assert by_id.status_code == HTTPStatus.OK
    assert [event.distinct_id for event in by_id.context["cl"].result_list] == ["alice", "bob"]
    assert_refused(staff_client.get(changelist, {"o": str(columns.index("property_count"))}))


@pytest.fixture
def everything(project, staff, submit):
    """A row in every list of the back office, with values no list shows."""
    owner = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    gdpr_token_issue(user=owner)
    request = submit(distinct_ids=["alice"], kind="deletion")
    PrivacyRequest.objects.filter(id=request.id).update(
        counts={"events": 7}, progress={"phase": "delete", "done": 1, "total": 3}
    )
    audit_append(
        organization_id=project.organization_id,
        actor=Actor(user=owner, via="web").text,
        action="extended",
        request=request,
        detail={"reason": "the customer asked"},
    )
    return {"owner": owner, "request": request}


@pytest.mark.parametrize(
    ("url_name", "lookup", "value"),
    [
        ("admin:privacy_requests_auditentry_changelist", "detail__reason__startswith", "the"),
        ("admin:privacy_requests_auditentry_changelist", "hash__startswith", "a"),
        ("admin:privacy_requests_privacyrequest_changelist", "counts__events__gte", "1"),
        ("admin:privacy_requests_privacyrequest_changelist", "progress__phase", "delete"),
        ("admin:privacy_requests_privacyrequest_changelist", "result_file__startswith", "1"),
        ("admin:privacy_requests_privacyrequest_changelist", "subjects__distinct_id", "alice"),
        ("admin:projects_project_changelist", "api_secret_hash__startswith", "a"),
        ("admin:accounts_gdprtoken_changelist", "token_hash__startswith", "a"),
        ("admin:mfa_authenticator_changelist", "data__secret__startswith", TOTP_SECRET[:4]),
        ("admin:accounts_user_changelist", "password__startswith", "md5"),
        ("admin:accounts_user_changelist", "email__startswith", "a"),
        ("admin:accounts_membership_changelist", "user__password__startswith", "md5"),
        ("admin:account_emailaddress_changelist", "user__password__startswith", "md5"),
        ("admin:accounts_organization_changelist", "memberships__role", "owner"),
    ],
)
def test_every_other_list_refuses_lookups_it_does_not_declare(
    staff_client, everything, url_name, lookup, value
):
    response = staff_client.get(reverse(url_name), {lookup: value})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "cl" not in (response.context or {})


def test_an_authenticators_secret_cannot_be_guessed_through_the_list(staff_client, staff):
    response = staff_client.get(
        reverse("admin:mfa_authenticator_changelist"),
        {"data__secret__startswith": TOTP_SECRET[:4]},
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Authenticator.objects.filter(user=staff).exists()


def _filter_links(response) -> list[str]:
    """Every choice of every list filter on a list page, as the page links it."""
    links = []
    changelist = response.context["cl"]
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            links.append(choice["query_string"])
    return links


def test_every_declared_filter_choice_still_works(staff_client, everything, end_user_data):
    checked = sorted_by = 0
    without_list = []
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        page = staff_client.get(url)
        assert page.status_code == HTTPStatus.OK, url
        if "cl" not in page.context:
            without_list.append(opts.label)
            continue
        for query_string in _filter_links(page):
            response = staff_client.get(url + query_string)
            assert response.status_code == HTTPStatus.OK, url + query_string
            checked += 1
        for order in re.findall(r'href="\?o=([-.0-9]+)"', page.content.decode()):
            response = staff_client.get(url, {"o": order})
            assert response.status_code == HTTPStatus.OK, (url, order)
            sorted_by += 1
    assert without_list == ["django_rq.Dashboard"]  # the queue views, not a model list
    assert checked > 40
    assert sorted_by > 40


def test_the_queue_links_and_the_audit_date_hierarchy_still_work(staff_client, everything):
    for _, _, url in queue_summary_links():
        assert staff_client.get(url).status_code == HTTPStatus.OK, url
    audit = reverse("admin:privacy_requests_auditentry_changelist")
    entry = AuditEntry.objects.order_by("id").first()
    day = {"at__year": entry.at.year, "at__month": entry.at.month, "at__day": entry.at.day}

    response = staff_client.get(audit, day)

    assert response.status_code == HTTPStatus.OK
    assert len(response.context["cl"].result_list) == AuditEntry.objects.count()


def test_opening_a_group_profile_is_audited(staff_client, staff, end_user_data):
    group = GroupProfile.objects.get()

    response = staff_client.get(reverse("admin:projects_groupprofile_change", args=[group.id]))

    assert response.status_code == HTTPStatus.OK
    assert SECRET in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.organization_id, entry.actor, entry.action) == (
        end_user_data.organization_id,
        f"staff:{staff.email}",
        "staff_viewed_end_user_data",
    )
    assert entry.detail == {
        "model": "projects.groupprofile",
        "id": group.id,
        "project": end_user_data.id,
        "group_key": "company",
        "group_id_hmac": distinct_id_hmac(project_id=end_user_data.id, distinct_id="alice-gmbh"),
    }
