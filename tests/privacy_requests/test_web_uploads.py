"""What the CSV upload pages read of a POST, and when (issue 15, finding 3): nothing before the
session shows an owner or admin of the organization; then at most the CSV's limit, one
`csv_file` part and the form's small fields; anything else is a clear 4xx, never a 500. Every
other page keeps nothing of an uploaded file. The memory of a real server under the same
attack is measured in tests/e2e/test_upload_memory.py."""

from http import HTTPStatus

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from accounts.models import Role
from privacy_requests.models import PrivacyRequest, RequestDraft
from privacy_requests.web.csv_upload import MAX_CSV_BYTES, MAX_UPLOAD_BYTES
from tests.factories import MembershipFactory
from tests.privacy_requests.web_support import deletion_url, export_url, snapshot

pytestmark = pytest.mark.django_db


class UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the request body was read")

    readline = read


def multipart(fields: dict, files: list[tuple[str, bytes]]) -> bytes:
    """A multipart/form-data body with the fields and (field name, content) file parts."""
    body = encode_multipart(BOUNDARY, fields)
    parts = b"".join(
        (
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="ids.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
        for name, content in files
    )
    closing = f"--{BOUNDARY}--\r\n".encode()
    return body.removesuffix(closing) + parts + closing


def csv_fields(project) -> dict:
    return {"compliance": "GDPR", "project": project.id, "ids_from": "csv", "distinct_id": ""}


def post_unreadable(client: Client, url: str, *, length: int):
    return client.generic(
        "POST",
        url,
        b"",
        **{
            "wsgi.input": UnreadableBody(),
            "CONTENT_LENGTH": str(length),
            "CONTENT_TYPE": MULTIPART_CONTENT,
        },
    )


@pytest.fixture
def as_user():
    """A client whose requests are checked for CSRF as a real server's are (the test client's
    default skips the check, and with it the CSRF middleware's reading of the body)."""

    def sign_in(user=None):
        client = Client(enforce_csrf_checks=True)
        # Any well-formed cookie makes the CSRF check read the token from the body: an attacker
        # sets their own.
        client.cookies[settings.CSRF_COOKIE_NAME] = "a" * 32
        if user is not None:
            client.force_login(user)
        return client

    return sign_in


@pytest.mark.parametrize("url_of", [export_url, deletion_url], ids=["export", "deletion"])
@pytest.mark.parametrize("who", ["signed_out", "member", "outsider"])
def test_who_may_not_post_is_answered_before_the_body_is_read(
    as_user, organization, project, member, outsider, url_of, who
):
    client = as_user({"signed_out": None, "member": member, "outsider": outsider}[who])
    before = snapshot()

    response = post_unreadable(client, url_of(organization), length=500 * 1024 * 1024)

    expected = {
        "signed_out": HTTPStatus.FOUND,
        "member": HTTPStatus.FORBIDDEN,
        "outsider": HTTPStatus.NOT_FOUND,
    }[who]
    assert response.status_code == expected
    if who == "signed_out":
        assert response["Location"] == f"/accounts/login/?next={url_of(organization)}"
    assert snapshot() == before


@pytest.mark.parametrize("url_of", [export_url, deletion_url], ids=["export", "deletion"])
def test_an_owners_upload_over_the_limit_is_413_unread(
    as_user, organization, project, owner, url_of
):
    client = as_user(owner)
    before = snapshot()

    response = post_unreadable(client, url_of(organization), length=MAX_UPLOAD_BYTES + 1)

    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.context["upload_error"] == (
        "The upload is 5.1 MiB; a CSV file may be at most 5 MiB. Split it into smaller files. "
        "Nothing was submitted."
    )
    assert "The upload is 5.1 MiB" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize(
    "files",
    [
        [("csv_file", b"alice\n"), ("other", b"bob\n")],
        [("other", b"bob\n")],
        [("csv_file", b"alice\n"), ("csv_file", b"bob\n")],
    ],
    ids=["another-part-too", "another-part-only", "two-csv-files"],
)
def test_an_upload_with_any_file_part_but_one_csv_file_is_400(
    as_user, organization, project, owner, files
):
    client = as_user(owner)
    before = snapshot()

    response = client.generic(
        "POST",
        export_url(organization),
        multipart(csv_fields(project), files),
        content_type=MULTIPART_CONTENT,
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.context["upload_error"] == (
        "This form takes one file, in the “csv_file” field: the upload holds another one. "
        "Nothing was submitted."
    )
    assert snapshot() == before


def test_many_small_file_parts_are_refused_at_the_second(client, organization, project, owner):
    client.force_login(owner)
    files = [("csv_file", b"alice\n")] + [(f"f{n}", b"x" * 1000) for n in range(50)]

    response = client.generic(
        "POST",
        deletion_url(organization),
        multipart(csv_fields(project), files),
        content_type=MULTIPART_CONTENT,
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not PrivacyRequest.objects.exists()


def test_a_broken_multipart_body_is_400(as_user, organization, owner):
    client = as_user(owner)

    response = client.generic(
        "POST", export_url(organization), b"garbage", content_type="multipart/form-data"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.context["upload_error"] == (
        "The form could not be read (Invalid boundary in multipart: None). Nothing was submitted."
    )


def test_a_csv_of_5_mib_within_the_whole_limit_is_still_read(client, organization, project, owner):
    client.force_login(owner)
    content = b"alice\n" + b"\n" * (MAX_CSV_BYTES - 6)
    body = multipart(csv_fields(project), [("csv_file", content)])
    assert len(body) <= MAX_UPLOAD_BYTES

    response = client.generic(
        "POST", export_url(organization), body, content_type=MULTIPART_CONTENT
    )

    assert response.status_code == HTTPStatus.FOUND
    assert RequestDraft.objects.get().distinct_ids == ["alice"]


def test_the_upload_form_still_needs_a_csrf_token(organization, project, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = snapshot()

    response = client.generic(
        "POST",
        export_url(organization),
        multipart(csv_fields(project), [("csv_file", b"alice\n")]),
        content_type=MULTIPART_CONTENT,
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert snapshot() == before


def test_an_admin_of_the_organization_may_upload(client, organization, project):
    client.force_login(MembershipFactory(organization=organization, role=Role.ADMIN).user)

    response = client.generic(
        "POST",
        export_url(organization),
        multipart(csv_fields(project), [("csv_file", b"alice\nbob\n")]),
        content_type=MULTIPART_CONTENT,
    )

    assert response.status_code == HTTPStatus.FOUND
    assert RequestDraft.objects.get().distinct_ids == ["alice", "bob"]


def test_other_pages_keep_nothing_of_an_uploaded_file():
    assert settings.FILE_UPLOAD_HANDLERS == ["config.uploads.DiscardFileUploadHandler"]
    request = RequestFactory().generic(
        "POST",
        "/accounts/login/",
        multipart({"login": "a@example.com"}, [("file", b"x" * 3_000_000)] * 3),
        content_type=MULTIPART_CONTENT,
    )

    assert request.POST.dict() == {"login": "a@example.com"}
    assert request.FILES.dict() == {}
