"""The signed download link of result files (DESIGN section 5.2)."""

import sys
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from privacy_requests.exports.downloads import export_download_url
from privacy_requests.exports.files import export_files_purge_for_subjects
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from projects.models import Event
from tests.privacy_requests.export_support import (
    T0,
    events_of,
    package_entries,
    reload,
    sha256,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }


@pytest.fixture
def export(project, submit, settings):
    settings.PRIVACY_EXPORT_TTL = 3600
    for n in range(3):
        Event.objects.create(
            project=project,
            distinct_id="alice",
            name="Page View",
            time=T0 + timedelta(minutes=n),
            insert_id=f"a-{n}",
            properties={"n": n},
            ingested_at=timezone.now(),
        )
    request = reload(submit(distinct_ids=["alice"], run=True))
    assert request.status == Status.SUCCESS, request.error
    return request


# All a link holder learns of a file that is gone (issue 15, finding 10): not why, nor when.
LINK_GONE = "This link has expired, or the file is no longer available."


def assert_gone_page(response) -> None:
    """410 with the site's page: the one sentence of LINK_GONE and what to do, no more."""
    assert response.status_code == HTTPStatus.GONE
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert "<h1>This download is no longer available</h1>" in page
    assert f"<p>{LINK_GONE}</p>" in page
    assert "ask the organization that sent you the link for a new" in page


def downloads(request) -> int:
    return AuditEntry.objects.filter(request=request, action="downloaded").count()


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_an_api_client_downloads_the_package_with_a_plain_get_and_unzips_it_with_a_password(
    export, client
):
    url = export_download_url(export, absolute_base="https://privacy.example.com/")
    path = f"/downloads/{export.tracking_id}/"
    assert url.startswith("https://privacy.example.com" + path)

    response = client.get(url.removeprefix("https://privacy.example.com"))

    assert response.status_code == HTTPStatus.OK
    data = body(response)
    assert sha256(data) == export.result_sha256
    entries = package_entries(data, pwd=b"secret")
    assert [e["properties"]["$insert_id"] for e in events_of(entries)] == ["a-0", "a-1", "a-2"]


def test_the_download_is_served_as_a_private_attachment(export, client):
    response = client.get(export_download_url(export))

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="{export.tracking_id}.zip"'
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert int(response["Content-Length"]) == export.result_size
    body(response)


def test_local_downloads_work_without_the_s3_extra_installed(export, client, monkeypatch):
    # `make run` installs no boto3: serving a local file must not touch the S3 backend.
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.delitem(sys.modules, "storages.backends.s3", raising=False)

    response = client.get(export_download_url(export))

    assert response.status_code == HTTPStatus.OK
    assert sha256(body(response)) == export.result_sha256


def test_each_download_is_audited_without_any_user_id(export, client):
    url = export_download_url(export)
    body(client.get(url))
    body(client.get(url))

    entries = AuditEntry.objects.filter(request=export, action="downloaded")
    assert [(entry.actor, entry.detail) for entry in entries] == [
        ("link", {"file_version": entry.detail["file_version"], "redirected": False})
        for entry in entries
    ]
    assert entries.count() == 2
    assert len(entries[0].detail["file_version"]) == 16


def test_the_link_is_the_same_each_time_and_signed_in_the_path(export):
    url = export_download_url(export)

    assert url == export_download_url(reload(export))
    assert "?" not in url
    tracking_id, signature = url.strip("/").split("/")[1:]
    assert tracking_id == export.tracking_id
    assert export.result_file not in url


