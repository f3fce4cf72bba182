"""The official `mixpanel` SDK, unmodified, against a live server: what it sends is stored."""

import time
from datetime import UTC, datetime, timedelta

import mixpanel
import pytest

from projects.models import Event, GroupProfile, IdentityKind, IdentityLink, Profile
from tests.factories import ProjectFactory
from tests.projects.ingestion_support import API_SECRET

pytestmark = pytest.mark.django_db(transaction=True)

SDK_VERSION = "5.4.1"


@pytest.fixture
def urls(live_server):
    return {
        "events_url": f"{live_server.url}/track",
        "people_url": f"{live_server.url}/engage",
        "groups_url": f"{live_server.url}/groups",
        "import_url": f"{live_server.url}/import",
        "retry_limit": 0,
    }


@pytest.fixture
def sdk_project(db):
    return ProjectFactory()


def _events():
    return list(
        Event.objects.order_by("time", "name").values_list(
            "distinct_id", "name", "insert_id", "properties", "source"
        )
    )


def test_sdk_track_and_a_buffered_batch_are_stored(urls, sdk_project):
    assert mixpanel.__version__ == SDK_VERSION
    client = mixpanel.Mixpanel(sdk_project.token, consumer=mixpanel.Consumer(**urls))
    before = datetime.now(tz=UTC)

    client.track("alice", "Signed up", {"plan": "pro", "seats": 3})

    (stored,) = Event.objects.all()
    assert stored.project_id == sdk_project.pk
    assert (stored.distinct_id, stored.name) == ("alice", "Signed up")
    assert stored.properties == {
        "plan": "pro",
        "seats": 3,
        "mp_lib": "python",
        "$lib_version": "5.4.1",
    }
    assert stored.source == "track/python 5.4.1"
    assert len(stored.insert_id) == 32 and int(stored.insert_id, 16) >= 0
    assert before - timedelta(seconds=1) <= stored.time <= datetime.now(tz=UTC)

    buffered = mixpanel.BufferedConsumer(**urls)
    batch_client = mixpanel.Mixpanel(sdk_project.token, consumer=buffered)
    for number in range(3):
        batch_client.track(f"user-{number}", "Viewed page", {"page": number})
    assert Event.objects.count() == 1  # nothing sent before the flush
    buffered.flush()

    pages = Event.objects.filter(name="Viewed page").order_by("distinct_id")
    assert [(row.distinct_id, row.properties["page"], row.source) for row in pages] == [
        ("user-0", 0, "track/python 5.4.1"),
        ("user-1", 1, "track/python 5.4.1"),
        ("user-2", 2, "track/python 5.4.1"),
    ]


def test_sdk_import_data_stores_old_events_and_wrong_secret_raises(urls, sdk_project):
    client = mixpanel.Mixpanel(sdk_project.token, consumer=mixpanel.Consumer(**urls))
    thirty_days_ago = int(time.time()) - 30 * 24 * 3600
    ten_years_ago = int(time.time()) - 10 * 365 * 24 * 3600

    client.import_data(
        None, "bob", "Purchase", thirty_days_ago, {"amount": 12.5}, api_secret=API_SECRET
    )
    client.import_data(None, "bob", "Signed up", ten_years_ago, api_secret=API_SECRET)

    rows = list(
        Event.objects.order_by("time").values_list(
            "distinct_id", "name", "time", "properties", "source"
        )
    )
    assert rows == [
        (
            "bob",
            "Signed up",
            datetime.fromtimestamp(ten_years_ago, tz=UTC),
            {"mp_lib": "python", "$lib_version": "5.4.1"},
            "import/python 5.4.1",
        ),
        (
            "bob",
            "Purchase",
            datetime.fromtimestamp(thirty_days_ago, tz=UTC),
            {"amount": 12.5, "mp_lib": "python", "$lib_version": "5.4.1"},
            "import/python 5.4.1",
        ),
    ]

    with pytest.raises(mixpanel.MixpanelException, match="Invalid credentials"):
        client.import_data(None, "bob", "Refund", thirty_days_ago, api_secret="not-the-secret")
    assert Event.objects.count() == 2


