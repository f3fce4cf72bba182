"""The preview every request of the pages passes through (issue 14, items 3 and 4): given ids
with no data first, each linked id with how it was linked, flagged links, linked ids left out
and refused ids included by a person, stored on the request and audited."""

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from privacy_requests.models import AuditEntry, PrivacyRequest, RequestDraft, SubjectDecision
from privacy_requests.selectors import privacy_request_reached_ids
from projects import identity
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, Profile
from tests.factories import MembershipFactory
from tests.privacy_requests.web_support import (
    deletion_url,
    detail_url,
    export_url,
    preview_url,
    shown_messages,
    snapshot,
)

pytestmark = pytest.mark.django_db

PUBLIC = LinkProvenance(endpoint="track", authenticated=False)
SECRET = LinkProvenance(endpoint="import", authenticated=True, principal="project-secret")
LONG_AGO = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def events(project, distinct_id, count):
    Event.objects.bulk_create(
        Event(
            project=project,
            distinct_id=distinct_id,
            name="Purchase",
            time=LONG_AGO + timedelta(minutes=n),
            insert_id=f"{distinct_id}-{n}",
            properties={},
            ingested_at=timezone.now(),
        )
        for n in range(count)
    )


@pytest.fixture
def attacked(project):
    """The attacker identified the victim's anonymous id as their own, with the public token."""
    events(project, "victim-123", 3)
    events(project, "attacker-1", 1)
    Profile.objects.create(
        project=project, distinct_id="victim-123", properties={}, updated_at=timezone.now()
    )
    identity_links_apply(
        project=project,
        links=[LinkRequest("victim-123", "attacker-1", IdentityKind.IDENTIFY)],
        provenance=PUBLIC,
    )
    return project


def form(project, ids: list[str]) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = ("\n".join(ids) + "\n").encode()
    return {
        "compliance": "GDPR",
        "project": project.id,
        "ids_from": "csv",
        "csv_file": SimpleUploadedFile("ids.csv", content, content_type="text/csv"),
    }


def test_the_export_preview_lists_ids_without_data_first_then_linked_ids_with_provenance(
    owner_client, organization, attacked
):
    response = owner_client.post(
        export_url(organization), form(attacked, ["nobody-1", "attacker-1", "nobody-2"])
    )
    draft = RequestDraft.objects.get()
    assert response.url == preview_url(draft)
    assert PrivacyRequest.objects.count() == 0  # an export is previewed before it runs

    page = owner_client.get(preview_url(draft)).content.decode()

    no_data = page.index("2 of these ids have no data in this project:")
    assert page.index("nobody-1") > no_data and page.index("nobody-2") > no_data
    assert no_data < page.index('id="reached-ids"')
    assert "These 3 ids reach 1 subject: 2 ids with 4 events and 1 profile." in page
    row = page[page.index("victim-123</code></td>") :]
    row = row[: row.index("</tr>")]
    assert "identify with &#x27;attacker-1&#x27; · public (project token only) · track" in row
    assert "⚑ public link joined two active ids" in row
    assert "Some identity links look like abuse." in page
    assert "Export the data of 1 subject (2 ids)" in page


def test_a_left_out_id_is_stored_on_the_request_audited_and_not_reached(
    owner_client, owner, organization, attacked, django_capture_on_commit_callbacks
):
    owner_client.post(export_url(organization), form(attacked, ["attacker-1"]))
    draft = RequestDraft.objects.get()

    updated = owner_client.post(
        preview_url(draft), {"action": "update", "leave_out": ["victim-123"]}, follow=True
    )

    assert updated.redirect_chain == [(preview_url(draft), HTTPStatus.FOUND)]
    assert RequestDraft.objects.get().left_out == ["victim-123"]
    page = updated.content.decode()
    assert 'name="leave_out" value="victim-123" checked' in page
    assert "Export the data of 1 subject (1 id)" in page
    assert PrivacyRequest.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):  # the job runs in process
        submitted = owner_client.post(
            preview_url(draft), {"action": "submit", "leave_out": ["victim-123"]}, follow=True
        )

    request = PrivacyRequest.objects.get()
    assert submitted.redirect_chain == [(detail_url(request), HTTPStatus.FOUND)]
    decision = SubjectDecision.objects.get(request=request)
    assert (decision.distinct_id, decision.decision, decision.decided_by) == (
        "victim-123",
        "left_out",
        f"web:{owner.email}",
    )
    assert AuditEntry.objects.filter(request=request, action="subjects_decided").count() == 1
    request.refresh_from_db()
    assert request.status == "SUCCESS"
    assert privacy_request_reached_ids(request=request) == ["attacker-1"]
    detail = owner_client.get(detail_url(request)).content.decode()
    decisions = detail[detail.index('id="decisions-table"') :]
    assert "victim-123" in decisions and "Left out" in decisions


