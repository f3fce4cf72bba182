"""Project settings: rotate the API secret, suppression on and off, lift a suppression, and the
records ingestion refused lately."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.tokens import token_hash
from privacy_requests.models import AuditEntry
from privacy_requests.services.sweep import privacy_sweep
from projects.ingestion.outcome import Endpoint, RecordFailure
from projects.ingestion.refusals import refusals_count
from projects.models import Project, SuppressedId
from projects.pii import distinct_id_hmac
from projects.selectors import RefusalTally, refused_records_recent
from projects.services import project_verify_api_secret
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import event, post_data

pytestmark = pytest.mark.django_db


def settings_url(project) -> str:
    return reverse("projects:settings", args=[project.id])


def rotate_url(project) -> str:
    return reverse("projects:api_secret_rotate", args=[project.id])


def rotated_url(project) -> str:
    return reverse("projects:api_secret_rotated", args=[project.id])


def suppression_url(project) -> str:
    return reverse("projects:suppression", args=[project.id])


def lift_url(project) -> str:
    return reverse("projects:suppression_lift", args=[project.id])


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def state(project) -> dict:
    project.refresh_from_db()
    return {
        "secret": project.api_secret_hash,
        "suppress": project.suppress_deleted_ids,
        "suppressed": sorted(SuppressedId.objects.values_list("id_hmac", flat=True)),
        "audit": AuditEntry.objects.count(),
    }


def suppress(project, *distinct_ids) -> None:
    SuppressedId.objects.bulk_create(
        [
            SuppressedId(
                project=project,
                id_hmac=distinct_id_hmac(project_id=project.id, distinct_id=distinct_id),
            )
            for distinct_id in distinct_ids
        ]
    )


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_see_the_settings(signed_in, make_member, project, role):
    suppress(project, "alice", "bob")

    response = signed_in(make_member(role)).get(settings_url(project))

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert f"<h1>Settings of {project.name}</h1>" in page
    assert project.token in page
    assert 'Suppression is <strong id="suppression-state">off</strong>.' in page
    assert (
        "2 ids are suppressed in this project (kept, but not applied while suppression is "
        "off)." in page
    )
    assert "Turn suppression on" in page
    assert 'for="id_distinct_id"' in page and 'for="id_confirm"' in page


def test_members_get_403_and_others_404_and_change_nothing(
    client, signed_in, member, outsider, project
):
    suppress(project, "alice")
    before = state(project)
    requests = [
        ("get", settings_url(project), {}),
        ("post", rotate_url(project), {"confirm": "on"}),
        ("post", suppression_url(project), {"enabled": "on"}),
        ("post", lift_url(project), {"distinct_id": "alice"}),
    ]

    for user, expected in ((member, HTTPStatus.FORBIDDEN), (outsider, HTTPStatus.NOT_FOUND)):
        client = signed_in(user)
        for method, url, data in requests:
            response = getattr(client, method)(url, data)
            assert response.status_code == expected, (user, url)
            if expected == HTTPStatus.FORBIDDEN:
                assert (
                    f"Only owners and admins of {project.organization.name} can change the "
                    "settings of its projects."
                ) in response.content.decode()
        client.logout()

    for method, url, data in requests:
        response = getattr(client, method)(url, data)
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"].startswith(reverse("account_login"))
    assert state(project) == before


def test_rotating_the_secret_redirects_to_the_new_one_shown_once(signed_in, owner, project):
    client = signed_in(owner)

    response = client.post(rotate_url(project), {"confirm": "on"})

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == rotated_url(project)
    shown = client.get(rotated_url(project))
    assert shown.status_code == HTTPStatus.OK
    assert shown["Cache-Control"] == "no-store"
    secret = shown.context["api_secret"]
    project.refresh_from_db()
    assert project.api_secret_hash == token_hash(secret)
    assert project.api_secret_rotated_at is not None
    assert project_verify_api_secret(project=project, secret=secret)
    assert not project_verify_api_secret(project=project, secret="factory-secret")
    page = shown.content.decode()
    assert f'<code class="secret" id="api-secret">{secret}</code>' in page
    assert 'data-copy-target="api-secret"' in page
    assert secret not in client.get(settings_url(project)).content.decode()


def test_reloading_the_new_secret_page_says_already_shown_and_rotates_nothing(
    signed_in, owner, project
):
    client = signed_in(owner)
    client.post(rotate_url(project), {"confirm": "on"})
    secret = client.get(rotated_url(project)).context["api_secret"]
    before = state(project)

    reload = client.get(rotated_url(project))

    assert reload.status_code == HTTPStatus.OK
    assert reload["Cache-Control"] == "no-store"
    page = reload.content.decode()
    assert secret not in page
    assert 'id="api-secret"' not in page
    assert "This API secret was already shown." in page
    assert f'href="{settings_url(project)}#api-secret"' in page
    assert state(project) == before
    assert project_verify_api_secret(project=project, secret=secret)


def test_members_cannot_open_the_new_secret_page(signed_in, member, project):
    response = signed_in(member).get(rotated_url(project))

    assert response.status_code == HTTPStatus.FORBIDDEN


def test_rotating_without_confirmation_changes_nothing(signed_in, owner, project):
    before = state(project)
    client = signed_in(owner)

    response = client.post(rotate_url(project), {})
    get = client.get(rotate_url(project))

    assert response.status_code == HTTPStatus.OK
    assert "Tick the box to confirm: the current secret stops working at once." in (
        response.content.decode()
    )
    assert get.status_code == HTTPStatus.FOUND and get["Location"] == settings_url(project)
    assert state(project) == before


def test_suppression_is_turned_on_and_off_audited(signed_in, owner, project):
    client = signed_in(owner)

    on = client.post(suppression_url(project), {"enabled": "on"}, follow=True)
    assert Project.objects.get(id=project.id).suppress_deleted_ids is True
    assert shown_messages(on) == [
        "Suppression is on: ids removed by later deletions are dropped from ingestion, and so "
        "are ids suppressed before."
    ]
    assert "Turn suppression off" in on.content.decode()

    again = client.post(suppression_url(project), {"enabled": "on"}, follow=True)
    assert shown_messages(again) == ["Suppression was already on."]

    client.post(suppression_url(project), {"enabled": "off"})
    assert Project.objects.get(id=project.id).suppress_deleted_ids is False
    entries = AuditEntry.objects.filter(organization=project.organization).order_by("seq")
    assert [(entry.actor, entry.action, entry.detail) for entry in entries] == [
        (f"web:{owner.email}", "suppression_enabled", {"project": project.id}),
        (f"web:{owner.email}", "suppression_disabled", {"project": project.id}),
    ]


def test_a_bad_suppression_choice_changes_nothing(signed_in, owner, project):
    before = state(project)

    response = signed_in(owner).post(suppression_url(project), {"enabled": "maybe"}, follow=True)

    assert shown_messages(response) == ["Nothing changed: choose to turn suppression on or off."]
    assert state(project) == before


def test_lifting_a_suppressed_id_is_audited_without_the_id(signed_in, admin_user, project):
    suppress(project, "alice", "Alice")

    response = signed_in(admin_user).post(lift_url(project), {"distinct_id": "alice"}, follow=True)

    assert response.redirect_chain == [(settings_url(project), HTTPStatus.FOUND)]
    assert list(SuppressedId.objects.values_list("id_hmac", flat=True)) == [
        distinct_id_hmac(project_id=project.id, distinct_id="Alice")
    ]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action) == (f"web:{admin_user.email}", "suppression_lifted")
    assert "alice" not in str(entry.detail)
    assert shown_messages(response) == [
        "The suppression of that id was lifted: ingestion accepts its events and profile "
        "updates again."
    ]
    assert "1 id is suppressed in this project" in response.content.decode()


@pytest.mark.parametrize(
    ("distinct_id", "error"),
    [
        (
            "carol",
            "This id is not suppressed in this project; nothing changed. Ids are case-sensitive.",
        ),
        ("", "This field is required."),
        ("x" * 256, "Ensure this value has at most 255 characters (it has 256)."),
    ],
)
def test_lifting_an_id_that_is_not_suppressed_changes_nothing(
    signed_in, owner, project, distinct_id, error
):
    suppress(project, "alice")
    before = state(project)

    response = signed_in(owner).post(lift_url(project), {"distinct_id": distinct_id})

    assert response.status_code == HTTPStatus.OK
    assert response.context["lift_form"].errors == {"distinct_id": [error]}
    assert state(project) == before


def test_another_organizations_project_is_404_even_for_an_owner(signed_in, owner):
    theirs = ProjectFactory()
    before = state(theirs)

    client = signed_in(owner)

    assert client.get(settings_url(theirs)).status_code == HTTPStatus.NOT_FOUND
    assert client.post(rotate_url(theirs), {"confirm": "on"}).status_code == (HTTPStatus.NOT_FOUND)
    assert state(theirs) == before


def test_project_list_links_to_settings_only_for_managers(signed_in, owner, member, project):
    link = f'href="{settings_url(project)}"'

    assert link in signed_in(owner).get(reverse("projects:list")).content.decode()
    assert link not in signed_in(member).get(reverse("projects:list")).content.decode()


def test_settings_list_suppressed_ids_by_fingerprint_never_in_clear(signed_in, owner, project):
    suppress(project, "alice", "bob")

    page = signed_in(owner).get(settings_url(project)).content.decode()

    fingerprints = [
        distinct_id_hmac(project_id=project.id, distinct_id=distinct_id)[:12]
        for distinct_id in ("alice", "bob")
    ]
    assert all(f"<code>{fingerprint}</code>" in page for fingerprint in fingerprints)
    assert "2 ids are suppressed in this project" in page
    assert ">alice<" not in page and ">bob<" not in page


def _refuse(client, project, *, distinct_id="anon", count=1):
    """Sends `count` refused events and one good one to /track, as an SDK would."""
    records = [event(project.token, distinct_id="bob")]
    records += [event(project.token, distinct_id=distinct_id) for _ in range(count)]
    assert post_data(client, "/track", records).content == b"1"


def test_settings_show_the_records_refused_in_the_last_24_hours_by_reason(
    client, signed_in, owner, project
):
    _refuse(client, project, count=3)
    _refuse(client, ProjectFactory(organization=project.organization), count=7)
    refusals_count(
        endpoint=Endpoint.IMPORT,
        failures=[RecordFailure(index=0, field="event", message="m", project_id=project.pk)] * 40,
        now=timezone.now() - timedelta(hours=25),
    )
    engage = {"$token": project.token, "$distinct_id": "bob", "$add": {"alice@example.com": "x"}}
    post_data(client, "/engage", engage)

    page = signed_in(owner).get(settings_url(project)).content.decode()

    assert '<h2 id="refusals">Refused records in the last 24 hours</h2>' in page
    assert 'Ingestion refused <strong id="refused-total">4</strong> records' in page
    rows = re.findall(
        r"<tr><td><code>(.*?)</code></td><td><code>(.*?)</code></td><td>(\d+)</td>", page
    )
    assert rows == [("/track", "properties.distinct_id", "3"), ("/engage", "$add.*", "1")]
    assert "alice@example.com" not in page and ">anon<" not in page
    assert 'id="no-refusals"' not in page


def test_settings_say_plainly_when_no_record_was_refused(signed_in, owner, project):
    page = signed_in(owner).get(settings_url(project)).content.decode()

    assert '<p id="no-refusals">No records were refused in the last 24 hours.</p>' in page
    assert 'id="refusals-table"' not in page


def test_refusal_counts_are_shown_only_to_the_projects_owners_and_admins(
    client, signed_in, member, outsider, project
):
    _refuse(client, project, count=2)

    for user in (member, outsider):
        response = signed_in(user).get(settings_url(project))
        assert response.status_code in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND)
        page = response.content.decode()
        assert "Refused records" not in page and "properties.distinct_id" not in page
        client.logout()


def test_the_sweep_purges_refusal_counters_older_than_a_week(project):
    failure = RecordFailure(index=0, field="event", message="m", project_id=project.pk)
    now = timezone.now()
    for days in (0, 8):
        refusals_count(endpoint=Endpoint.TRACK, failures=[failure], now=now - timedelta(days=days))

    report = privacy_sweep(now=now)

    assert report.purged_refusal_counts == 1
    assert "purged 1 old counters of refused records" in report.as_text()
    assert refused_records_recent(project=project, now=now) == [
        RefusalTally(endpoint="track", reason="event", count=1)
    ]