@pytest.mark.parametrize("tamper", ["signature", "tracking_id", "swapped_file"])
def test_a_tampered_link_is_not_found_and_nothing_is_served(export, client, submit, tamper):
    url = export_download_url(export)
    _, _, tracking_id, signature, _ = url.split("/")
    if tamper == "signature":
        url = url.replace(signature, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB"))
    elif tamper == "tracking_id":
        other = reload(submit(distinct_ids=["alice"], run=True))
        url = url.replace(tracking_id, other.tracking_id)
    else:  # the same request with another file: an old link must not reach it
        PrivacyRequest.objects.filter(id=export.id).update(
            result_file=export.result_file.replace(".zip", "-2.zip")
        )

    response = client.get(url)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert b"PK" not in response.content
    assert downloads(export) == 0


def test_an_expired_link_is_gone_with_the_sites_page(export, client):
    url = export_download_url(export)

    with time_machine.travel(export.result_expires_at + timedelta(seconds=1)):
        response = client.get(url)
        assert export_download_url(reload(export)) == ""

    assert_gone_page(response)
    assert response["Cache-Control"] == "no-store"
    assert downloads(export) == 0


def test_a_link_works_until_just_before_expiry(export, client):
    url = export_download_url(export)

    with time_machine.travel(export.result_expires_at - timedelta(seconds=2)):
        response = client.get(url)

    assert response.status_code == HTTPStatus.OK
    body(response)


def test_a_file_that_expired_before_its_link_is_gone(export, client):
    url = export_download_url(export)
    PrivacyRequest.objects.filter(id=export.id).update(
        result_expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = client.get(url)

    assert_gone_page(response)
    assert response["Cache-Control"] == "no-store"
    assert downloads(export) == 0


def test_a_purged_file_is_gone_and_its_link_no_longer_shown(export, client):
    url = export_download_url(export)

    assert (
        export_files_purge_for_subjects(
            project_id=export.project_id,
            distinct_ids=["alice"],
            actor="system",
            reason="deleted by deletion request 123",
        )
        == 1
    )

    response = client.get(url)
    assert_gone_page(response)  # why, and when, are for the owners' pages
    assert "deletion request" not in response.content.decode()
    assert not storages["private"].exists(export.result_file)
    assert export_download_url(reload(export)) == ""
    assert downloads(export) == 0


def test_a_link_to_an_export_purged_by_a_deletion_does_not_tell_of_the_deletion(
    export, submit, client, owner_actor
):
    url = export_download_url(export)
    deletion = reload(submit(distinct_ids=["alice"], kind="deletion", run=True))
    assert deletion.status == Status.SUCCESS, deletion.error
    assert reload(export).result_purge_reason == f"deletion {deletion.tracking_id}"

    response = client.get(url)

    assert_gone_page(response)
    assert response["Cache-Control"] == "no-store"
    # The owners' page keeps the detail.
    client.force_login(owner_actor.user)
    page = client.get(
        reverse("privacy_web:detail", args=[export.organization_id, export.tracking_id])
    ).content.decode()
    when = reload(export).result_purged_at.strftime("%Y-%m-%d %H:%M UTC")
    assert f"This file was deleted on {when}: deletion {deletion.tracking_id}." in page


def test_a_link_to_a_file_missing_from_storage_says_the_same(export, client):
    url = export_download_url(export)
    storages["private"].delete(export.result_file)

    response = client.get(url)

    assert_gone_page(response)


def test_a_request_without_a_file_has_no_link(project, submit):
    pending = submit(distinct_ids=["alice"])

    assert export_download_url(pending) == ""


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_only_get_downloads(export, client, method):
    response = getattr(client, method)(export_download_url(export))

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert downloads(export) == 0


def test_a_deletion_receipt_is_served_as_json_by_the_same_view_and_never_expires_by_ttl(
    project, submit, client, settings
):
    settings.PRIVACY_EXPORT_TTL = 3600
    deletion = submit(distinct_ids=["bob"], kind="deletion")
    name = f"{project.organization_id}/{deletion.tracking_id}/receipt.json"
    storages["private"].save(name, ContentFile(b'{"receipt": true}'))
    PrivacyRequest.objects.filter(id=deletion.id).update(
        status=Status.SUCCESS,
        finished_at=timezone.now() - timedelta(days=30),
        result_file=name,
        result_size=17,
    )

    later = timezone.now() + timedelta(days=60)
    with time_machine.travel(later):
        url = export_download_url(reload(deletion))
        response = client.get(url)

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{deletion.tracking_id}.json"'
    )
    assert body(response) == b'{"receipt": true}'
    with time_machine.travel(later + timedelta(seconds=3601)):
        assert client.get(url).status_code == HTTPStatus.GONE  # the link expires
        assert client.get(export_download_url(reload(deletion))).status_code == HTTPStatus.OK
