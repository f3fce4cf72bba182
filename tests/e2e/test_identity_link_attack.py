"""Issue 14 end to end: the attack of the issue replayed through the real doors. `/track` with
the public project token on a real server, `/import` and `/engage` as the product's own server
sends them, the GDPR API answered by a real worker on the PostgreSQL test database and a
redis-server of the test's own; the database checked afterwards.

- `authenticated`: the export of attacker-1 holds nothing of the victim, and the deletions of
  attacker-1 and attacker-2 leave the victim's rows intact.
- `any`: the attack works as in Mixpanel; the same deletions, requested on the Data & Privacy
  page by the owner, whose preview flags the links and who leaves the victim's ids out there,
  leave the victim intact.
- The cap: under `authenticated`, 600 public aliases do not stop the victim's next
  authenticated link; under `any` the cluster is full, the review lists the refused device,
  and including it deletes that device's events with the victim.
"""

import base64
import io
import json
import os
import re
import time
import zipfile
from http import HTTPStatus

import pytest
import requests

from accounts.actors import OPERATOR
from privacy_requests.services.identity_rule import identity_links_from_set
from projects.identity_review import identity_review
from projects.models import Event, IdentityLink, IdentityLinkRecord, Profile, Project
from tests.e2e.conftest import HttpClient, poll_until, unused_port
from tests.e2e.test_api_clients import DELETIONS, RETRIEVALS, GdprClient

pytestmark = pytest.mark.e2e

HTTP_TIMEOUT = 10
# Deletions wait this long before they start: the time a person has to review them.
GRACE_SECONDS = 6
OWNER_EMAIL = "owner@shop.test"
OWNER_PASSWORD = "correct horse battery staple"
VICTIM_IDS = ["victim-123", "victim-root", "$device:victim-phone"]