def test_submitting_with_changed_choices_shows_the_new_counts_first(
    owner_client, organization, attacked
):
    owner_client.post(export_url(organization), form(attacked, ["attacker-1"]))
    draft = RequestDraft.objects.get()

    response = owner_client.post(
        preview_url(draft), {"action": "submit", "leave_out": ["victim-123"]}, follow=True
    )

    assert response.redirect_chain == [(preview_url(draft), HTTPStatus.FOUND)]
    assert shown_messages(response)[-1].startswith("Your choices changed what this request")
    assert PrivacyRequest.objects.count() == 0
    assert "Export the data of 1 subject (1 id)" in response.content.decode()


@pytest.mark.parametrize(
    ("choice", "value"),
    [("leave_out", "attacker-1"), ("leave_out", "stranger"), ("include", "victim-123")],
)
def test_a_choice_outside_what_the_request_reaches_is_refused(
    owner_client, organization, attacked, choice, value
):
    owner_client.post(export_url(organization), form(attacked, ["attacker-1"]))
    draft = RequestDraft.objects.get()
    before = snapshot()

    response = owner_client.post(preview_url(draft), {"action": "submit", choice: [value]})

    assert response.status_code == HTTPStatus.OK
    assert "Nothing was submitted." in response.content.decode()
    assert snapshot() == before
    assert RequestDraft.objects.get().left_out == []


def test_a_refused_device_is_listed_and_deleted_with_the_victim_once_included(
    owner_client, organization, project, monkeypatch, django_capture_on_commit_callbacks
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
    owner_client.post(deletion_url(organization), form(project, ["victim"]))
    draft = RequestDraft.objects.get()

    page = owner_client.get(preview_url(draft)).content.decode()
    candidates = page[page.index('id="candidate-ids"') :]
    row = candidates[candidates.index("$device:new-laptop</code></td>") :]
    row = row[: row.index("</tr>")]
    assert "refused link" in row
    assert "authenticated · import" in row
    assert "refused: the identity cluster was at its cap" in row
    assert "⚑ cluster at its cap" in page
    assert Event.objects.filter(distinct_id="$device:new-laptop").count() == 3

    owner_client.post(preview_url(draft), {"action": "update", "include": ["$device:new-laptop"]})
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            preview_url(draft),
            {"action": "submit", "include": ["$device:new-laptop"], "confirm": "on"},
        )

    request = PrivacyRequest.objects.get()
    assert SubjectDecision.objects.get(request=request).decision == "included"
    assert not Event.objects.filter(project=project, distinct_id="$device:new-laptop").exists()
    assert not Event.objects.filter(project=project, distinct_id="victim").exists()


def test_an_export_draft_is_not_opened_as_a_deletion_and_a_member_cannot_open_it(
    client, owner_client, organization, attacked
):
    from django.urls import reverse

    owner_client.post(export_url(organization), form(attacked, ["attacker-1"]))
    draft = RequestDraft.objects.get()
    before = snapshot()

    as_deletion = reverse("privacy_web:deletion_preview", args=[organization.id, draft.id])
    response = owner_client.post(as_deletion, {"action": "submit", "confirm": "on"})
    assert response.status_code == HTTPStatus.FOUND
    assert response.url == deletion_url(organization)

    client.force_login(MembershipFactory(organization=organization, role="member").user)
    refused = client.post(preview_url(draft), {"action": "submit"})
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert snapshot() == before


def test_the_deletion_page_says_collection_goes_on_and_links_to_suppression(
    owner_client, organization, project
):
    """Issue 17, item 11: one sentence, the project's suppression setting, the SDKs' opt-out."""
    events(project, "alice", 1)
    owner_client.post(deletion_url(organization), form(project, ["alice"]))
    page = owner_client.get(preview_url(RequestDraft.objects.get())).content.decode()

    note = page[page.index('id="future-collection"') :]
    note = note[: note.index("</section>")]
    assert "Deleting data does not stop future collection" in note
    assert f'href="/projects/{project.id}/settings/#suppression"' in note
    assert "(now off)" in note
    assert "opt_out_tracking()" in note and "Server libraries" in note

    owner_client.post(export_url(organization), form(project, ["alice"]))
    export_draft = RequestDraft.objects.get(kind="export")
    assert (
        'id="future-collection"' not in owner_client.get(preview_url(export_draft)).content.decode()
    )
