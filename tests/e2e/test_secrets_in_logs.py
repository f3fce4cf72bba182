"""No secret in the logs of a real run (issue 15, finding 6).

gunicorn as the README runs it in production (`gunicorn -c gunicorn.conf.py config.wsgi`,
production settings), with its access log and its error log on (at debug level, where gunicorn
also logs each request's path), and Django's log on stderr. Through it: `/import` with the
project's API secret as the HTTP Basic user (a right one and a wrong one), the engage query with
an email in its `where`, and signed download links: valid, tampered (404), expired (410), to a
purged file (410) and to a file storage cannot read (503). Then every line of every log is read:
neither the secret, nor any signature, nor the email appears, while each request is still there
with its path and status.
"""

import base64
import json
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import gunicorn
import pytest
import requests
from django.utils import timezone

from accounts.actors import OPERATOR, Actor
from accounts.models import Role
from privacy_requests.exports.downloads import export_download_url
from privacy_requests.exports.files import export_file_purge
from privacy_requests.models import PrivacyRequest, Status
from privacy_requests.services import privacy_request_submit
from projects.services import project_create
from tests.e2e.conftest import unused_port
from tests.factories import EventFactory, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.e2e

HTTP_TIMEOUT = 10
EMAIL = "alice.logged@example.com"
KEYS = ("SECRET_KEY", "PRIVACY_AUDIT_KEY", "PRIVACY_PII_KEY", "PRIVACY_LOOKUP_KEY")


