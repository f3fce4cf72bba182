"""CCPA deletions by Categories and by Sources through the API, against a live server and a
real rqworker on PostgreSQL and the test's Redis (issue 18). The data is sent with the
official `mixpanel` SDK: Jane's $email is a super property on every event, her location is on
her events and profile; Bob is another person with the same kinds of data."""

import time

import mixpanel
import pytest

from projects.models import Event, Profile
from tests.e2e.conftest import poll_until
from tests.e2e.test_api_clients import DELETIONS, GdprClient, consumer_for, stack  # noqa: F401

pytestmark = pytest.mark.e2e

JANE = "jane"
LOCATION = {"$city": "Lisbon", "$region": "Lisboa", "mp_country_code": "PT", "ip": "203.0.113.9"}
SUPER = {"$email": "jane@example.com", "$browser": "Firefox"}


@pytest.fixture
def sent(stack):  # noqa: F811
    org = stack["createorg"]("Web")
    sdk = mixpanel.Mixpanel(org["project_token"], consumer=consumer_for(stack["base_url"]))
    now = int(time.time())
    for n in range(3):
        sdk.track(JANE, "Viewed page", {**SUPER, **LOCATION, "page": f"/p{n}", "time": now - n})
    # The same person through another SDK (its mp_lib names it): another source.
    sdk.track(JANE, "Opened app", {**SUPER, "mp_lib": "android", "$lib_version": "7.5.0"})
    sdk.people_set(JANE, {"$email": "jane@example.com", "$city": "Lisbon", "plan": "pro"})
    sdk.track("bob", "Viewed page", {"$email": "bob@example.com", **LOCATION})
    sdk.people_set("bob", {"$email": "bob@example.com", "$city": "Oslo"})
    project_id = org["project_id"]
    poll_until(
        lambda: (
            Event.objects.filter(project_id=project_id).count() == 5
            and Profile.objects.filter(project_id=project_id).count() == 2
        ),
        timeout=20,
        message="the SDK's records were not stored",
    )
    client = GdprClient(
        stack["base_url"], project_token=org["project_token"], gdpr_token=org["gdpr_token"]
    )
    return client, project_id


def bob_rows(project_id):
    return (
        sorted(
            (e.name, sorted(e.properties.items()))
            for e in Event.objects.filter(project_id=project_id, distinct_id="bob")
        ),
        Profile.objects.get(project_id=project_id, distinct_id="bob").properties,
    )


def test_a_ccpa_categories_deletion_strips_contact_and_location_everywhere(sent):
    client, project_id = sent
    bob_before = bob_rows(project_id)

    task_id = client.create(
        DELETIONS,
        {
            "distinct_ids": [JANE],
            "compliance_type": "CCPA",
            "disclosure_type": "Categories",
            "categories": ["contact", "location"],
        },
    )
    results = client.wait(f"{DELETIONS}{task_id}")

    events = list(Event.objects.filter(project_id=project_id, distinct_id=JANE))
    assert len(events) == 4  # every event stays, without the chosen categories
    for event in events:
        assert not {"$email", *LOCATION} & set(event.properties), event.properties
        assert event.properties["$browser"] == "Firefox"
    assert sorted(e.properties.get("page", "") for e in events) == ["", "/p0", "/p1", "/p2"]
    profile = Profile.objects.get(project_id=project_id, distinct_id=JANE)
    assert "$email" not in profile.properties and "$city" not in profile.properties
    assert profile.properties["plan"] == "pro"
    assert bob_rows(project_id) == bob_before

    receipt = client.download(results["result"]).json()
    assert receipt["scope"]["categories_removed"] == ["contact", "location"]
    # 4 events' $email + profile $email; 3 events x 4 location properties + profile $city.
    assert receipt["scope"]["properties_removed"] == {"contact": 5, "location": 13}
    assert (receipt["scope"]["events_changed"], receipt["scope"]["profiles_changed"]) == (4, 1)


def test_a_ccpa_sources_deletion_of_one_sdk_leaves_the_other_sources(sent):
    client, project_id = sent
    python_source = Event.objects.get(
        project_id=project_id, distinct_id="bob"
    ).source  # e.g. "track/python 5.0.0"
    bob_before = bob_rows(project_id)

    task_id = client.create(
        DELETIONS,
        {
            "distinct_ids": [JANE],
            "compliance_type": "CCPA",
            "disclosure_type": "Sources",
            "sources": [python_source],
        },
    )
    results = client.wait(f"{DELETIONS}{task_id}")

    left = Event.objects.filter(project_id=project_id, distinct_id=JANE)
    assert list(left.values_list("source", flat=True)) == ["track/android 7.5.0"]
    assert Profile.objects.filter(project_id=project_id, distinct_id=JANE).exists()
    assert bob_rows(project_id) == bob_before
    receipt = client.download(results["result"]).json()
    assert receipt["rows_removed"]["events"] == 3
    assert receipt["scope"]["sources_removed"] == [python_source]


def test_a_gdpr_deletion_by_categories_is_refused(sent):
    client, _ = sent
    response = client._call(
        "POST",
        DELETIONS,
        json={
            "distinct_ids": [JANE],
            "compliance_type": "GDPR",
            "disclosure_type": "Categories",
            "categories": ["contact"],
        },
    )
    assert response.status_code == 400
    assert "GDPR deletion always removes all data" in response.json()["error"]
