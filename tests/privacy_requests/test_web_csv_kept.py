"""After a form error, the ids of a CSV that was read are kept, so the person need not choose
the file again (issue 17, item 8); a CSV that fails is not kept, and the page says to choose it
again, keeping every other choice."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.models import RequestDraft
from privacy_requests.services import privacy_request_submit
from privacy_requests.services.lifecycle import privacy_request_cancel
from tests.factories import MembershipFactory
from tests.privacy_requests.web_support import deletion_url, export_url

pytestmark = pytest.mark.django_db

KEPT = re.compile(r'<input type="hidden" name="csv_kept" value="([^"]+)">')


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def running_deletion(project, organization):
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    return privacy_request_submit(
        project=project,
        actor=Actor(user=owner, via="api"),
        channel="api",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=["alice"],
    )


def csv_form(project, content: bytes | None, **extra) -> dict:
    data = {"compliance": "GDPR", "project": project.id, "ids_from": "csv", "distinct_id": ""}
    if content is not None:
        data["csv_file"] = SimpleUploadedFile("people.csv", content, content_type="text/csv")
    return {**data, **extra}


def test_the_ids_of_a_csv_read_before_an_error_are_used_without_the_file(
    owner_client, organization, project, running_deletion
):
    refused = owner_client.post(
        deletion_url(organization), csv_form(project, b"carol\nalice\nbob\n")
    )
    assert refused.status_code == HTTPStatus.OK
    page = refused.content.decode()
    assert "No need to choose the file again:" in page
    assert "read from people.csv (3) are kept for 15 minutes" in page
    key = KEPT.search(page).group(1)
    assert RequestDraft.objects.count() == 0

    privacy_request_cancel(request=running_deletion, actor=Actor(user=None, via="system"))
    response = owner_client.post(deletion_url(organization), csv_form(project, None, csv_kept=key))

    assert response.status_code == HTTPStatus.FOUND
    draft = RequestDraft.objects.get()
    assert draft.distinct_ids == ["carol", "alice", "bob"]
    assert not any(k.startswith("csv-kept:") for k in owner_client.session.keys())


def test_kept_ids_need_their_key_and_expire_with_the_drafts(
    owner_client, organization, project, running_deletion
):
    page = owner_client.post(
        deletion_url(organization), csv_form(project, b"carol\nalice\n")
    ).content.decode()
    key = KEPT.search(page).group(1)

    wrong = owner_client.post(deletion_url(organization), csv_form(project, None, csv_kept="x"))
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        late = owner_client.post(deletion_url(organization), csv_form(project, None, csv_kept=key))

    for response in (wrong, late):
        assert response.context["form"].errors == {
            "csv_file": ["Choose a CSV file of distinct_ids to upload."]
        }
    assert RequestDraft.objects.count() == 0


def test_opening_the_form_again_forgets_kept_ids(
    owner_client, organization, project, running_deletion
):
    page = owner_client.post(
        deletion_url(organization), csv_form(project, b"carol\nalice\n")
    ).content.decode()
    key = KEPT.search(page).group(1)

    owner_client.get(deletion_url(organization))
    response = owner_client.post(deletion_url(organization), csv_form(project, None, csv_kept=key))

    assert "csv_file" in response.context["form"].errors
    assert not any(k.startswith("csv-kept:") for k in owner_client.session.keys())


def test_a_csv_that_fails_is_not_kept_and_the_page_says_to_choose_it_again(
    owner_client, organization, project
):
    response = owner_client.post(
        export_url(organization), csv_form(project, b"", compliance="CCPA", disclosure="Sources")
    )

    page = response.content.decode()
    assert "csv_file" in response.context["form"].errors
    assert 'name="csv_kept"' not in page
    assert "Browsers do not keep a chosen file after an error" in page
    # Every other choice is kept.
    assert re.search(r'<input type="radio" name="compliance" value="CCPA"[^>]* checked', page)
    assert re.search(r'<input type="radio" name="disclosure" value="Sources"[^>]* checked', page)
    assert re.search(r'<input type="radio" name="ids_from" value="csv"[^>]* checked', page)
    assert re.search(rf'<option value="{project.id}" selected>', page)
