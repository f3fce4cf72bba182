"""Ids with leading or trailing spaces through the pages (issue 15, finding 9): the forms and the
CSV reader keep every id verbatim, as the API does, so a deletion of " padded " deletes the rows
of " padded " (and only those); the pages show such ids with their spaces visible."""

import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.actors import Actor
from privacy_requests.models import (
    PrivacyRequest,
    RequestDraft,
    RequestKind,
    RequestSubject,
    Status,
)
from privacy_requests.services import privacy_request_submit
from privacy_requests.web.csv_upload import CsvError, distinct_ids_parse_csv
from projects.models import Event, Profile, SuppressedId
from projects.pii import distinct_id_hmac
from tests.factories import EventFactory, ProfileFactory
from tests.privacy_requests.web_support import (
    deletion_url,
    detail_url,
    export_submit,
    preview_url,
)

pytestmark = pytest.mark.django_db

PADDED = " padded "


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def padded_data(project):
    """Rows of " padded " and of "padded", which a trimmed id would reach instead."""
    EventFactory.create_batch(3, project=project, distinct_id=PADDED)
    ProfileFactory(project=project, distinct_id=PADDED)
    EventFactory.create_batch(2, project=project, distinct_id="padded")
    ProfileFactory(project=project, distinct_id="padded")


def form_data(project, **extra) -> dict:
    return {"compliance": "GDPR", "project": project.id, "ids_from": "one", **extra}


def given_ids(request: PrivacyRequest) -> list[str]:
    return list(
        RequestSubject.objects.filter(request=request, linked=False)
        .order_by("position")
        .values_list("distinct_id", flat=True)
    )


def test_a_deletion_of_a_padded_id_through_the_pages_deletes_its_rows(
    owner_client, organization, project, padded_data, django_capture_on_commit_callbacks
):
    preview = owner_client.post(
        deletion_url(organization), form_data(project, distinct_id=PADDED), follow=True
    )
    draft = RequestDraft.objects.get()
    assert draft.distinct_ids == [PADDED]
    assert "This id reaches 1 subject: 1 id with 3 events and 1 profile." in (
        preview.content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):  # the job runs in process
        owner_client.post(preview_url(draft), {"confirm": "on"})

    request = PrivacyRequest.objects.get()
    request.refresh_from_db()
    assert (request.status, request.not_found) == (Status.SUCCESS, [])
    assert given_ids(request) == [PADDED]
    assert not Event.objects.filter(project=project, distinct_id=PADDED).exists()
    assert not Profile.objects.filter(project=project, distinct_id=PADDED).exists()
    # The trimmed id is another end user: untouched.
    assert Event.objects.filter(project=project, distinct_id="padded").count() == 2
    assert Profile.objects.filter(project=project, distinct_id="padded").exists()


def test_an_export_of_a_csv_keeps_padded_ids_verbatim(owner_client, organization, project):
    content = b"distinct_id;country\n padded ;FR\npadded;DE\n\t tab\t;IT\n"

    export_submit(
        owner_client,
        organization,
        form_data(
            project,
            ids_from="csv",
            csv_file=SimpleUploadedFile("ids.csv", content, content_type="text/csv"),
        ),
    )

    assert given_ids(PrivacyRequest.objects.get()) == [PADDED, "padded", "\t tab\t"]


@pytest.mark.parametrize(
    ("content", "ids"),
    [
        (b" alice\nbob \n  \n\t\n carol \n", [" alice", "bob ", " carol "]),
        (b" distinct_id ;note\n alice ;x\n ; \nbob;y\n", [" alice ", "bob"]),
        (b"alice\r\n alice\r\nalice \r\n", ["alice", " alice", "alice "]),
    ],
    ids=["one-column", "header-with-spaces", "crlf"],
)
def test_csv_cells_are_ids_verbatim_and_blank_lines_are_ignored(content, ids):
    assert distinct_ids_parse_csv(content).distinct_ids == ids


def test_a_blank_id_cell_in_a_row_is_still_an_error():
    with pytest.raises(CsvError) as caught:
        distinct_ids_parse_csv(b"name,distinct_id\nA,alice\nB,   \n")
    assert str(caught.value) == "Line 3: the distinct_id cell (column 2) is empty."


def test_the_preview_and_the_request_page_show_the_spaces_of_an_id(
    owner_client, organization, project, padded_data, django_capture_on_commit_callbacks
):
    owner_client.post(deletion_url(organization), form_data(project, distinct_id=PADDED))
    draft = RequestDraft.objects.get()

    preview = owner_client.get(preview_url(draft)).content.decode()

    shown = '<code class="distinct-id spaced" title="This id begins or ends with a space">'
    assert f"<li>{shown} padded </code></li>" in preview
    assert (
        "Ids are used exactly as given, spaces included: this id begins or ends with a space "
        "(shown between quotes)."
    ) in preview

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(preview_url(draft), {"confirm": "on"})
    page = owner_client.get(detail_url(PrivacyRequest.objects.get())).content.decode()
    assert f"<li>{shown} padded </code></li>" in page


def test_an_id_without_edge_spaces_is_shown_plainly(owner_client, organization, project):
    owner_client.post(deletion_url(organization), form_data(project, distinct_id="al ice"))
    draft = RequestDraft.objects.get()

    preview = owner_client.get(preview_url(draft)).content.decode()

    assert '<li><code class="distinct-id">al ice</code></li>' in preview
    assert "spaces included" not in preview


def test_the_page_style_keeps_an_ids_spaces():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "site.css").read_text()
    rule = re.search(r"code\.distinct-id \{([^}]*)\}", css)
    assert rule and "white-space: pre-wrap;" in rule[1]


def test_lifting_the_suppression_of_a_padded_id_lifts_that_id_only(owner_client, project):
    SuppressedId.objects.bulk_create(
        [
            SuppressedId(
                project=project, id_hmac=distinct_id_hmac(project_id=project.id, distinct_id=value)
            )
            for value in (PADDED, "padded")
        ]
    )

    response = owner_client.post(
        reverse("projects:suppression_lift", args=[project.id]), {"distinct_id": PADDED}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert list(SuppressedId.objects.values_list("id_hmac", flat=True)) == [
        distinct_id_hmac(project_id=project.id, distinct_id="padded")
    ]


def test_a_conflict_names_a_padded_id_between_quotes(owner_client, owner, organization, project):
    running = privacy_request_submit(
        project=project,
        actor=Actor(user=owner, via="web"),
        channel="web",
        kind=RequestKind.DELETION,
        compliance="GDPR",
        distinct_ids=[PADDED],
    )

    response = owner_client.post(deletion_url(organization), form_data(project, distinct_id=PADDED))

    assert response.context["form"].errors == {
        "__all__": [
            f"1 of these ids already have a deletion in progress: “ padded ”. Requests: "
            f"{running.tracking_id}. Wait for them to finish, or cancel them, then submit again."
        ]
    }
    assert not RequestDraft.objects.exists()


def test_the_preview_counts_the_ids_with_spaces(owner_client, organization, project):
    content = b" alice\nbob\ncarol \n"
    owner_client.post(
        deletion_url(organization),
        form_data(
            project,
            ids_from="csv",
            csv_file=SimpleUploadedFile("ids.csv", content, content_type="text/csv"),
        ),
    )

    preview = owner_client.get(preview_url(RequestDraft.objects.get())).content.decode()

    assert (
        "Ids are used exactly as given, spaces included: 2 of these begin or end with a space "
        "(shown between quotes)."
    ) in preview
