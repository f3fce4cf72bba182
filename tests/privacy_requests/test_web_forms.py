"""Request Export and Request Deletion forms, CSV uploads (DESIGN section 9), and the deletion
preview from a server-side draft."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.urls import reverse
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.models import (
    AuditEntry,
    Channel,
    PrivacyRequest,
    RequestDraft,
    RequestKind,
    RequestSubject,
    Status,
)
from privacy_requests.services import privacy_request_submit
from privacy_requests.web.csv_upload import MAX_CSV_BYTES
from tests.factories import (
    EventFactory,
    IdentityLinkFactory,
    MembershipFactory,
    ProfileFactory,
    ProjectFactory,
)
from tests.privacy_requests.web_support import (
    deletion_url,
    detail_url,
    export_submit,
    export_url,
    preview_url,
    shown_messages,
    snapshot,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def given_ids(request: PrivacyRequest) -> list[str]:
    return list(
        RequestSubject.objects.filter(request=request, linked=False)
        .order_by("position")
        .values_list("distinct_id", flat=True)
    )


def csv_upload(content: bytes, name: str = "ids.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def form_data(project, **extra) -> dict:
    return {
        "compliance": "GDPR",
        "project": project.id,
        "ids_from": "one",
        "distinct_id": "alice",
        **extra,
    }


# --- Request Export -------------------------------------------------------------------------


def test_owner_requests_an_export_for_one_user(owner_client, owner, organization, project):
    response = export_submit(owner_client, organization, form_data(project), follow=True)

    request = PrivacyRequest.objects.get()
    assert response.redirect_chain == [(detail_url(request), HTTPStatus.FOUND)]
    assert (request.kind, request.compliance, request.disclosure, request.channel) == (
        RequestKind.EXPORT,
        "GDPR",
        "Data",
        Channel.WEB,
    )
    assert request.project == project
    assert request.requested_by == f"web:{owner.email}"
    assert request.requester == owner
    assert given_ids(request) == ["alice"]
    assert shown_messages(response) == [
        "Export requested for 1 id. This page follows it; we will email you when it ends."
    ]


def test_admin_requests_a_ccpa_export_of_categories(client, admin_user, organization, project):
    client.force_login(admin_user)

    export_submit(
        client, organization, form_data(project, compliance="CCPA", disclosure="Categories")
    )

    request = PrivacyRequest.objects.get()
    assert (request.compliance, request.disclosure) == ("CCPA", "Categories")
    assert request.requested_by == f"web:{admin_user.email}"


def test_the_export_form_offers_only_this_organizations_projects(
    owner_client, organization, project
):
    theirs = ProjectFactory()
    second = ProjectFactory(organization=organization, name="Zeta")

    response = owner_client.get(export_url(organization))

    assert list(response.context["form"].fields["project"].queryset) == [project, second]
    page = response.content.decode()
    assert theirs.name not in page
    assert "What happens next" in page
    assert 'enctype="multipart/form-data"' in page
    for control in (
        "id_compliance_0",
        "id_disclosure_0",
        "id_project",
        "id_ids_from_0",
        "id_distinct_id",
        "id_csv_file",
    ):
        assert f'for="{control}"' in page, control


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        (
            {"compliance": "GDPR", "disclosure": "Sources"},
            "disclosure",
            "A GDPR export always holds the data itself: choose Data, or choose CCPA for "
            "categories or sources.",
        ),
        ({"distinct_id": ""}, "distinct_id", "Enter the end user's distinct_id."),
        (
            {"distinct_id": "x" * 256},
            "distinct_id",
            "Ensure this value has at most 255 characters (it has 256).",
        ),
        ({"ids_from": "csv"}, "csv_file", "Choose a CSV file of distinct_ids to upload."),
        (
            {"compliance": "LGPD"},
            "compliance",
            "Select a valid choice. LGPD is not one of the available choices.",
        ),
        ({"distinct_id": "bad\x00id"}, "distinct_id", "Null characters are not allowed."),
    ],
)
def test_a_bad_export_form_saves_nothing(owner_client, organization, project, data, field, error):
    before = snapshot()

    response = owner_client.post(export_url(organization), form_data(project, **data))

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {field: [error]}
    assert "The export was not requested." in response.content.decode()
    assert snapshot() == before


def test_a_project_of_another_organization_is_refused(owner_client, organization):
    theirs = ProjectFactory()
    before = snapshot()

    response = owner_client.post(export_url(organization), form_data(theirs))

    assert response.context["form"].errors == {
        "project": ["Choose one of this organization's projects."]
    }
    assert snapshot() == before


def test_export_from_a_csv_keeps_first_seen_order_and_collapses_duplicates(
    owner_client, organization, project
):
    content = b"\xef\xbb\xbfdistinct_id;country\nbob;FR\n\nalice;DE\nbob;FR\r\nCarol;IT\n"

    response = export_submit(
        owner_client,
        organization,
        form_data(project, ids_from="csv", distinct_id="", csv_file=csv_upload(content)),
        follow=True,
    )

    request = PrivacyRequest.objects.get()
    assert given_ids(request) == ["bob", "alice", "Carol"]
    assert shown_messages(response)[0].startswith("Export requested for 3 ids.")


def test_a_csv_choice_ignores_the_single_id_box_and_vice_versa(owner_client, organization, project):
    export_submit(
        owner_client,
        organization,
        form_data(project, ids_from="one", distinct_id="only-me", csv_file=csv_upload(b"a\nb\n")),
    )

    assert given_ids(PrivacyRequest.objects.get()) == ["only-me"]


# --- CSV rules (DESIGN section 9) ------------------------------------------------------------


CSV_CASES = [
    pytest.param(b"", "Line 1: the file is empty: it holds no distinct_ids.", id="empty"),
    pytest.param(
        b"\n \n\t\n", "Line 1: the file is empty: it holds no distinct_ids.", id="blank-lines-only"
    ),
    pytest.param(
        b"distinct_id\n\n",
        "Line 2: the file is empty: there are no ids under the \u201cdistinct_id\u201d header.",
        id="header-only",
    ),
    pytest.param(
        b"alice\nbob\n\xe9ric\n",
        "Line 3: this is not UTF-8 text (byte 0xE9). Save "
        "the file as \u201cCSV UTF-8\u201d and upload it again.",
        id="latin-1",
    ),
    pytest.param(
        b"alice\n" + b"x" * 256 + b"\n",
        "Line 2: the id is 256 characters long; a distinct_id has at most 255.",
        id="cell-over-255",
    ),
    pytest.param(
        b"alice\n" + b"y" * 200_000 + b"\n",
        "Line 2: a cell is longer than 255 characters, the longest a distinct_id can be.",
        id="cell-over-csv-field-limit",
    ),
    pytest.param(
        b"PK\x03\x04\x14\x00\x06\x00",
        "Line 1: this is not a CSV file (it holds "
        "binary data, as a spreadsheet or an archive does). Export the sheet as CSV "
        "(UTF-8) and upload that.",
        id="spreadsheet",
    ),
    pytest.param(
        b"alice\nbob,Bob B\n",
        "Line 2: this row has more than one column (separated "
        "by a comma). Upload one column of ids, or name the id column "
        "\u201cdistinct_id\u201d in a header row.",
        id="columns-without-header",
    ),
    pytest.param(
        b"email;name\na@x;A\n",
        "Line 1: this row has more than one column (separated "
        "by a semicolon). Upload one column of ids, or name the id column "
        "\u201cdistinct_id\u201d in a header row.",
        id="header-without-distinct-id",
    ),
    pytest.param(
        b"name\tdistinct_id\nA\talice\nB\t\n",
        "Line 3: the distinct_id cell (column 2) is empty.",
        id="empty-id-cell",
    ),
    pytest.param(
        b'alice\n"bob\nbobby\n',
        "Line 2: a quoted cell starts here and is never closed.",
        id="unclosed-quote",
    ),
    pytest.param(
        "\n".join(f"user-{n}" for n in range(2001)).encode() + b"\nuser-0\n",
        "Line 2,001: this is unique id number 2,001; a request holds at most 2,000. "
        "Split the file.",
        id="too-many-ids",
    ),
]


@pytest.mark.parametrize(("content", "error"), CSV_CASES)
@pytest.mark.parametrize("kind", ["export", "deletion"])
def test_each_bad_csv_is_an_error_naming_the_line_and_nothing_is_saved(
    owner_client, organization, project, content, error, kind
):
    url = export_url(organization) if kind == "export" else deletion_url(organization)
    before = snapshot()

    response = owner_client.post(
        url, form_data(project, ids_from="csv", distinct_id="", csv_file=csv_upload(content))
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {"csv_file": [error]}
    assert snapshot() == before


@pytest.mark.parametrize("kind", ["export", "deletion"])
def test_a_csv_over_5_mib_is_refused_unread(owner_client, organization, project, kind):
    url = export_url(organization) if kind == "export" else deletion_url(organization)
    content = b"alice\n" + b"\n" * MAX_CSV_BYTES
    before = snapshot()

    response = owner_client.post(
        url, form_data(project, ids_from="csv", distinct_id="", csv_file=csv_upload(content))
    )

    assert response.context["form"].errors == {
        "csv_file": ["The file is 5.0 MiB; the limit is 5 MiB. Split it into smaller files."]
    }
    assert snapshot() == before


def test_exactly_2000_unique_ids_and_a_file_of_5_mib_are_accepted(
    owner_client, organization, project, monkeypatch
):
    def no_disk(*args, **kwargs):
        raise AssertionError("an upload was written to a temporary file")

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", no_disk)
    ids = [f"user-{n}" for n in range(2000)]
    body = ("\n".join(ids) + "\n").encode()
    content = body + b"\n" * (MAX_CSV_BYTES - len(body))
    assert len(content) == MAX_CSV_BYTES

    owner_client.post(
        export_url(organization),
        form_data(project, ids_from="csv", distinct_id="", csv_file=csv_upload(content)),
    )

    assert RequestDraft.objects.get().distinct_ids == ids


# --- Request Deletion: form, preview, confirmation -------------------------------------------


@pytest.fixture
def clusters(project):
    """alice has a device and an alias linked to her; bob stands alone; data of both."""
    EventFactory.create_batch(3, project=project, distinct_id="alice")
    EventFactory.create_batch(2, project=project, distinct_id="$device:phone")
    EventFactory(project=project, distinct_id="bob")
    EventFactory(project=ProjectFactory(), distinct_id="alice")
    ProfileFactory(project=project, distinct_id="alice")
    ProfileFactory(project=project, distinct_id="bob")
    IdentityLinkFactory(project=project, distinct_id="$device:phone", canonical_id="alice")
    IdentityLinkFactory(project=project, distinct_id="alice-alias", canonical_id="alice")


def test_deletion_form_makes_a_draft_and_shows_the_preview(
    owner_client, owner, organization, project, clusters
):
    content = b"distinct_id\nalice\nbob\nalice\n"

    response = owner_client.post(
        deletion_url(organization),
        form_data(project, ids_from="csv", distinct_id="", csv_file=csv_upload(content)),
        follow=True,
    )

    draft = RequestDraft.objects.get()
    assert response.redirect_chain == [(preview_url(draft), HTTPStatus.FOUND)]
    assert (draft.user, draft.project, draft.compliance, draft.distinct_ids) == (
        owner,
        project,
        "GDPR",
        ["alice", "bob"],
    )
    assert draft.expires_at - draft.created_at == timedelta(minutes=15)
    assert PrivacyRequest.objects.count() == 0
    assert (
        "<strong>These 2 ids reach 2 subjects: 4 ids with 6 events and 2 profiles.</strong>"
        in response.content.decode()
    )
    assert response.context["preview"].identity_links == 2


def test_preview_of_one_id_says_so(owner_client, organization, project, clusters):
    response = owner_client.post(
        deletion_url(organization), form_data(project, distinct_id="bob"), follow=True
    )

    assert "<strong>This id reaches 1 subject: 1 id with 1 event and 1 profile.</strong>" in (
        response.content.decode()
    )


def test_confirming_posts_only_the_draft_and_submits_the_deletion(
    owner_client, owner, organization, project, clusters
):
    owner_client.post(deletion_url(organization), form_data(project, compliance="CCPA"))
    draft = RequestDraft.objects.get()

    response = owner_client.post(preview_url(draft), {"confirm": "on"}, follow=True)

    request = PrivacyRequest.objects.get()
    assert response.redirect_chain == [(detail_url(request), HTTPStatus.FOUND)]
    assert (request.kind, request.compliance, request.channel, request.requested_by) == (
        RequestKind.DELETION,
        "CCPA",
        Channel.WEB,
        f"web:{owner.email}",
    )
    assert given_ids(request) == ["alice"]
    assert RequestDraft.objects.count() == 0
    assert shown_messages(response) == [
        "Deletion requested for 1 id. This page follows it; we will email you when it ends."
    ]


def test_confirming_without_ticking_the_box_deletes_nothing(owner_client, organization, project):
    owner_client.post(deletion_url(organization), form_data(project))
    draft = RequestDraft.objects.get()
    before = snapshot()

    response = owner_client.post(preview_url(draft), {})

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {"confirm": ["Tick the box to confirm the deletion."]}
    assert snapshot() == before


def test_a_second_confirmation_of_the_same_draft_is_refused(owner_client, organization, project):
    owner_client.post(deletion_url(organization), form_data(project))
    draft = RequestDraft.objects.get()
    owner_client.post(preview_url(draft), {"confirm": "on"})
    before = snapshot()

    again = owner_client.post(preview_url(draft), {"confirm": "on"}, follow=True)

    assert again.redirect_chain == [(deletion_url(organization), HTTPStatus.FOUND)]
    assert shown_messages(again)[-1].startswith("This preview is no longer available")
    assert snapshot() == before
    assert PrivacyRequest.objects.count() == 1


def test_an_expired_draft_is_refused(owner_client, organization, project):
    owner_client.post(deletion_url(organization), form_data(project))
    draft = RequestDraft.objects.get()
    RequestDraft.objects.filter(id=draft.id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    before = snapshot()

    shown = owner_client.get(preview_url(draft), follow=True)
    confirmed = owner_client.post(preview_url(draft), {"confirm": "on"}, follow=True)

    for response in (shown, confirmed):
        assert response.redirect_chain == [(deletion_url(organization), HTTPStatus.FOUND)]
        assert shown_messages(response) == [
            "This preview is no longer available: previews last 15 minutes and can be "
            "confirmed once, by the person who made them. Nothing was deleted. Start again "
            "below."
        ]
    assert snapshot() == before


def test_someone_elses_draft_is_refused(client, owner_client, organization, project, make_member):
    owner_client.post(deletion_url(organization), form_data(project))
    draft = RequestDraft.objects.get()
    colleague = make_member(Role.ADMIN)
    client.force_login(colleague)
    before = snapshot()

    response = client.post(preview_url(draft), {"confirm": "on"}, follow=True)

    assert response.redirect_chain == [(deletion_url(organization), HTTPStatus.FOUND)]
    assert "alice" not in response.content.decode()
    assert snapshot() == before


def test_a_draft_is_not_reachable_through_another_organization(
    owner, owner_client, organization, project
):
    other = MembershipFactory(user=owner, role=Role.OWNER).organization
    owner_client.post(deletion_url(organization), form_data(project))
    draft = RequestDraft.objects.get()
    before = snapshot()

    url = reverse("privacy_web:deletion_preview", args=[other.id, draft.id])
    response = owner_client.post(url, {"confirm": "on"})

    assert response.status_code == HTTPStatus.FOUND
    assert snapshot() == before


def test_a_member_cannot_see_or_confirm_a_draft(
    client, owner_client, member, organization, project
):
    owner_client.post(deletion_url(organization), form_data(project))
    draft = RequestDraft.objects.get()
    client.force_login(member)
    before = snapshot()

    assert client.get(preview_url(draft)).status_code == HTTPStatus.FORBIDDEN
    assert client.post(preview_url(draft), {"confirm": "on"}).status_code == (HTTPStatus.FORBIDDEN)
    assert snapshot() == before


@pytest.fixture
def running_deletion(project, organization):
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    return privacy_request_submit(
        project=project,
        actor=Actor(user=owner, via="api"),
        channel="api",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=["bob", "alice"],
    )


def test_a_deletion_of_ids_already_being_deleted_is_a_form_error_naming_them(
    owner_client, organization, project, running_deletion
):
    before = snapshot()

    response = owner_client.post(
        deletion_url(organization),
        form_data(
            project, ids_from="csv", distinct_id="", csv_file=csv_upload(b"carol\nalice\nbob\n")
        ),
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {
        "__all__": [
            f"2 of these ids already have a deletion in progress: alice, bob. Requests: "
            f"{running_deletion.tracking_id}. Wait for them to finish, or cancel them, then submit "
            "again."
        ]
    }
    assert snapshot() == before


def test_a_conflict_that_appears_after_the_preview_is_shown_at_confirmation(
    owner_client, organization, project
):
    owner_client.post(deletion_url(organization), form_data(project))
    draft = RequestDraft.objects.get()
    other = MembershipFactory(organization=organization, role=Role.ADMIN).user
    meanwhile = privacy_request_submit(
        project=project,
        actor=Actor(user=other, via="web"),
        channel="web",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=["alice"],
    )
    before = snapshot()

    response = owner_client.post(preview_url(draft), {"confirm": "on"})

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {
        "__all__": [
            f"1 of these ids already have a deletion in progress: alice. Requests: "
            f"{meanwhile.tracking_id}. Wait for them to finish, or cancel them, then submit again."
        ]
    }
    assert snapshot() == before


def test_a_finished_deletion_does_not_block_a_new_one(
    owner_client, organization, project, running_deletion
):
    PrivacyRequest.objects.filter(id=running_deletion.id).update(status=Status.SUCCESS)

    owner_client.post(deletion_url(organization), form_data(project))

    assert RequestDraft.objects.get().distinct_ids == ["alice"]


def test_expired_drafts_are_purged_when_a_new_one_is_made(owner_client, organization, project):
    owner_client.post(deletion_url(organization), form_data(project, distinct_id="old"))
    RequestDraft.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    owner_client.post(deletion_url(organization), form_data(project, distinct_id="new"))

    assert [draft.distinct_ids for draft in RequestDraft.objects.all()] == [["new"]]


def test_the_deletion_form_offers_the_ccpa_disclosure_choice(owner_client, organization, project):
    response = owner_client.get(deletion_url(organization) + f"?project={project.id}")

    assert {"disclosure", "categories", "sources"} <= set(response.context["form"].fields)
    assert response.context["form"].initial == {"project": project.id}
    assert "Nothing is deleted yet:" in response.content.decode()


def test_audit_entries_are_written_only_on_confirmation(owner_client, organization, project):
    owner_client.post(deletion_url(organization), form_data(project))
    assert AuditEntry.objects.count() == 0

    owner_client.post(preview_url(RequestDraft.objects.get()), {"confirm": "on"})

    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["submitted"]
