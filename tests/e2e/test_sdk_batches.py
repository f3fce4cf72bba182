"""The official `mixpanel` SDK's BufferedConsumer, unmodified, against gunicorn on the
PostgreSQL test database (issue 13, item 1): a batch of 50 with one bad record drains.

The SDK raises unless an answer's `status` is 1, and then keeps the whole batch and re-sends it
on every later flush, blocking the other endpoints' buffers too. Mixpanel answers 1 when one or
more records are valid; so does this server, naming the refused ones in `failed_records`.
"""

import json
import os
import sys
import time

import mixpanel
import pytest

from projects.models import Event, Profile, RefusedRecordCount
from tests.e2e.conftest import unused_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database_url, spawn, tmp_path):
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
    return {"base_url": f"http://127.0.0.1:{port}", **json.loads(createorg.lines[-1])}


def test_a_buffered_batch_of_50_with_one_bad_record_drains_and_stores_the_49(server):
    base_url = server["base_url"]
    buffered = mixpanel.BufferedConsumer(
        events_url=f"{base_url}/track",
        people_url=f"{base_url}/engage",
        groups_url=f"{base_url}/groups",
        import_url=f"{base_url}/import",
        retry_limit=0,
    )
    client = mixpanel.Mixpanel(server["project_token"], consumer=buffered)
    now = int(time.time())

    # The 50th call of each endpoint flushes its buffer: none raises.
    for number in range(50):
        client.track("anon" if number == 17 else f"user-{number}", "Viewed page", {"n": number})
        client.import_data(
            None, f"imported-{number}", "Purchased", 0 if number == 3 else now - 60 * number,
            {"amount": number}, api_secret=server["api_secret"],
        )  # fmt: skip
    # The next flush succeeds: it carries only what came after, for every endpoint.
    client.track("user-late", "Viewed page", {"n": 50})
    client.people_set("alice", {"plan": "pro"})
    client.people_set("null", {"plan": "pro"})  # a placeholder id, refused
    buffered.flush()
    buffered.flush()  # nothing left to send

    project_id = server["project_id"]
    events = Event.objects.filter(project_id=project_id)
    tracked = set(events.filter(name="Viewed page").values_list("distinct_id", flat=True))
    assert tracked == {f"user-{n}" for n in range(50) if n != 17} | {"user-late"}
    imported = dict(events.filter(name="Purchased").values_list("distinct_id", "properties"))
    assert set(imported) == {f"imported-{n}" for n in range(50) if n != 3}
    assert imported["imported-49"]["amount"] == 49
    assert list(Profile.objects.filter(project_id=project_id).values_list("distinct_id")) == [
        ("alice",)
    ]
    # The owner sees what was refused, by endpoint and reason.
    assert sorted(
        RefusedRecordCount.objects.filter(project_id=project_id).values_list(
            "endpoint", "reason", "count"
        )
    ) == [
        ("engage", "$distinct_id", 1),
        ("import", "properties.time", 1),
        ("track", "properties.distinct_id", 1),
    ]
