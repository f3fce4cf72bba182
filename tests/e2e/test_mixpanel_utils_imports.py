"""Mixpanel's own bulk tool, `mixpanel-utils` 2.2.7, unmodified, importing through gunicorn on
the PostgreSQL test database with the project's API secret (issue 13): `import_events` of
2,001 events (two batches of at most 2,000, as it sends them) and `import_people`.

It is pointed at the server the way a user would, through its `import_api` and
`formatted_api` attributes. It logs failures instead of raising, so the stored rows decide.
"""

import json
import os
import sys
import time

import pytest
from mixpanel_utils import MixpanelUtils

from projects.models import Event, Profile
from tests.e2e.conftest import unused_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database_url, spawn, tmp_path, monkeypatch):
    """gunicorn, as deployed, on the test database; and a project made by `createorg`."""
    port = unused_port()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="0",
        DATABASE_URL=database_url,
        VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    web = spawn(env=env, command=[*command, "config.wsgi:application"])
    web.wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
    createorg = spawn(
        "createorg", "--org", "Acme", "--owner", "owner@acme.test", "--project", "Web", "--json",
        env=env,
    )  # fmt: skip
    assert createorg.wait(timeout=60) == 0, createorg.output()
    work = tmp_path / "client"
    work.mkdir()
    monkeypatch.chdir(work)  # where mixpanel-utils would write its failure dumps
    return {"base_url": f"http://127.0.0.1:{port}", **json.loads(createorg.lines[-1])}


def utils(server) -> MixpanelUtils:
    client = MixpanelUtils(
        server["api_secret"], token=server["project_token"], timeout=30, pool_size=2
    )
    client.import_api = server["base_url"]
    client.formatted_api = f"{server['base_url']}/api"
    return client


def test_import_events_stores_2001_events_sent_in_two_batches(server):
    now = int(time.time())
    events = [
        {
            "event": "Purchase" if number % 3 == 0 else "Viewed page",
            "properties": {
                "distinct_id": f"user-{number % 40}",
                "time": now - 86_400 - number,
                "$insert_id": f"import-{number:05}",
                "amount": number,
            },
        }
        for number in range(2001)
    ]

    utils(server).import_events(events, timezone_offset=0)

    stored = Event.objects.filter(project_id=server["project_id"])
    assert stored.count() == 2001
    assert sorted(stored.values_list("insert_id", flat=True)) == [
        f"import-{number:05}" for number in range(2001)
    ]
    assert stored.get(insert_id="import-00300").properties == {"amount": 300}
    assert not os.path.exists("import_backup.txt")


def test_import_people_stores_each_profile(server):
    profiles = [
        {"$distinct_id": f"person-{number}", "$properties": {"$email": f"p{number}@x.test"}}
        for number in range(120)
    ]

    utils(server).import_people(profiles)

    stored = dict(
        Profile.objects.filter(project_id=server["project_id"]).values_list(
            "distinct_id", "properties"
        )
    )
    assert stored == {f"person-{number}": {"$email": f"p{number}@x.test"} for number in range(120)}