def gunicorn_command() -> list[str]:
    """The `gunicorn` script of this environment, as the README runs it."""
    script = Path(sys.executable).with_name("gunicorn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]


def control_socket_options(directory: Path) -> list[str]:
    """gunicorn 27 opens a control socket, by default in the home directory, which servers
    started at once by other tests would share: this one gets its own."""
    if gunicorn.version_info < (27,):
        return []
    return ["--control-socket", str(directory / "gunicorn.ctl")]


@pytest.fixture
def keys(settings) -> dict[str, str]:
    """Production keys, the same in this process (which signs links and hashes the API
    secret's lookup value) and in the server."""
    values = {name: secrets.token_urlsafe(48) for name in KEYS}
    for name, value in values.items():
        setattr(settings, name, value)
    return values


@pytest.fixture
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root


def export_of(project, owner, distinct_id: str) -> PrivacyRequest:
    EventFactory(project=project, distinct_id=distinct_id)
    # Jobs run in this process (test settings): the package lands in `media`.
    submitted = privacy_request_submit(
        project=project,
        actor=Actor(user=owner, via="web"),
        channel="web",
        kind="export",
        compliance="GDPR",
        distinct_ids=[distinct_id],
    )
    export = PrivacyRequest.objects.get(id=submitted.id)
    assert export.status == Status.SUCCESS, export.error
    return export


def test_gunicorn_and_django_log_no_api_secret_no_signature_and_no_query(
    database_url, keys, media, spawn, tmp_path
):
    organization = OrganizationFactory()
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    project, api_secret = project_create(actor=OPERATOR, organization=organization, name="Web")
    valid, expired, purged, unreadable = (
        export_of(project, owner, f"person-{n}") for n in range(4)
    )
    links = {name: export_download_url(request) for name, request in [
        ("valid", valid), ("expired", expired), ("purged", purged), ("unreadable", unreadable)
    ]}  # fmt: skip
    signatures = {name: link.rstrip("/").rsplit("/", 1)[1] for name, link in links.items()}
    tampered = links["valid"][:-3] + ("A" if links["valid"][-3] != "A" else "B") + "/"
    signatures["tampered"] = tampered.rstrip("/").rsplit("/", 1)[1]
    PrivacyRequest.objects.filter(id=expired.id).update(
        result_expires_at=timezone.now() - timedelta(seconds=1)
    )
    export_file_purge(purged, actor="system", reason="test")
    unreadable_file = media / unreadable.result_file
    unreadable_file.unlink()
    unreadable_file.mkdir()  # storage cannot open it: a 503, as on a storage outage

    port = unused_port()
    base_url = f"http://127.0.0.1:{port}"
    access_log, error_log = tmp_path / "access.log", tmp_path / "error.log"
    env = {
        **os.environ,
        **keys,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "MEDIA_ROOT": str(media),
        "PRIVACY_STORAGE": "local",
        "VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)  # nothing here enqueues a job
    # As the README deploys: the pages a link answers when it is gone (410) or tampered (404)
    # are the site's, whose static files the manifest storage names.
    collect = spawn("collectstatic", "--noinput", "--verbosity", "0", env=env)
    assert collect.wait(timeout=120) == 0, collect.output()
    server = spawn(
        env=env,
        command=[
            *gunicorn_command(),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(access_log),
            "--error-logfile",
            str(error_log),
            "--log-level",
            "debug",
            *control_socket_options(tmp_path),
            "config.wsgi",
        ],
    )
    server.wait_for_http(f"{base_url}/healthz", timeout=60)

    def get(path: str, **options) -> requests.Response:
        return requests.get(base_url + path, timeout=HTTP_TIMEOUT, **options)

    event = {
        "event": "Signup",
        "properties": {"time": 1618716477000, "distinct_id": "u-1", "$insert_id": "i-1"},
    }
    imported = requests.post(
        f"{base_url}/import",
        auth=(api_secret, ""),
        data=json.dumps([event]),
        headers={"Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    wrong_secret = api_secret[:-4] + "zzzz"
    refused = requests.post(
        f"{base_url}/import",
        auth=(wrong_secret, ""),
        data=json.dumps([event]),
        headers={"Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    queried = get(f'/api/2.0/engage?where=properties["$email"]=="{EMAIL}"', auth=(api_secret, ""))
    downloaded = {name: get(link) for name, link in links.items()}
    answers = {name: response.status_code for name, response in downloaded.items()}
    answers["tampered"] = get(tampered).status_code
    server.stop()

    assert imported.status_code == 200, imported.text
    assert refused.status_code == 401
    assert queried.status_code == 200, queried.text
    assert answers == {
        "valid": 200,
        "expired": 410,
        "purged": 410,
        "unreadable": 503,
        "tampered": 404,
    }
    assert len(downloaded["valid"].content) == valid.result_size
    logs = {
        "access": access_log.read_text(),
        "error": error_log.read_text(),
        "stdout and stderr (Django)": server.output(),
    }
    basic = {secret: base64.b64encode(f"{secret}:".encode()).decode()
             for secret in (api_secret, wrong_secret)}  # fmt: skip
    forbidden = {
        "the API secret": api_secret,
        "the wrong API secret": wrong_secret,
        **{f"the Basic header of {s[:6]}…": header for s, header in basic.items()},
        **{f"the {name} link's signature": signature for name, signature in signatures.items()},
        "the email in the engage query": EMAIL,
    }
    for log_name, text in logs.items():
        for what, value in forbidden.items():
            assert value not in text, f"{what} is in the {log_name} log:\n{text}"

    # Still useful: every request is logged, with its path (tracking id included) and status.
    access = logs["access"]
    for line in (
        '"POST /import HTTP/1.1" 200 ',
        '"POST /import HTTP/1.1" 401 ',
        '"GET /api/2.0/engage?[redacted] HTTP/1.1" 200 ',
        f'"GET /downloads/{valid.tracking_id}/[redacted]/ HTTP/1.1" 200 ',
        f'"GET /downloads/{valid.tracking_id}/[redacted]/ HTTP/1.1" 404 ',
        f'"GET /downloads/{expired.tracking_id}/[redacted]/ HTTP/1.1" 410 ',
        f'"GET /downloads/{purged.tracking_id}/[redacted]/ HTTP/1.1" 410 ',
        f'"GET /downloads/{unreadable.tracking_id}/[redacted]/ HTTP/1.1" 503 ',
    ):
        assert line in access, f"{line!r} is not in the access log:\n{access}"
    assert access.startswith("127.0.0.1 - [")  # no user field
    assert f"GET /downloads/{valid.tracking_id}/[redacted]/" in logs["error"]  # debug lines
    django_log = logs["stdout and stderr (Django)"]
    for line in (
        "WARNING django.request: Unauthorized: /import",
        f"WARNING django.request: Not Found: /downloads/{valid.tracking_id}/[redacted]/",
        f"WARNING django.request: Gone: /downloads/{expired.tracking_id}/[redacted]/",
        f"WARNING django.request: Gone: /downloads/{purged.tracking_id}/[redacted]/",
        f"ERROR django.request: Service Unavailable: /downloads/{unreadable.tracking_id}/"
        "[redacted]/",
        f"Private storage failed to serve the file of {unreadable.tracking_id}.",
    ):
        assert line in django_log, f"{line!r} is not in Django's log:\n{django_log}"