def test_sdk_people_operations_and_delete(urls, sdk_project):
    client = mixpanel.Mixpanel(sdk_project.token, consumer=mixpanel.Consumer(**urls))

    client.people_set("alice", {"$email": "alice@example.com", "plan": "free"})
    client.people_set_once("alice", {"plan": "pro", "first_seen": "2024-01-01"})
    client.people_increment("alice", {"logins": 2})
    client.people_increment("alice", {"logins": -1, "credits": 1.5})
    client.people_append("alice", {"pages": "home"})
    client.people_append("alice", {"pages": "pricing"})
    client.people_union("alice", {"tags": ["a", "b"]})
    client.people_union("alice", {"tags": ["b", "c"]})
    client.people_remove("alice", {"pages": "home"})
    client.people_unset("alice", ["first_seen"])
    client.people_set("bob", {"plan": "team"})

    alice = Profile.objects.get(project=sdk_project, distinct_id="alice")
    assert alice.properties == {
        "$email": "alice@example.com",
        "plan": "free",
        "logins": 1,
        "credits": 1.5,
        "pages": ["pricing"],
        "tags": ["a", "b", "c"],
    }

    client.people_delete("alice")

    assert list(Profile.objects.values_list("distinct_id", "properties")) == [
        ("bob", {"plan": "team"})
    ]


def test_sdk_group_set_alias_merge_and_device_link(urls, sdk_project, monkeypatch):
    client = mixpanel.Mixpanel(sdk_project.token, consumer=mixpanel.Consumer(**urls))

    client.group_set("company", "Acme", {"plan": "enterprise", "seats": 40})
    # alias() builds its own Consumer(); point that one at the live server too.
    sdk_consumer = mixpanel.Consumer
    monkeypatch.setattr(mixpanel, "Consumer", lambda *args, **kwargs: sdk_consumer(**urls))
    client.alias("alice@example.com", "alice")
    monkeypatch.setattr(mixpanel, "Consumer", sdk_consumer)
    client.merge(None, "alice", "alice-old-id", api_secret=API_SECRET)
    client.track("ignored", "Opened app", {"$device_id": "dev-1", "$user_id": "alice"})

    assert list(GroupProfile.objects.values_list("group_key", "group_id", "properties")) == [
        ("company", "Acme", {"plan": "enterprise", "seats": 40})
    ]
    links = IdentityLink.objects.filter(project=sdk_project).order_by("distinct_id")
    assert list(links.values_list("distinct_id", "canonical_id", "kind")) == [
        ("$device:dev-1", "alice", IdentityKind.DEVICE),
        ("alice-old-id", "alice", IdentityKind.MERGE),
        ("alice@example.com", "alice", IdentityKind.ALIAS),
    ]
    # $create_alias and $merge are identity operations, not stored as events.
    assert list(Event.objects.values_list("distinct_id", "name")) == [("alice", "Opened app")]


def test_a_buffered_batch_with_one_bad_record_drains(urls, sdk_project):
    """The SDK flushes 50 records at a time and raises, keeping the whole batch, unless the
    answer's status is 1: one refused record must not stop the other 49, nor later flushes."""
    buffered = mixpanel.BufferedConsumer(**urls)
    client = mixpanel.Mixpanel(sdk_project.token, consumer=buffered)
    now = int(time.time())

    for number in range(50):  # the 50th call flushes: it must not raise
        client.track("anon" if number == 17 else f"user-{number}", "Viewed page", {"n": number})
        client.import_data(
            None, f"imported-{number}", "Purchased", 0 if number == 3 else now - number,
            api_secret=API_SECRET,
        )  # fmt: skip
    client.track("user-late", "Viewed page", {"n": 50})
    client.people_set("null", {"plan": "pro"})  # refused: a placeholder id
    client.people_set("alice", {"plan": "pro"})
    buffered.flush()

    assert buffered._buffers == {"events": [], "people": [], "groups": [], "imports": []}
    tracked = set(Event.objects.filter(name="Viewed page").values_list("distinct_id", flat=True))
    assert tracked == {f"user-{n}" for n in range(50) if n != 17} | {"user-late"}
    imported = set(Event.objects.filter(name="Purchased").values_list("distinct_id", flat=True))
    assert imported == {f"imported-{n}" for n in range(50) if n != 3}
    assert list(Profile.objects.values_list("distinct_id", flat=True)) == ["alice"]