@pytest.fixture
def stack(database_url, redis_server, spawn, tmp_path):
    """A web server and a worker (sweeping every second, so deletions start right after their
    grace period) on the test database and the test's Redis."""
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
        PRIVACY_SWEEP_INTERVAL="1",
        PRIVACY_DELETION_DELAY=str(GRACE_SECONDS),
        PRIVACY_API_RATE_CREATE="100/s",
        PRIVACY_API_RATE_READ="100/s",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        SITE_URL=base_url,
        PYTHONUNBUFFERED="1",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    worker = spawn("rqworker", "default", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    worker.wait_for_line(r"Listening on", timeout=30)

    def createorg(project: str) -> dict:
        command = spawn(
            "createorg", "--org", "Shop", "--owner", OWNER_EMAIL, "--project", project,
            "--password", OWNER_PASSWORD, "--json", env=env,
        )  # fmt: skip
        assert command.wait(timeout=60) == 0, command.output()
        return json.loads(command.lines[-1])

    return {"base_url": base_url, "createorg": createorg}


def track(base_url: str, records: list[dict]) -> None:
    """POST /track as a browser SDK does: the form field `data`, the public token inside."""
    response = requests.post(
        f"{base_url}/track",
        data={"data": json.dumps(records)},
        params={"verbose": "1"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == 1, response.text


def server_import(base_url: str, api_secret: str, records: list[dict]) -> dict:
    """POST /import as the product's own server does: the API secret, HTTP Basic."""
    auth = base64.b64encode(f"{api_secret}:".encode()).decode()
    response = requests.post(
        f"{base_url}/import",
        params={"strict": "1", "verbose": "1"},
        json=records,
        headers={"Authorization": f"Basic {auth}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def engage(base_url: str, records: list[dict]) -> None:
    response = requests.post(
        f"{base_url}/engage", data={"data": json.dumps(records)}, timeout=HTTP_TIMEOUT
    )
    assert response.content == b"1", response.text


def victim_and_attacker(base_url: str, shop: dict) -> None:
    """The victim's life in the shop, then the attack of the issue, word for word."""
    token, now = shop["project_token"], int(time.time())
    # The victim browses before signing in (an anonymous id with its own events)...
    track(
        base_url,
        [
            {
                "event": "Viewed sofa",
                "properties": {
                    "token": token,
                    "distinct_id": "victim-123",
                    "time": now - 7200,
                    "$insert_id": "v-anon-1",
                    "page": "/sofas/victims-sofa",
                },
            }
        ],
    )
    # ...buys with an account: the shop's server imports the purchase, links the phone.
    answer = server_import(
        base_url,
        shop["api_secret"],
        [
            {
                "event": "Purchased",
                "properties": {
                    "time": now - 3600,
                    "$insert_id": "v-buy-1",
                    "$user_id": "victim-root",
                    "$device_id": "victim-phone",
                    "address": "12 Victim Street",
                    "item": "victim's sofa",
                },
            }
        ],
    )
    assert answer == {"code": 200, "num_records_imported": 1, "status": "OK"}
    engage(
        base_url,
        [
            {
                "$token": token,
                "$distinct_id": "victim-root",
                "$set": {"$email": "victim@mail.example", "address": "12 Victim Street"},
            }
        ],
    )
    # The attacker's own activity, then the attack: two records with the public token.
    track(
        base_url,
        [
            {
                "event": "Viewed home",
                "properties": {
                    "token": token,
                    "distinct_id": "attacker-1",
                    "time": now - 600,
                    "$insert_id": "a-1",
                },
            },
            {
                "event": "Viewed home",
                "properties": {
                    "token": token,
                    "distinct_id": "attacker-2",
                    "time": now - 600,
                    "$insert_id": "a-2",
                },
            },
        ],
    )
    track(
        base_url,
        [
            {
                "event": "$identify",
                "properties": {
                    "token": token,
                    "$identified_id": "attacker-1",
                    "$anon_id": "victim-123",
                },
            },
            {
                "event": "$create_alias",
                "properties": {"token": token, "distinct_id": "victim-root", "alias": "attacker-2"},
            },
        ],
    )


def victim_rows(project_id: int) -> dict:
    return {
        "events": sorted(
            Event.objects.filter(project_id=project_id, distinct_id__in=VICTIM_IDS).values_list(
                "distinct_id", "insert_id", "properties"
            )
        ),
        "profiles": list(
            Profile.objects.filter(project_id=project_id, distinct_id__in=VICTIM_IDS).values_list(
                "distinct_id", "properties"
            )
        ),
        "links": sorted(
            IdentityLink.objects.filter(
                project_id=project_id, distinct_id__in=VICTIM_IDS, canonical_id__in=VICTIM_IDS
            ).values_list("distinct_id", "canonical_id", "kind")
        ),
    }


def export_files(client: GdprClient, distinct_id: str) -> dict[str, bytes]:
    task_id = client.create(RETRIEVALS, {"distinct_ids": [distinct_id]})
    results = client.wait(f"{RETRIEVALS}{task_id}/")
    with zipfile.ZipFile(io.BytesIO(client.download(results["result"]).content)) as package:
        return {name: package.read(name) for name in package.namelist()}


def deletion_create(client: GdprClient, distinct_id: str) -> str:
    return client.create(DELETIONS, {"distinct_ids": [distinct_id]})


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def preview_deletion(owner: HttpClient, base_url: str, shop: dict, distinct_id: str):
    """The Request Deletion form posted as the owner's browser would; the preview it opens."""
    form_url = f"{base_url}/orgs/{shop['organization_id']}/privacy/deletion/"
    form = owner.get(form_url)
    preview = owner.post(
        form_url,
        {
            "csrfmiddlewaretoken": csrf_token(form.text),
            "compliance": "GDPR",
            "project": str(shop["project_id"]),
            "ids_from": "one",
            "distinct_id": distinct_id,
        },
    )
    assert preview.status == HTTPStatus.OK and "Confirm the deletion" in preview.text, preview
    return preview


def test_the_attack_through_track_under_each_rule(stack):
    base_url = stack["base_url"]
    guarded = stack["createorg"]("Guarded shop")
    mixpanel_like = stack["createorg"]("Mixpanel-like shop")  # last: its GDPR token is current
    identity_links_from_set(
        project=Project.objects.get(id=guarded["project_id"]), actor=OPERATOR, rule="authenticated"
    )
    for shop in (guarded, mixpanel_like):
        victim_and_attacker(base_url, shop)

    # --- authenticated: the public links are evidence, nothing more -------------------------
    client = GdprClient(
        base_url, project_token=guarded["project_token"], gdpr_token=mixpanel_like["gdpr_token"]
    )
    guarded_id = guarded["project_id"]
    before = victim_rows(guarded_id)
    assert len(before["events"]) == 2 and len(before["profiles"]) == 1
    assert before["links"] == [("$device:victim-phone", "victim-root", "device")]
    unverified = IdentityLinkRecord.objects.filter(project_id=guarded_id, outcome="unverified")
    assert unverified.count() == 2
    assert not IdentityLink.objects.filter(project_id=guarded_id, distinct_id="victim-123")

    for attacker in ("attacker-1", "attacker-2"):
        files = export_files(client, attacker)
        everything = b"".join(files.values()).lower()
        assert b"victim" not in everything, attacker
        assert attacker.encode() in files["events.jsonl"]
    deletions = [deletion_create(client, attacker) for attacker in ("attacker-1", "attacker-2")]
    for task_id, attacker in zip(deletions, ("attacker-1", "attacker-2"), strict=True):
        results = client.wait(f"{DELETIONS}{task_id}")
        assert results["reached_distinct_ids"] == [attacker]
    assert victim_rows(guarded_id) == before
    assert not Event.objects.filter(
        project_id=guarded_id, distinct_id__in=["attacker-1", "attacker-2"]
    ).exists()

    # --- any: the attack works as in Mixpanel... -----------------------------------------------
    client = GdprClient(
        base_url,
        project_token=mixpanel_like["project_token"],
        gdpr_token=mixpanel_like["gdpr_token"],
    )
    open_id = mixpanel_like["project_id"]
    files = export_files(client, "attacker-1")
    assert b"victim's sofa" not in files["events.jsonl"]  # that is victim-root's, not linked
    assert b"victims-sofa" in files["events.jsonl"]  # victim-123's browsing is in it
    assert b"victim@mail.example" in export_files(client, "attacker-2")["profiles.json"]

    # ...and the owner, on the deletion's preview page, sees the links flagged and leaves the
    # victim's ids out; the decisions are stored on the requests when they are submitted.
    before = victim_rows(open_id)
    owner = HttpClient()
    landed = owner.sign_in(base_url, email=OWNER_EMAIL, password=OWNER_PASSWORD)
    assert landed.status == HTTPStatus.OK, landed
    left_out = {"attacker-1": ["victim-123"], "attacker-2": ["$device:victim-phone", "victim-root"]}
    deletions = {}
    for attacker, ids in left_out.items():
        preview = preview_deletion(owner, base_url, mixpanel_like, attacker)
        assert "public link joined two active ids" in preview.text, attacker
        for victim_id in ids:
            assert f'name="leave_out" value="{victim_id}"' in preview.text
        updated = owner.post(
            preview.url,
            {"csrfmiddlewaretoken": csrf_token(preview.text), "action": "update", "leave_out": ids},
        )
        assert "Delete the data of 1 subject (1 id)" in updated.text, attacker
        submitted = owner.post(
            updated.url,
            {
                "csrfmiddlewaretoken": csrf_token(updated.text),
                "action": "submit",
                "leave_out": ids,
                "confirm": "on",
            },
        )
        assert submitted.status == HTTPStatus.OK and "Deletion requested" in submitted.text
        deletions[attacker] = submitted.url.rstrip("/").rsplit("/", 1)[-1]
    for attacker, task_id in deletions.items():
        results = client.wait(f"{DELETIONS}{task_id}")
        assert results["reached_distinct_ids"] == [attacker]
    assert victim_rows(open_id) == before
    assert not Event.objects.filter(
        project_id=open_id, distinct_id__in=["attacker-1", "attacker-2"]
    ).exists()
    # No attacker id is left as the root of the victim's ids.
    assert not IdentityLink.objects.filter(
        project_id=open_id, canonical_id__in=["attacker-1", "attacker-2"]
    ).exists()


def fill_with_public_aliases(base_url: str, shop: dict, count: int = 600) -> None:
    token = shop["project_token"]
    track(
        base_url,
        [
            {
                "event": "$create_alias",
                "properties": {"token": token, "distinct_id": "victim-root", "alias": f"fake-{n}"},
            }
            for n in range(count)
        ],
    )


def new_laptop(base_url: str, shop: dict) -> dict:
    """The victim browses on a new laptop, then signs in: the shop's server imports the events,
    the last of which links the laptop to the victim's account."""
    now = int(time.time())
    browsing = [
        {
            "event": "Browsed",
            "properties": {
                "time": now - 120 + n,
                "$insert_id": f"laptop-anon-{n}",
                "$device_id": "new-laptop",
            },
        }
        for n in range(3)
    ]
    signed_in = {
        "event": "Signed in",
        "properties": {
            "time": now - 60,
            "$insert_id": "laptop-sign-in",
            "$user_id": "victim-root",
            "$device_id": "new-laptop",
        },
    }
    return server_import(base_url, shop["api_secret"], [*browsing, signed_in])


def test_filling_the_victims_cluster_under_each_rule(stack):
    base_url = stack["base_url"]
    guarded = stack["createorg"]("Guarded shop")
    mixpanel_like = stack["createorg"]("Mixpanel-like shop")
    identity_links_from_set(
        project=Project.objects.get(id=guarded["project_id"]), actor=OPERATOR, rule="authenticated"
    )
    for shop in (guarded, mixpanel_like):
        victim_and_attacker(base_url, shop)
        fill_with_public_aliases(base_url, shop)
        new_laptop(base_url, shop)

    # authenticated: 600 public aliases fill nothing; the laptop joins the victim.
    laptop = IdentityLink.objects.get(
        project_id=guarded["project_id"], distinct_id="$device:new-laptop"
    )
    assert (laptop.canonical_id, laptop.authenticated) == ("victim-root", True)
    assert not IdentityLink.objects.filter(
        project_id=guarded["project_id"], distinct_id__startswith="fake-"
    ).exists()

    # any: the cluster is at its cap, the laptop's link refused; the review shows both.
    open_id = mixpanel_like["project_id"]
    project = Project.objects.get(id=open_id)
    assert not IdentityLink.objects.filter(project_id=open_id, distinct_id="$device:new-laptop")
    review = identity_review(project=project, distinct_ids=["victim-root"])
    (cluster,) = review.clusters
    assert (cluster.members, cluster.at_cap) == (500, True)
    refused = {c.distinct_id: c for c in review.candidates if c.role == "refused"}
    assert refused["$device:new-laptop"].events == 3
    assert [how.reason for how in refused["$device:new-laptop"].evidence] == ["cluster_full"]
    assert "cluster_at_cap" in {flag.code for flag in review.flags}

    # The owner's preview shows the same; including the laptop there deletes its events with
    # the victim.
    owner = HttpClient()
    owner.sign_in(base_url, email=OWNER_EMAIL, password=OWNER_PASSWORD)
    preview = preview_deletion(owner, base_url, mixpanel_like, "victim-root")
    assert "cluster at its cap" in preview.text
    candidates = preview.text[preview.text.index('id="candidate-ids"') :]
    laptop_row = candidates[candidates.index("$device:new-laptop</code>") :]
    laptop_row = laptop_row[: laptop_row.index("</tr>")]
    assert "refused: the identity cluster was at its cap" in laptop_row
    assert '<td data-label="Events">3</td>' in laptop_row
    chosen = {"include": ["$device:new-laptop"]}
    updated = owner.post(
        preview.url,
        {"csrfmiddlewaretoken": csrf_token(preview.text), "action": "update", **chosen},
    )
    submitted = owner.post(
        updated.url,
        {
            "csrfmiddlewaretoken": csrf_token(updated.text),
            "action": "submit",
            "confirm": "on",
            **chosen,
        },
    )
    assert "Deletion requested" in submitted.text, submitted
    task_id = submitted.url.rstrip("/").rsplit("/", 1)[-1]
    client = GdprClient(
        base_url,
        project_token=mixpanel_like["project_token"],
        gdpr_token=mixpanel_like["gdpr_token"],
    )
    results = poll_until(
        lambda: (r := client.status(f"{DELETIONS}{task_id}"))["status"] == "SUCCESS" and r,
        timeout=90,
        interval=0.5,
        message="the deletion never succeeded",
    )
    assert "$device:new-laptop" in results["reached_distinct_ids"]
    assert not Event.objects.filter(
        project_id=open_id, distinct_id__in=["victim-root", "$device:new-laptop"]
    ).exists()
    assert not Profile.objects.filter(project_id=open_id, distinct_id="victim-root").exists()
