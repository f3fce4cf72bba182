"""Credentials as Mixpanel's own clients send them (issue 13), against a live server: a real
`runserver` and `rqworker` on the PostgreSQL test database and a redis-server of the test's own.

An owner creates a service account on the web page, as a person would (signed in, the form,
the secret read off the page shown once). Then, unmodified: the documented /import body with
only the project's API secret; the same body with the service account and `?project_id=`; the
official SDK's `ServiceAccountCredentials`; `mixpanel-utils` 2.2.7 in service-account mode
importing 2,001 events (it logs errors instead of raising, so the stored rows are what count);
the GDPR API with `Authorization: Basic`. Revoked on the page, the account stops at once.
"""

import io
import json
import logging
import os
import re
import time
import zipfile

import mixpanel
import pytest
import requests
from mixpanel_utils import MixpanelUtils

from privacy_requests.models import PrivacyRequest
from projects.models import Event
from tests.e2e.conftest import poll_until, unused_port

pytestmark = pytest.mark.e2e

HTTP_TIMEOUT = 10
OWNER = "owner@acme.test"
PASSWORD = "correct-horse-battery-staple"
RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DOCUMENTED_BODY = """[
  {"event": "Signup", "properties": {"time": 1618716477000,"distinct_id": "91304156-cafc-4673-a237-623d1129c801","$insert_id": "29fc2962-6d9c-455d-95ad-95b84f09b9e4","Referred by": "Friend","URL": "mixpanel.com/signup"}},
  {"event": "Purchase", "properties": {"time": 1618716477000,"distinct_id": "91304156-cafc-4673-a237-623d1129c801","$insert_id": "935d87b1-00cd-41b7-be34-b9d98dd08b42","Item": "Coffee", "Amount": 5.0}}
]"""  # noqa: E501
DOCUMENTED_USER = "91304156-cafc-4673-a237-623d1129c801"


