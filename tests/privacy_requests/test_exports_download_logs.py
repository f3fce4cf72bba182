"""A download link is a bearer credential: failed downloads are logged by tracking id and
status, never with the signature (issue 15, finding 6). Django's `django.request` logs every
4xx and 5xx with the request's path, which for a download is the whole link."""

import logging
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.core.files.storage import storages
from django.utils import timezone

from privacy_requests.exports.downloads import export_download_url
from privacy_requests.exports.files import export_file_purge
from privacy_requests.models import Status
from projects.models import Event
from tests.privacy_requests.export_support import T0, reload

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
    Event.objects.create(
        project=project,
        distinct_id="alice",
        name="Page View",
        time=T0,
        insert_id="a-0",
        ingested_at=timezone.now(),
    )
    request = reload(submit(distinct_ids=["alice"], run=True))
    assert request.status == Status.SUCCESS, request.error
    return request


def signature_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def logged(caplog) -> list[tuple[str, int, str]]:
    return [(record.name, record.levelno, record.getMessage()) for record in caplog.records]


def test_a_tampered_link_is_logged_as_not_found_without_its_signature(export, client, caplog):
    link = export_download_url(export)
    tampered = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    caplog.set_level(logging.INFO)

    response = client.get(tampered)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert logged(caplog) == [
        (
            "django.request",
            logging.WARNING,
            f"Not Found: /downloads/{export.tracking_id}/[redacted]/",
        )
    ]
    assert signature_of(tampered) not in caplog.text
    assert signature_of(tampered)[:-3] not in caplog.text


def test_an_expired_link_is_logged_without_its_signature(export, client, caplog):
    link = export_download_url(export)
    caplog.set_level(logging.INFO)

    with time_machine.travel(export.result_expires_at + timedelta(seconds=5)):
        response = client.get(link)

    assert response.status_code == HTTPStatus.GONE
    assert logged(caplog) == [
        ("django.request", logging.WARNING, f"Gone: /downloads/{export.tracking_id}/[redacted]/")
    ]
    assert signature_of(link) not in caplog.text


def test_a_live_link_to_a_purged_file_is_logged_as_gone_without_its_signature(
    export, client, caplog
):
    link = export_download_url(export)
    export_file_purge(export, actor="system", reason="test")
    caplog.set_level(logging.INFO)

    response = client.get(link)

    assert response.status_code == HTTPStatus.GONE
    assert logged(caplog) == [
        ("django.request", logging.WARNING, f"Gone: /downloads/{export.tracking_id}/[redacted]/")
    ]
    assert signature_of(link) not in caplog.text


def test_a_storage_failure_is_logged_with_the_tracking_id_not_the_link(
    export, client, caplog, monkeypatch
):
    link = export_download_url(export)

    def unreadable(name, mode="rb"):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(storages["private"], "open", unreadable)
    caplog.set_level(logging.INFO)

    response = client.get(link)

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert logged(caplog) == [
        (
            "privacy_requests.exports.downloads",
            logging.ERROR,
            f"Private storage failed to serve the file of {export.tracking_id}.",
        ),
        (
            "django.request",
            logging.ERROR,
            f"Service Unavailable: /downloads/{export.tracking_id}/[redacted]/",
        ),
    ]
    assert signature_of(link) not in caplog.text
