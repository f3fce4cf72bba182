"""PostgreSQL restarted while a deletion runs (issue 16, section 1): requests to the web server
during the outage answer 503 with Retry-After (never 500), the worker's job carries on once
the database is back (a retry of the step, or a resume from its saved progress), and the
request ends SUCCESS exactly once, with counts that match what the tables held and a sound
audit chain.

Everything runs against a PostgreSQL cluster of the test's own (initdb in a temporary folder,
pg_ctl on a free port), which the test stops and starts; the machine's server is never
touched. gunicorn and a real rqworker run the local settings (DEBUG off) and a redis-server
of the test's own. The data goes in through /import and the request through the GDPR API.
"""

import json
import os
import re
import shutil
import sys
import time
from http import HTTPStatus

import psycopg
import pytest
import requests
from django.conf import settings

from benchmarks.private_servers import PrivatePostgres, ServerFailed, postgres_bin_dir
from tests.e2e.conftest import poll_until, unused_port

pytestmark = pytest.mark.e2e

DELETIONS = "/api/app/data-deletions/v3.0/"
PEOPLE = 30
EVENTS_EACH = 40
BYSTANDERS = 5
HTTP_TIMEOUT = 20
PASSWORD = "correct-horse-battery-staple"

# Runs in `manage.py shell -c` on the private database: what the request and the tables say.
CHECK_CODE = """
import json, os
from privacy_requests.audit import audit_verify
from privacy_requests.models import AuditEntry, PrivacyRequest
from projects.models import Event, Profile

request = PrivacyRequest.objects.get(tracking_id=os.environ["E2E_TRACKING_ID"])
people = [f"person-{n:02d}" for n in range(int(os.environ["E2E_PEOPLE"]))]
print("CHECK", json.dumps({
    "status": request.status,
    "runs": request.runs,
    "counts": request.counts,
    "actions": list(AuditEntry.objects.filter(request=request).order_by("seq")
                    .values_list("action", flat=True)),
    "events_left": Event.objects.filter(distinct_id__in=people).count(),
    "profiles_left": Profile.objects.filter(distinct_id__in=people).count(),
    "bystander_events": Event.objects.filter(distinct_id__startswith="bystander").count(),
    "audit_broken": audit_verify(organization_id=request.organization_id),
}, default=str))
"""


