"""CCPA deletions by Categories or Sources (issue 18): what goes, what stays, exact counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from privacy_requests.deletions.receipts import receipt_read
from privacy_requests.errors import InvalidRequest
from privacy_requests.models import PrivacyRequest, Status
from projects.models import Event, IdentityLink, Profile, Project
from tests.privacy_requests.deletion_support import T0, profile_add, store_rows

pytestmark = pytest.mark.django_db

JANE = "jane@end-user.test"
JANE_EVENT = {
    "$email": "jane@end-user.test",  # a super property, sent with every event
    "$city": "Lisbon",
    "$region": "Lisboa",
    "mp_country_code": "PT",
    "ip": "203.0.113.9",
    "$browser": "Firefox",
    "plan": "pro",
}
JANE_PROFILE = {
    "$email": "jane@end-user.test",
    "$name": "Jane Doe",
    "$city": "Lisbon",
    "$os": "Linux",
    "favourite_colour": "green",
}


def event_add(project, distinct_id, n, *, source="track/python 5.4.1", properties=None):
    return Event.objects.create(
        project=project,
        distinct_id=distinct_id,
        name="Page View",
        time=T0,
        insert_id=f"{distinct_id[:20]}-{n}-{source[:5]}",
        properties=dict(JANE_EVENT if properties is None else properties),
        source=source,
        ingested_at=timezone.now(),
    )


@pytest.fixture
def store(project, organization):
    for n in range(5):
        event_add(project, JANE, n)
    for n in range(2):
        event_add(project, JANE, 10 + n, source="track/mixpanel-browser 2.55.0")
    profile_add(project, JANE, dict(JANE_PROFILE))
    # Another person, and the same person's id in another project: neither may change.
    event_add(project, "bob@end-user.test", 1, properties={"$email": "bob@x.test", "$city": "Oslo"})
    profile_add(project, "bob@end-user.test", {"$email": "bob@x.test"})
    other = Project.objects.create(organization=organization, name="Other")
    event_add(other, JANE, 1)
    profile_add(other, JANE, dict(JANE_PROFILE))
    return other


def others(rows, project):
    return {
        table: {row for row in table_rows if not (row[1] == project.id and row[2] == JANE)}
        for table, table_rows in rows.items()
    }


def test_categories_remove_the_chosen_properties_everywhere_and_keep_the_rest(
    submit, project, store
):
    before = store_rows()
    request = submit(
        kind="deletion",
        compliance="CCPA",
        disclosure="Categories",
        categories=["location", "contact"],
        distinct_ids=[JANE],
        run=True,
    )
    request = PrivacyRequest.objects.get(id=request.id)
    assert request.status == Status.SUCCESS
    kept_event = {"$browser": "Firefox", "plan": "pro"}
    events = Event.objects.filter(project=project, distinct_id=JANE)
    assert events.count() == 7
    assert all(event.properties == kept_event for event in events)
    profile = Profile.objects.get(project=project, distinct_id=JANE)
    assert profile.properties == {"$os": "Linux", "favourite_colour": "green"}
    assert others(store_rows(), project) == others(before, project)

    receipt = receipt_read(request=request)
    assert receipt["scope"]["categories_removed"] == ["location", "contact"]
    # 7 events x ($city, $region, mp_country_code, ip) + profile $city; 7 x $email + 2 profile.
    assert receipt["scope"]["properties_removed"] == {"location": 29, "contact": 9}
    assert receipt["scope"]["events_changed"] == 7
    assert receipt["scope"]["profiles_changed"] == 1
    assert receipt["rows_removed"]["events"] == 7  # events changed, none removed


def test_categories_work_in_small_batches_with_exact_counts(submit, project, store, settings):
    settings.PRIVACY_DELETION_BATCH = 2
    request = submit(
        kind="deletion",
        compliance="CCPA",
        disclosure="Categories",
        categories=["custom"],
        distinct_ids=[JANE],
        run=True,
    )
    request = PrivacyRequest.objects.get(id=request.id)
    assert request.progress["batches"] == 4
    assert receipt_read(request=request)["scope"]["properties_removed"] == {"custom": 8}
    assert not any(
        "plan" in event.properties
        for event in Event.objects.filter(project=project, distinct_id=JANE)
    )


def test_sources_remove_only_the_events_of_the_chosen_source(submit, project, store):
    before = store_rows()
    request = submit(
        kind="deletion",
        compliance="CCPA",
        disclosure="Sources",
        sources=["track/python 5.4.1"],
        distinct_ids=[JANE],
        run=True,
    )
    request = PrivacyRequest.objects.get(id=request.id)
    left = Event.objects.filter(project=project, distinct_id=JANE)
    assert sorted(left.values_list("source", flat=True)) == ["track/mixpanel-browser 2.55.0"] * 2
    assert Profile.objects.filter(project=project, distinct_id=JANE).exists()
    assert others(store_rows(), project) == others(before, project)
    receipt = receipt_read(request=request)
    assert receipt["rows_removed"]["events"] == 5
    assert receipt["rows_removed"]["profiles"] == 0
    assert receipt["scope"]["sources_removed"] == ["track/python 5.4.1"]


def test_the_engage_source_removes_the_profile(submit, project, store):
    submit(
        kind="deletion",
        compliance="CCPA",
        disclosure="Sources",
        sources=["engage"],
        distinct_ids=[JANE],
        run=True,
    )
    assert not Profile.objects.filter(project=project, distinct_id=JANE).exists()
    assert Event.objects.filter(project=project, distinct_id=JANE).count() == 7


def test_a_partial_deletion_keeps_identity_links(submit, project, store):
    from projects.identity import LinkRequest, identity_links_apply
    from projects.models import IdentityKind

    identity_links_apply(project=project, links=[LinkRequest("device-1", JANE, IdentityKind.ALIAS)])
    links = IdentityLink.objects.filter(project=project).count()
    submit(
        kind="deletion",
        compliance="CCPA",
        disclosure="Categories",
        categories=["device"],
        distinct_ids=[JANE],
        run=True,
    )
    assert IdentityLink.objects.filter(project=project).count() == links


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"compliance": "GDPR", "disclosure": "Categories", "categories": ["contact"]}, "GDPR"),
        ({"compliance": "CCPA", "disclosure": "Categories", "categories": ["nope"]}, "Unknown"),
        ({"compliance": "CCPA", "disclosure": "Categories"}, "needs categories"),
        ({"compliance": "CCPA", "disclosure": "Categories", "categories": []}, "needs"),
        ({"compliance": "CCPA", "disclosure": "Sources", "sources": [""]}, "1 to 100"),
        ({"compliance": "CCPA", "disclosure": "Sources", "categories": ["contact"]}, "not the"),
        ({"compliance": "CCPA", "categories": ["contact"]}, "apply only"),
        ({"compliance": "GDPR", "sources": ["engage"]}, "apply only"),
    ],
)
def test_invalid_scopes_are_refused(submit, extra, message):
    with pytest.raises(InvalidRequest, match=message):
        submit(kind="deletion", distinct_ids=[JANE], **extra)
    assert not PrivacyRequest.objects.exists()


def test_an_export_takes_no_categories(submit):
    with pytest.raises(InvalidRequest, match="apply only"):
        submit(kind="export", compliance="CCPA", disclosure="Categories", categories=["contact"])


# Categories, batches of 2 events, jane's 7 events in one chunk: exports 1, events 5 (4
# batches, then the empty read that ends the chunk), profiles 1, identities 1, late exports 1,
# receipt 1.
PARTIAL_STEPS = 10


@pytest.mark.parametrize("where", ["inside", "after"])
@pytest.mark.parametrize("step", range(1, PARTIAL_STEPS + 1))
def test_a_crash_at_any_step_of_a_categories_deletion_resumes_with_exact_counts(
    submit, project, store, settings, monkeypatch, step, where
):
    from datetime import timedelta

    from privacy_requests.services import privacy_request_process
    from tests.privacy_requests.test_deletions import Crash, _crash_at

    settings.PRIVACY_DELETION_BATCH = 2
    settings.PRIVACY_STEP_DELAY_SECONDS = 0.001
    before = store_rows()
    request = submit(
        kind="deletion",
        compliance="CCPA",
        disclosure="Categories",
        categories=["location", "contact"],
        distinct_ids=[JANE],
    )
    _crash_at(monkeypatch, step=step, where=where)
    with pytest.raises(Crash):
        privacy_request_process(tracking_id=request.tracking_id)
    monkeypatch.undo()
    PrivacyRequest.objects.filter(id=request.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS

    finished = PrivacyRequest.objects.get(id=request.id)
    assert finished.counts["properties:location"] == 29
    assert finished.counts["properties:contact"] == 9
    assert (finished.counts["events"], finished.counts["profiles"]) == (7, 1)
    events = Event.objects.filter(project=project, distinct_id=JANE)
    assert all(event.properties == {"$browser": "Firefox", "plan": "pro"} for event in events)
    assert others(store_rows(), project) == others(before, project)


def test_categories_strip_many_profiles_with_one_update_per_300(submit, project):
    people = [f"person-{n:03d}@end-user.test" for n in range(301)]
    for distinct_id in people:
        profile_add(project, distinct_id, {"$email": distinct_id, "plan": "pro"})
    profile_add(project, "bob@end-user.test", {"$email": "bob@x.test", "plan": "free"})

    with CaptureQueriesContext(connection) as queries:
        request = submit(
            kind="deletion",
            compliance="CCPA",
            disclosure="Categories",
            categories=["contact"],
            distinct_ids=people,
            run=True,
        )

    request.refresh_from_db()
    assert request.status == Status.SUCCESS, request.error
    assert request.counts["profiles"] == 301
    assert dict(Profile.objects.values_list("distinct_id", "properties")) == {
        **{distinct_id: {"plan": "pro"} for distinct_id in people},
        "bob@end-user.test": {"$email": "bob@x.test", "plan": "free"},
    }
    updates = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith('UPDATE "PROJECTS_PROFILE"')
    ]
    assert len(updates) == 2  # 300 profiles, then 1 (one statement a profile before)