@pytest.fixture
def stack(database_url, redis_server, spawn, tmp_path):
    (tmp_path / "media").mkdir()
    port = unused_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PRIVACY_STORAGE="local",
        PRIVACY_SWEEP_INTERVAL="3600",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        SITE_URL=base_url,
        PYTHONUNBUFFERED="1",
        PRIVACY_API_RATE_CREATE="100/s",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    worker = spawn("rqworker", "default", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    worker.wait_for_line(r"Listening on", timeout=30)

    def createorg(project: str) -> dict:
        command = spawn(
            "createorg",
            "--org",
            "Acme",
            "--owner",
            OWNER,
            "--password",
            PASSWORD,
            "--project",
            project,
            "--json",
            env=env,
        )
        assert command.wait(timeout=60) == 0, command.output()
        return json.loads(command.lines[-1])

    return {"base_url": base_url, "createorg": createorg}


def _csrf(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _service_account_created_on_the_page(http, base_url, *, organization_id, project_ids):
    """Signs in as the owner and creates an admin service account granted the projects."""
    landed = http.sign_in(base_url, email=OWNER, password=PASSWORD)
    assert landed.status == 200, landed
    page_url = f"{base_url}/orgs/{organization_id}/service-accounts/"
    page = http.get(page_url)
    assert page.status == 200, page
    created = http.post(
        page_url,
        {
            "csrfmiddlewaretoken": _csrf(page.text),
            "name": "Privacy platform",
            "role": "admin",
            "projects": [str(project_id) for project_id in project_ids],
            "expires_in": "",
        },
    )
    assert created.status == 200, created
    username = re.search(r'id="service-account-username">([^<]+)<', created.text).group(1)
    secret = re.search(r'id="service-account-secret">([^<]+)<', created.text).group(1)
    return username, secret, page_url


def _stored(project_id: int) -> list[tuple]:
    return sorted(
        Event.objects.filter(project_id=project_id).values_list("distinct_id", "name", "insert_id")
    )


def test_service_accounts_and_the_secret_alone_work_with_mixpanels_clients(
    stack, http, tmp_path, monkeypatch, caplog
):
    base_url = stack["base_url"]
    mobile = stack["createorg"]("Mobile")
    web = stack["createorg"]("Web")
    username, secret, page_url = _service_account_created_on_the_page(
        http,
        base_url,
        organization_id=web["organization_id"],
        project_ids=[web["project_id"], mobile["project_id"]],
    )
    documented = [
        (DOCUMENTED_USER, "Purchase", "935d87b1-00cd-41b7-be34-b9d98dd08b42"),
        (DOCUMENTED_USER, "Signup", "29fc2962-6d9c-455d-95ad-95b84f09b9e4"),
    ]

    # The documentation's own body, with only the project's API secret: no token, no project_id.
    by_secret = requests.post(
        f"{base_url}/import?strict=1",
        data=DOCUMENTED_BODY,
        headers={"Content-Type": "application/json"},
        auth=(web["api_secret"], ""),
        timeout=HTTP_TIMEOUT,
    )
    assert by_secret.status_code == 200, by_secret.text
    assert by_secret.json() == {"code": 200, "num_records_imported": 2, "status": "OK"}
    assert _stored(web["project_id"]) == documented

    # The same body with the service account, into the project named by ?project_id=.
    by_account = requests.post(
        f"{base_url}/import?strict=1&project_id={mobile['project_id']}",
        data=DOCUMENTED_BODY,
        headers={"Content-Type": "application/json"},
        auth=(username, secret),
        timeout=HTTP_TIMEOUT,
    )
    assert by_account.status_code == 200, by_account.text
    assert _stored(mobile["project_id"]) == documented

    # The official SDK with ServiceAccountCredentials (Basic user:secret and ?project_id=).
    credentials = mixpanel.ServiceAccountCredentials(
        username=username, secret=secret, project_id=str(web["project_id"])
    )
    consumer = mixpanel.Consumer(
        events_url=f"{base_url}/track",
        people_url=f"{base_url}/engage",
        groups_url=f"{base_url}/groups",
        import_url=f"{base_url}/import",
        retry_limit=0,
        credentials=credentials,
    )
    sdk = mixpanel.Mixpanel(web["project_token"], consumer=consumer)
    thirty_days_ago = int(time.time()) - 30 * 24 * 3600
    sdk.import_data(None, "alice", "Purchased", thirty_days_ago, {"$insert_id": "sdk-1"})
    assert ("alice", "Purchased", "sdk-1") in _stored(web["project_id"])

    # mixpanel-utils in service-account mode, pointed at the server by its import_api attribute;
    # 2,001 events make two batches. It writes its failures to files in the current directory.
    monkeypatch.chdir(tmp_path)
    utils = MixpanelUtils(
        secret,
        token=web["project_token"],
        service_account_username=username,
        project_id=web["project_id"],
        pool_size=2,
    )
    utils.import_api = base_url
    now = int(time.time())
    events = [
        {
            "event": "Backfilled",
            "properties": {
                "time": now - 3600 - n,
                "distinct_id": f"user-{n % 7}",
                "$insert_id": f"utils-{n}",
                "n": n,
            },
        }
        for n in range(2001)
    ]
    with caplog.at_level(logging.WARNING, logger="mixpanel_utils"):
        utils.import_events(events, timezone_offset=0)
    assert Event.objects.filter(project_id=web["project_id"], name="Backfilled").count() == 2001
    assert not (tmp_path / "import_backup.txt").exists()
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []

    # The GDPR API with the admin service account: an export of alice, done by the worker.
    gdpr = requests.Session()
    gdpr.auth = (username, secret)
    created = gdpr.post(
        f"{base_url}{RETRIEVALS}",
        params={"token": web["project_token"]},
        json={"distinct_ids": ["alice"]},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["results"]["task_id"]

    def finished():
        status = gdpr.get(
            f"{base_url}{RETRIEVALS}{task_id}/",
            params={"token": web["project_token"]},
            timeout=HTTP_TIMEOUT,
        ).json()["results"]
        return status if status["status"] == "SUCCESS" else None

    results = poll_until(finished, timeout=60, interval=0.25, message="the export never ended")
    download = requests.get(results["result"].strip(), timeout=HTTP_TIMEOUT)
    with zipfile.ZipFile(io.BytesIO(download.content)) as package:
        lines = package.read("events.jsonl").decode().splitlines()
    assert [json.loads(line)["properties"]["$insert_id"] for line in lines] == ["sdk-1"]
    requested_by = PrivacyRequest.objects.get(tracking_id=task_id).requested_by
    assert requested_by == f"api:service-account:{username}"

    # Revoked on the page: the SDK, mixpanel-utils and the GDPR API are refused at once.
    account_id = re.search(r"/service-accounts/(\d+)/revoke/", http.get(page_url).text).group(1)
    revoke_url = f"{page_url}{account_id}/revoke/"
    confirm = http.get(revoke_url)
    revoked = http.post(revoke_url, {"csrfmiddlewaretoken": _csrf(confirm.text)})
    assert revoked.status == 200 and "was revoked" in revoked.text
    before = Event.objects.count()
    with pytest.raises(mixpanel.MixpanelException):
        sdk.import_data(None, "alice", "Purchased", thirty_days_ago, {"$insert_id": "sdk-2"})
    utils.import_events(events[:5], timezone_offset=0)
    refused = gdpr.post(
        f"{base_url}{RETRIEVALS}",
        params={"token": web["project_token"]},
        json={"distinct_ids": ["bob"]},
        timeout=HTTP_TIMEOUT,
    )
    assert refused.status_code == 401
    assert Event.objects.count() == before
