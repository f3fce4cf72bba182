"""The GDPR API as existing Mixpanel GDPR clients use it (issue 7), against a live server: a real
`runserver` and a real `rqworker` on the PostgreSQL test database and a redis-server of the
test's own, with the local settings (DEBUG off) and the default rate limits.

The client below is written the way public clients of Mixpanel's GDPR API v3 are (see
docs/design.md, section 6): plain `requests`, `json=` bodies, `?token=` and a Bearer token,
`status == "ok"` and `results.task_id` read from the answer, the status polled with a trailing
slash for retrievals and without one for deletions, `results.result` stripped of whitespace and
quotes and fetched with no auth header, the package opened with `zipfile` and the API secret as
password. The data is sent with the official `mixpanel` SDK, as an app would.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from datetime import UTC

import mixpanel
import pytest
import requests

from projects.models import Event, IdentityLink, Profile
from tests.e2e.conftest import poll_until, unused_port

pytestmark = pytest.mark.e2e

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"
FINISH_TIMEOUT = 60
HTTP_TIMEOUT = 10
OWNER = "owner@acme.test"
SDK_CONSUMER = mixpanel.Consumer


@pytest.fixture
def stack(database_url, redis_server, spawn, tmp_path):
    """A web server and a worker on the test database and the test's Redis."""
    (tmp_path / "media").mkdir()
    port = unused_port()  # not free_port: the test's redis-server holds that one
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
    )
    env.pop("PRIVACY_API_RATE_CREATE", None)  # Mixpanel's limits, the defaults
    env.pop("PRIVACY_API_RATE_READ", None)
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    worker = spawn("rqworker", "default", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    worker.wait_for_line(r"Listening on", timeout=30)

    def createorg(project: str) -> dict:
        command = spawn(
            "createorg", "--org", "Acme", "--owner", OWNER, "--project", project, "--json", env=env
        )
        assert command.wait(timeout=60) == 0, command.output()
        return json.loads(command.lines[-1])

    return {"base_url": base_url, "web": web, "worker": worker, "createorg": createorg}


class GdprClient:
    """A GDPR API v3 client as the public ones are written: only `requests` and the wire."""

    def __init__(self, base_url: str, *, project_token: str, gdpr_token: str):
        self.base_url = base_url
        self.project_token = project_token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {gdpr_token}"

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        """One call; on 429 it waits as Retry-After says and tries again, as clients do under
        Mixpanel's 1 request a second."""
        for _ in range(10):
            response = self.session.request(
                method,
                self.base_url + path,
                params={"token": self.project_token},
                timeout=HTTP_TIMEOUT,
                **kwargs,
            )
            if response.status_code != 429:
                return response
            time.sleep(int(response.headers["Retry-After"]))
        pytest.fail(f"{method} {path}: still 429 after 10 tries")

    def create(self, path: str, body: dict) -> str:
        response = self._call("POST", path, json=body)
        assert response.status_code == 201, response.text
        payload = response.json()
        assert payload["status"] == "ok", payload
        return payload["results"]["task_id"]

    def status(self, path: str) -> dict:
        response = self._call("GET", path)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload["status"] == "ok", payload
        return payload["results"]

    def wait(self, path: str) -> dict:
        """Polls until done, mapping statuses as a public client does: SUCCESS is done, FAILURE
        and REVOKED failed, anything else in progress."""

        def finished():
            results = self.status(path)
            if results["status"] in ("FAILURE", "REVOKED", "NOT_FOUND", "UNKNOWN"):
                pytest.fail(f"{path} ended {results['status']}: {results}")
            return results if results["status"] == "SUCCESS" else None

        return poll_until(
            finished, timeout=FINISH_TIMEOUT, interval=0.25, message=f"{path} never succeeded"
        )

    @staticmethod
    def download(result: str) -> requests.Response:
        url = result.strip().strip("\"'")
        response = requests.get(url, timeout=HTTP_TIMEOUT)  # no auth header: a bearer link
        assert response.status_code == 200, (url, response.status_code, response.text)
        return response


def consumer_for(base_url: str) -> mixpanel.Consumer:
    return SDK_CONSUMER(
        events_url=f"{base_url}/track",
        people_url=f"{base_url}/engage",
        groups_url=f"{base_url}/groups",
        import_url=f"{base_url}/import",
        retry_limit=0,
    )


def sent_event(sdk, distinct_id, name, when, insert_id, properties=None) -> dict:
    """Tracks an event and returns its line in an export, as Mixpanel's raw export writes it:
    what the SDK sent is stored but token, time, distinct_id and $insert_id, which are columns;
    under the simplified ID merge the distinct_id is the $user_id, else $device:<$device_id>."""
    properties = dict(properties or {})
    sdk.track(distinct_id, name, {**properties, "time": when, "$insert_id": insert_id})
    if "$user_id" in properties:
        distinct_id = properties["$user_id"]
    elif distinct_id is None:
        distinct_id = f"$device:{properties['$device_id']}"
    return {
        "event": name,
        "properties": {
            "time": when,
            "distinct_id": distinct_id,
            "$insert_id": insert_id,
            **properties,
            "mp_lib": "python",
            "$lib_version": mixpanel.__version__,
        },
    }


@pytest.fixture
def acme(stack, monkeypatch):
    """Acme's two projects, their secrets from `createorg --json`, and end users sent through
    the official SDK. Alice of the web project has an alias (her email), a phone linked to her
    and an event imported with the API secret; bob, "Alice" (ids are case-sensitive) and the
    mobile project's alice are other people."""
    base_url = stack["base_url"]
    mobile = stack["createorg"]("Mobile")
    web = stack["createorg"]("Web")  # last: each run issues the owner a new GDPR token
    now = int(time.time())
    web_sdk = mixpanel.Mixpanel(web["project_token"], consumer=consumer_for(base_url))

    expected = [
        sent_event(web_sdk, "alice", "Signed up", now - 600, "a-1", {"plan": "pro"}),
        sent_event(web_sdk, "alice", "Viewed page", now - 500, "a-2", {"page": "/pricing"}),
        # Her phone before she logs in on it, then the event that links the two.
        sent_event(web_sdk, None, "App opened", now - 400, "a-3", {"$device_id": "phone-1"}),
        sent_event(
            web_sdk,
            None,
            "Logged in",
            now - 300,
            "a-4",
            {"$device_id": "phone-1", "$user_id": "alice"},
        ),
    ]
    # alias() builds its own Consumer(): point that one at the live server too.
    monkeypatch.setattr(mixpanel, "Consumer", lambda *args, **kwargs: consumer_for(base_url))
    web_sdk.alias("alice@example.com", "alice")
    monkeypatch.setattr(mixpanel, "Consumer", SDK_CONSUMER)
    expected.append(
        sent_event(web_sdk, "alice@example.com", "Opened email", now - 200, "a-5", {"n": 1})
    )
    thirty_days_ago = now - 30 * 24 * 3600
    web_sdk.import_data(
        None,
        "alice",
        "Purchased",
        thirty_days_ago,
        {"amount": 12.5, "$insert_id": "a-0"},
        api_secret=web["api_secret"],
    )
    expected.insert(
        0,
        {
            "event": "Purchased",
            "properties": {
                "time": thirty_days_ago,
                "distinct_id": "alice",
                "$insert_id": "a-0",
                "amount": 12.5,
                "mp_lib": "python",
                "$lib_version": mixpanel.__version__,
            },
        },
    )
    web_sdk.people_set("alice", {"$email": "alice@example.com", "plan": "pro"})

    sent_event(web_sdk, "bob", "Signed up", now - 100, "b-1")
    web_sdk.people_set("bob", {"plan": "team"})
    sent_event(web_sdk, "Alice", "Signed up", now - 90, "c-1")
    mobile_sdk = mixpanel.Mixpanel(mobile["project_token"], consumer=consumer_for(base_url))
    sent_event(mobile_sdk, "alice", "Signed up", now - 80, "m-1")
    mobile_sdk.people_set("alice", {"plan": "free"})

    # By distinct_id in code-point order, then time: the order of events.jsonl.
    expected.sort(key=lambda line: (line["properties"]["distinct_id"], line["properties"]["time"]))
    return {"web": web, "mobile": mobile, "expected_events": expected}


def test_a_mixpanel_style_client_exports_and_then_deletes_a_user_with_linked_ids(stack, acme):
    web = acme["web"]
    client = GdprClient(
        stack["base_url"], project_token=web["project_token"], gdpr_token=web["gdpr_token"]
    )
    cluster = ["$device:phone-1", "alice", "alice@example.com"]

    # Export, asked for by the alias: the whole identity cluster is exported.
    task_id = client.create(RETRIEVALS, {"distinct_ids": ["alice@example.com"]})
    results = client.wait(f"{RETRIEVALS}{task_id}/")
    assert results["distinct_ids"] == ["alice@example.com"]
    download = client.download(results["result"])
    assert download.headers["Content-Type"] == "application/zip"
    assert download.headers["Content-Disposition"] == f'attachment; filename="{task_id}.zip"'
    assert download.headers["Cache-Control"] == "no-store"

    secret = web["api_secret"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as package:
        assert sorted(package.namelist()) == [
            "README.txt",
            "events.jsonl",
            "identities.json",
            "identity_evidence.json",
            "manifest.json",
            "profiles.json",
        ]
        files = {name: package.read(name, pwd=secret.encode()) for name in package.namelist()}
    events = [json.loads(line) for line in files["events.jsonl"].decode().splitlines()]
    assert events == acme["expected_events"]
    assert json.loads(files["profiles.json"]) == [
        {"$distinct_id": "alice", "$properties": {"$email": "alice@example.com", "plan": "pro"}}
    ]
    linked_at = {
        link.distinct_id: link.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for link in IdentityLink.objects.filter(project_id=web["project_id"])
    }
    # Both links came through /track with the public token, as the SDK sends them.
    assert json.loads(files["identities.json"]) == [
        {
            "distinct_id": distinct_id,
            "canonical_id": "alice",
            "kind": kind,
            "linked_at": linked_at[distinct_id],
            "authenticated": False,
            "endpoint": "track",
        }
        for distinct_id, kind in (("$device:phone-1", "device"), ("alice@example.com", "alias"))
    ]
    assert [
        (record["distinct_id"], record["outcome"], record["authenticated"])
        for record in json.loads(files["identity_evidence.json"])
    ] == [("$device:phone-1", "formed", False), ("alice@example.com", "formed", False)]
    manifest = json.loads(files["manifest.json"])
    assert manifest["request"]["tracking_id"] == task_id
    assert (manifest["request"]["kind"], manifest["request"]["compliance"]) == ("export", "GDPR")
    assert manifest["subjects"] == {
        "given": ["alice@example.com"],
        "linked": ["$device:phone-1", "alice"],
    }
    assert manifest["not_found"] == []
    assert manifest["counts"] == {
        "events": 6,
        "profiles": 1,
        "identities": 2,
        "identity_evidence": 2,
    }
    assert [(note["distinct_id"], note["via"]) for note in manifest["how_linked"]] == [
        ("alice@example.com", "given"),
        ("$device:phone-1", "linked"),
        ("alice", "linked"),
    ]
    for name in ("events.jsonl", "profiles.json", "identities.json", "README.txt"):
        assert manifest["files"][name] == {
            "sha256": hashlib.sha256(files[name]).hexdigest(),
            "bytes": len(files[name]),
        }
    for other in (b'"bob"', b'"Alice"', b"m-1", b"team", b"free"):
        assert not any(other in content for content in files.values()), other
    export_url = results["result"].strip()

    # Deletion, asked for by the canonical id; its status polled without a trailing slash.
    web_project = web["project_id"]
    before = {
        "events": Event.objects.filter(project_id=web_project, distinct_id__in=cluster).count(),
        "others": sorted(
            Event.objects.exclude(project_id=web_project, distinct_id__in=cluster).values_list(
                "project_id", "distinct_id", "insert_id"
            )
        ),
    }
    assert before["events"] == 6
    task_id = client.create(DELETIONS, {"distinct_ids": ["alice"], "compliance_type": "gdpr"})
    results = client.wait(f"{DELETIONS}{task_id}")
    assert {key: value for key, value in results.items() if key != "result"} == {
        "status": "SUCCESS",
        "distinct_ids": ["alice"],
        "reached_distinct_ids": ["alice", "$device:phone-1", "alice@example.com"],
        "tracking_id": task_id,
        "requesting_user": OWNER,
        "compliance_type": "GDPR",
        "project_id": web_project,
        "date_requested": results["date_requested"],
    }

    assert not Event.objects.filter(project_id=web_project, distinct_id__in=cluster).exists()
    assert not Profile.objects.filter(project_id=web_project, distinct_id__in=cluster).exists()
    assert not IdentityLink.objects.filter(project_id=web_project).exists()
    assert (
        sorted(Event.objects.values_list("project_id", "distinct_id", "insert_id"))
        == before["others"]
    )
    assert sorted(Profile.objects.values_list("project_id", "distinct_id")) == sorted(
        [(web_project, "bob"), (acme["mobile"]["project_id"], "alice")]
    )

    receipt_download = client.download(results["result"])
    assert receipt_download.headers["Content-Type"] == "application/json"
    receipt = receipt_download.json()
    assert receipt["request"]["tracking_id"] == task_id
    assert (receipt["request"]["kind"], receipt["request"]["compliance"]) == ("deletion", "GDPR")
    assert receipt["legal_basis"] == "GDPR Art. 17 (right to erasure)"
    assert receipt["rows_removed"] == {
        "events": 6,
        "profiles": 1,
        "identities": 2,
        "identity_evidence": 2,
        "export_files": 1,
    }
    salt = receipt["subjects"]["receipt_salt"]

    def hashed(distinct_id: str) -> str:
        return hashlib.sha256((salt + distinct_id).encode()).hexdigest()

    assert receipt["subjects"]["given"] == [hashed("alice")]
    assert receipt["subjects"]["linked"] == sorted(
        [hashed("$device:phone-1"), hashed("alice@example.com")]
    )
    assert receipt["subjects"]["not_found"] == []
    for distinct_id in cluster:
        assert json.dumps(distinct_id)[1:-1] not in receipt_download.text

    # The export of the deleted user went with them.
    assert requests.get(export_url, timeout=HTTP_TIMEOUT).status_code == 410


def test_curl_sending_json_without_a_content_type_is_understood(stack, acme):
    """Mixpanel's curl example: `-d '<json>'` with no Content-Type, which curl labels
    application/x-www-form-urlencoded."""
    web = acme["web"]
    body = '{"distinct_ids": ["bob"], "compliance_type": "ccpa", "disclosure_type": "sources"}'
    url = f"{stack['base_url']}{RETRIEVALS}?token={web['project_token']}"
    if shutil.which("curl"):
        curl = subprocess.run(
            [
                "curl",
                "--silent",
                "--show-error",
                "--verbose",
                "--max-time",
                str(HTTP_TIMEOUT),
                "--write-out",
                "\n%{http_code}",
                "--request",
                "POST",
                url,
                "--header",
                f"Authorization: Bearer {web['gdpr_token']}",
                "--data",
                body,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        # What curl labelled the body, from its --verbose trace of the request headers.
        assert "> Content-Type: application/x-www-form-urlencoded" in curl.stderr, curl.stderr
        text, status = curl.stdout.rsplit("\n", 1)
        payload = json.loads(text)
    else:  # requests with data= sends the same bytes, labelled the same way
        response = requests.post(
            url,
            data=body,
            timeout=HTTP_TIMEOUT,
            headers={
                "Authorization": f"Bearer {web['gdpr_token']}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        status, payload = str(response.status_code), response.json()

    assert status == "201", payload
    assert payload == {"status": "ok", "results": {"task_id": payload["results"]["task_id"]}}
    client = GdprClient(
        stack["base_url"], project_token=web["project_token"], gdpr_token=web["gdpr_token"]
    )
    results = client.wait(f"{RETRIEVALS}{payload['results']['task_id']}/")
    assert results["distinct_ids"] == ["bob"]
    with zipfile.ZipFile(io.BytesIO(client.download(results["result"]).content)) as package:
        manifest = json.loads(package.read("manifest.json"))
        sources = json.loads(package.read("sources.json"))
    assert (manifest["request"]["compliance"], manifest["request"]["disclosure"]) == (
        "CCPA",
        "Sources",
    )
    assert manifest["counts"]["events"] == 1
    assert [(source["source"], source["count"]) for source in sources] == [
        (f"track/python {mixpanel.__version__}", 1)
    ]