@pytest.fixture
def private_postgres(spawn):
    if postgres_bin_dir() is None or shutil.which("runuser") is None:
        reason = "PostgreSQL's initdb and pg_ctl are not installed"
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail(f"REQUIRE_E2E=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        server = PrivatePostgres()
        server.start()
        server.create_database("restart")
    except ServerFailed as exc:
        pytest.fail(str(exc))
    yield server
    server.destroy()


@pytest.fixture
def restart_env(private_postgres, redis_server, tmp_path) -> dict[str, str]:
    """Small delete batches with a pause after each, so the deletion runs for a few seconds
    and the test can stop the database in the middle of it."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        PYTHONPATH=str(settings.BASE_DIR),
        DEBUG="0",
        DATABASE_URL=private_postgres.url("restart"),
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
        PRIVACY_SWEEP_INTERVAL="3600",
        PRIVACY_DELETION_BATCH="40",
        PRIVACY_SUBJECT_CHUNK="10",
        PRIVACY_STEP_DELAY_SECONDS="0.1",
        PRIVACY_LEASE_SECONDS="5",
        PRIVACY_API_RATE_CREATE="100/min",
        PRIVACY_API_RATE_READ="1000/min",
        LOG_LEVEL="INFO",
    )
    return env


def request_row(database_url: str, tracking_id: str) -> tuple[str, dict]:
    with psycopg.connect(database_url, connect_timeout=2) as db:
        row = db.execute(
            "SELECT status, progress FROM privacy_requests_privacyrequest WHERE tracking_id = %s",
            [tracking_id],
        ).fetchone()
    return row[0], row[1] or {}


def signed_in(base_url: str, *, email: str) -> requests.Session:
    """A browser's session, signed in through allauth's form."""
    browser = requests.Session()
    browser.headers["Accept"] = "text/html,application/xhtml+xml,*/*;q=0.8"
    form = browser.get(f"{base_url}/accounts/login/", timeout=HTTP_TIMEOUT)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text
    landed = browser.post(
        f"{base_url}/accounts/login/",
        data={"csrfmiddlewaretoken": token[1], "login": email, "password": PASSWORD},
        headers={"Referer": f"{base_url}/accounts/login/"},
        timeout=HTTP_TIMEOUT,
    )
    assert landed.status_code == HTTPStatus.OK and "/accounts/login/" not in landed.url, landed.text
    return browser


def import_events(base_url: str, api_secret: str, records: list[dict]) -> None:
    for start in range(0, len(records), 1000):
        response = requests.post(
            f"{base_url}/import",
            json=records[start : start + 1000],
            auth=(api_secret, ""),
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == HTTPStatus.OK, response.text


def test_postgresql_restarted_mid_deletion_answers_503_and_the_request_ends_once(
    private_postgres, restart_env, spawn
):
    migrate = spawn("migrate", "-v", "0", env=restart_env)
    assert migrate.wait(timeout=120) == 0, migrate.output()
    created = spawn(
        "createorg", "--org", "Acme", "--owner", "owner@acme.test", "--project", "Web",
        "--password", PASSWORD, "--json", env=restart_env,
    )  # fmt: skip
    assert created.wait(timeout=60) == 0, created.output()
    acme = json.loads(created.lines[-1])
    port = unused_port()
    base_url = f"http://127.0.0.1:{port}"
    server = spawn(
        env=restart_env,
        command=[
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--workers", "2", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2",
        ],
    )  # fmt: skip
    worker = spawn("rqworker", "default", env=restart_env)
    server.wait_for_http(f"{base_url}/healthz", timeout=30)

    now = int(time.time())
    records = [
        {"event": "Viewed", "properties": {
            "distinct_id": f"person-{n:02d}", "time": now - 1000 + k,
            "$insert_id": f"p{n}-{k}", "token": acme["project_token"]}}
        for n in range(PEOPLE) for k in range(EVENTS_EACH)
    ] + [
        {"event": "Viewed", "properties": {
            "distinct_id": f"bystander-{n}", "time": now - 500, "$insert_id": f"b{n}",
            "token": acme["project_token"]}}
        for n in range(BYSTANDERS)
    ]  # fmt: skip
    import_events(base_url, acme["api_secret"], records)
    profiles = [
        {"$token": acme["project_token"], "$distinct_id": distinct_id, "$set": {"plan": "pro"}}
        for distinct_id in [f"person-{n:02d}" for n in range(PEOPLE)] + ["bystander-0"]
    ]
    engaged = requests.post(f"{base_url}/engage", json=profiles, timeout=HTTP_TIMEOUT)
    assert (engaged.status_code, engaged.text) == (HTTPStatus.OK, "1")
    person = signed_in(base_url, email="owner@acme.test")

    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {acme['gdpr_token']}"
    query = {"token": acme["project_token"]}
    submitted = api.post(
        f"{base_url}{DELETIONS}",
        params=query,
        json={"distinct_ids": [f"person-{n:02d}" for n in range(PEOPLE)]},
        timeout=HTTP_TIMEOUT,
    )
    assert submitted.status_code == HTTPStatus.CREATED, submitted.text
    tracking_id = submitted.json()["results"]["task_id"]
    database_url = restart_env["DATABASE_URL"]

    def deleting_events():
        status, progress = request_row(database_url, tracking_id)
        events = progress.get("counts", {}).get("events", 0)
        return progress.get("phase") == "events" and events >= PEOPLE * EVENTS_EACH // 4

    poll_until(deleting_events, timeout=30, interval=0.05, message=worker.output)

    private_postgres.stop(mode="fast")  # as an operator's restart: every connection is cut
    during = [
        api.get(f"{base_url}{DELETIONS}{tracking_id}", params=query, timeout=HTTP_TIMEOUT),
        person.get(f"{base_url}/privacy/", timeout=HTTP_TIMEOUT),
        requests.post(f"{base_url}/import", json=records[:1], auth=(acme["api_secret"], ""),
                      timeout=HTTP_TIMEOUT),
    ]  # fmt: skip
    time.sleep(1)
    private_postgres.start()

    for response in during:
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, response.text
        assert response.headers["Retry-After"] == "5"
    assert during[0].json() == {
        "status": "error",
        "error": "The database is unavailable. Try again in a few seconds.",
    }
    assert "The database is unavailable" in during[1].text

    def finished():
        answer = api.get(f"{base_url}{DELETIONS}{tracking_id}", params=query, timeout=20)
        assert answer.status_code == HTTPStatus.OK, answer.text
        status = answer.json()["results"]["status"]
        return status if status in ("SUCCESS", "FAILURE") else None

    assert poll_until(finished, timeout=60, interval=0.25, message=worker.output) == "SUCCESS"
    time.sleep(1)  # anything that would run it a second time has had time to

    check = spawn(
        "shell", "-c", CHECK_CODE,
        env={**restart_env, "E2E_TRACKING_ID": tracking_id, "E2E_PEOPLE": str(PEOPLE)},
    )  # fmt: skip
    assert check.wait(timeout=30) == 0, check.output()
    result = json.loads(check.wait_for_line(r"^CHECK (.*)$", timeout=1).group(1))
    # The outage reached the job, which retried its step and went on in the same run.
    assert "Transient error on " + tracking_id + " (try 1)" in worker.output()
    assert {key: result[key] for key in ("status", "runs", "counts", "actions")} == {
        "status": "SUCCESS",
        "runs": 1,
        "counts": {
            "events": PEOPLE * EVENTS_EACH,
            "profiles": PEOPLE,
            "identities": 0,
            "identity_evidence": 0,
            "export_files": 0,
        },
        "actions": ["submitted", "staged", "started", "deleted", "succeeded"],
    }
    assert (result["events_left"], result["profiles_left"]) == (0, 0)
    assert result["bystander_events"] == BYSTANDERS
    assert result["audit_broken"] is None
    assert "Internal Server Error" not in server.output()
