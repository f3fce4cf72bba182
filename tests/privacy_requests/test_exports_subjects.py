"""One package per subject beside the whole archive, readable by a person (issue 17, items 9
and 10)."""

import json
import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.exports.readable import source_explanation
from privacy_requests.exports.subject_split import SideFile, line_distinct_id
from privacy_requests.models import AuditEntry, Status
from privacy_requests.property_categories import property_category
from privacy_requests.selectors import privacy_request_subject_results
from projects.identity import LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, Profile
from tests.factories import MembershipFactory
from tests.privacy_requests.export_support import (
    T0,
    events_of,
    manifest_of,
    package_entries,
    package_of,
    reload,
    storage_names,
    subject_packages_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }


def event(project, distinct_id, n, *, name="Page View", properties=None, source="track/web 2.5"):
    Event.objects.create(
        project=project,
        distinct_id=distinct_id,
        name=name,
        time=T0 + timedelta(minutes=n),
        insert_id=f"{distinct_id}-{n}",
        properties=properties or {},
        source=source,
        ingested_at=timezone.now(),
    )


@pytest.fixture
def people(project):
    """Alice (an alias and a device), Bob (an anonymous id), Carol alone; a refused link
    between Bob's anonymous id and Alice names both."""
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alice@example.com", "alice", IdentityKind.ALIAS),
            LinkRequest("$device:phone", "alice", IdentityKind.DEVICE),
            LinkRequest("bob-anon", "bob", IdentityKind.IDENTIFY),
            LinkRequest("bob-anon", "alice", IdentityKind.IDENTIFY),  # refused: two users
        ],
    )
    event(project, "alice", 1, name="Purchase", properties={"$amount": 12, "plan": "<b>pro</b>"})
    event(project, "alice@example.com", 2, source="import/python 5.4.1")
    event(project, "$device:phone", 3, properties={"$os": "iOS", "$city": "Paris"})
    event(project, "bob", 1, properties={"secret": "bob-secret"})
    event(project, "bob-anon", 2, properties={"secret": "bob-anon-secret"})
    event(project, "carol", 1, properties={"secret": "carol-secret"})
    now = timezone.now()
    Profile.objects.create(
        project=project,
        distinct_id="alice",
        properties={"$email": "alice@mail.example", "$name": "<script>x</script>"},
        updated_at=now,
    )
    Profile.objects.create(
        project=project, distinct_id="bob", properties={"$name": "Bob"}, updated_at=now
    )
    return project


def ids_in(entries: dict[str, bytes]) -> set[str]:
    """Every distinct_id any record of a package names."""
    found = {event["properties"]["distinct_id"] for event in events_of(entries)}
    found |= {p["$distinct_id"] for p in json.loads(entries["profiles.json"])}
    for name in ("identities.json", "identity_evidence.json"):
        for record in json.loads(entries[name]):
            found |= {record["distinct_id"], record["canonical_id"]}
    return found


def test_each_subject_gets_a_package_of_their_own_data_only(people, submit):
    request = reload(
        submit(distinct_ids=["bob", "alice", "nobody", "carol", "alice@example.com"], run=True)
    )
    assert request.status == Status.SUCCESS, request.error

    whole = package_of(request)
    # The whole archive is as before: the same files, everyone in it.
    assert sorted(whole) == [
        "README.txt",
        "events.jsonl",
        "identities.json",
        "identity_evidence.json",
        "manifest.json",
        "profiles.json",
    ]
    assert len(events_of(whole)) == 6
    bob, alice, nobody, carol = subject_packages_of(request)
    assert ids_in(alice) == {"alice", "alice@example.com", "$device:phone"}
    assert ids_in(bob) == {"bob", "bob-anon"}
    assert ids_in(carol) == {"carol"}
    assert ids_in(nobody) == set()
    assert b"bob" not in alice["events.jsonl"] + alice["profiles.json"] + alice["index.html"]
    # The refused link names both Alice and Bob: in the whole archive, in neither package.
    assert any(r["outcome"] == "refused" for r in json.loads(whole["identity_evidence.json"]))
    assert json.loads(alice["identity_evidence.json"]) + json.loads(
        bob["identity_evidence.json"]
    ) == [r for r in json.loads(alice["identity_evidence.json"]) if r["outcome"] != "refused"] + [
        r for r in json.loads(bob["identity_evidence.json"]) if r["outcome"] != "refused"
    ]
    # Each package's events are the whole archive's lines of that subject, byte for byte.
    whole_lines = whole["events.jsonl"].decode().splitlines()
    for package in (alice, bob, carol):
        lines = package["events.jsonl"].decode().splitlines()
        assert lines == [line for line in whole_lines if line_distinct_id(line) in ids_in(package)]

    manifest = manifest_of(alice)
    assert manifest["subjects"] == {
        "given": ["alice", "alice@example.com"],
        "linked": ["$device:phone"],
    }
    assert manifest["organization"]["name"] == request.organization.name
    assert manifest["counts"] == {
        "events": 3,
        "profiles": 1,
        "identities": 2,
        "identity_evidence": 2,
    }
    assert manifest_of(nobody)["not_found"] == ["nobody"]

    results = privacy_request_subject_results(request=request)
    assert [(r["distinct_id"], r["reached_distinct_ids"]) for r in results] == [
        ("bob", ["bob", "bob-anon"]),
        ("alice", ["alice", "alice@example.com", "$device:phone"]),
        ("nobody", []),
        ("carol", ["carol"]),
    ]
    assert all(r["result"].startswith(f"/downloads/{request.tracking_id}/") for r in results)


def test_a_subject_package_is_readable_by_a_person(people, submit, project):
    organization = project.organization
    organization.name = "Acme & Sons"
    organization.privacy_contact = "privacy@acme.example"
    organization.save()
    request = reload(submit(distinct_ids=["alice"], run=True))
    (alice,) = subject_packages_of(request)

    page = alice["index.html"].decode()
    assert page.startswith("<!DOCTYPE html>")
    assert (
        "<script" not in page
        and "src=" not in page
        and "http" not in page.lower().replace("https://www.json.org", "")
    )
    assert "Your data held by Acme &amp; Sons" in page
    assert "privacy@acme.example" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page  # the profile's value, escaped
    assert "&lt;b&gt;pro&lt;/b&gt;" in page
    assert "2026-01-01T00:01:00Z" in page  # the Purchase, ISO 8601 UTC
    assert "Contact details" in page and "Purchases" in page
    readme = alice["README.txt"].decode()
    assert "Acme & Sons" in readme and "privacy@acme.example" in readme

    categories = json.loads(alice["categories.json"])
    by_key = {c["category"]: c for c in categories["categories"]}
    assert {p["property"] for p in by_key["contact"]["properties"]} == {"$email", "$name"}
    assert by_key["contact"]["name"] == "Contact details"
    assert {p["property"] for p in by_key["custom"]["properties"]} == {"plan"}
    assert {p["property"] for p in by_key["location"]["properties"]} == {"$city"}
    assert {p["property"] for p in by_key["purchases"]["properties"]} == {"$amount"}

    sources = {s["source"]: s for s in json.loads(alice["sources.json"])}
    assert sources["track/web 2.5"]["count"] == 2
    assert sources["track/web 2.5"]["explanation"] == (
        "Sent by the product as things happened, from its website (Mixpanel's JavaScript "
        "library), version 2.5."
    )
    assert sources["import/python 5.4.1"]["first_seen"] == "2026-01-01T00:02:00Z"
    assert sources["engage"]["count"] == 1


def test_subject_links_download_each_package_and_are_audited(people, submit, client):
    request = reload(submit(distinct_ids=["alice", "carol"], run=True))
    alice, carol = privacy_request_subject_results(request=request)

    response = client.get(carol["result"])

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Disposition"].endswith(f'"{request.tracking_id}-subject-2.zip"')
    entries = package_entries(b"".join(response.streaming_content))
    assert ids_in(entries) == {"carol"}
    entry = AuditEntry.objects.filter(request=request, action="downloaded").get()
    assert entry.detail["subject"] == 2
    # Another number with this signature, or a number past the end: not found.
    tampered = carol["result"].replace(f"/{request.tracking_id}/2/", f"/{request.tracking_id}/1/")
    assert client.get(tampered).status_code == HTTPStatus.NOT_FOUND
    past = carol["result"].replace(f"/{request.tracking_id}/2/", f"/{request.tracking_id}/3/")
    assert client.get(past).status_code == HTTPStatus.NOT_FOUND


def test_purging_an_export_deletes_every_subject_package(people, submit, client):
    from privacy_requests.exports.files import export_file_purge

    request = reload(submit(distinct_ids=["alice", "carol"], run=True))
    links = [r["result"] for r in privacy_request_subject_results(request=request)]
    assert len(storage_names()) == 3

    assert export_file_purge(request, actor="system", reason="test")

    assert storage_names() == []
    assert [r["result"] for r in privacy_request_subject_results(request=reload(request))] == [
        "",
        "",
    ]
    assert client.get(links[0]).status_code == HTTPStatus.GONE


def test_the_api_adds_subject_results_beside_result(
    people, client, project, django_capture_on_commit_callbacks
):
    user = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    headers = {"HTTP_AUTHORIZATION": f"Bearer {gdpr_token_reset(user=user)}"}
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            f"/api/app/data-retrievals/v3.0/?token={project.token}",
            data=json.dumps({"distinct_ids": ["alice", "carol"]}),
            content_type="application/json",
            **headers,
        )
    task_id = created.json()["results"]["task_id"]

    body = client.get(f"/api/app/data-retrievals/v3.0/{task_id}/?token={project.token}", **headers)

    results = body.json()["results"]
    assert results["status"] == "SUCCESS"
    assert results["result"].startswith(f"http://testserver/downloads/{task_id}/")
    assert [(r["distinct_id"], r["reached_distinct_ids"]) for r in results["subject_results"]] == [
        ("alice", ["alice", "$device:phone", "alice@example.com"]),
        ("carol", ["carol"]),
    ]
    carol = client.get(results["subject_results"][1]["result"])
    assert ids_in(package_entries(b"".join(carol.streaming_content))) == {"carol"}
    # Deletions have no such field: their answer keeps Mixpanel's shape.
    with django_capture_on_commit_callbacks(execute=False):
        deletion = client.post(
            f"/api/app/data-deletions/v3.0/?token={project.token}",
            data=json.dumps({"distinct_ids": ["zed"]}),
            content_type="application/json",
            **headers,
        ).json()["results"]["task_id"]
    body = client.get(f"/api/app/data-deletions/v3.0/{deletion}?token={project.token}", **headers)
    assert "subject_results" not in body.json()["results"]


def test_a_categories_disclosure_has_each_subjects_names_only(people, submit):
    request = reload(
        submit(distinct_ids=["alice", "bob"], compliance="CCPA", disclosure="Categories", run=True)
    )
    assert request.status == Status.SUCCESS, request.error
    alice, bob = subject_packages_of(request)

    assert sorted(alice) == ["README.txt", "categories.json", "index.html", "manifest.json"]
    names = json.loads(alice["categories.json"])
    assert {p["name"] for p in names["events"]["properties"]} >= {"$amount", "plan", "$os"}
    assert "secret" not in alice["categories.json"].decode()  # Bob's property name
    assert {p["name"] for p in json.loads(bob["categories.json"])["events"]["properties"]} == {
        "time",
        "distinct_id",
        "$insert_id",
        "secret",
    }
    plain = {c["category"]: c for c in names["categories"]}
    assert {p["property"] for p in plain["contact"]["properties"]} == {"$email", "$name"}
    assert manifest_of(alice)["counts"]["events"] == 3
    assert manifest_of(bob)["counts"]["events"] == 2
    assert "Kinds of data" in alice["index.html"].decode()
    assert "bob" not in alice["index.html"].decode()


def test_a_sources_disclosure_has_each_subjects_sources_in_words(people, submit):
    request = reload(
        submit(distinct_ids=["alice", "carol"], compliance="CCPA", disclosure="Sources", run=True)
    )
    alice, carol = subject_packages_of(request)

    assert sorted(alice) == ["README.txt", "index.html", "manifest.json", "sources.json"]
    sources = {s["source"]: s for s in json.loads(alice["sources.json"])}
    assert set(sources) == {"track/web 2.5", "import/python 5.4.1", "engage"}
    assert sources["import/python 5.4.1"]["explanation"].startswith(
        "Imported by the product afterwards"
    )
    assert [(s["source"], s["count"]) for s in json.loads(carol["sources.json"])] == [
        ("track/web 2.5", 1)
    ]
    assert [
        (r["distinct_id"], r["reached_distinct_ids"])
        for r in privacy_request_subject_results(request=request)
    ] == [
        ("alice", ["alice", "$device:phone", "alice@example.com"]),
        ("carol", ["carol"]),
    ]


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("$email", "contact"),
        ("$phone", "contact"),
        ("$browser", "device"),
        ("mp_lib", "device"),
        ("$city", "location"),
        ("mp_country_code", "location"),
        ("$current_url", "activity"),
        ("utm_source", "marketing"),
        ("$amount", "purchases"),
        ("$insert_id", "identifiers"),
        ("favourite_colour", "custom"),
        ("$something_new", "custom"),
    ],
)
def test_property_categories(name, category):
    assert property_category(name).key == category


def test_sources_are_explained_in_words():
    assert source_explanation("track/python 5.4.1") == (
        "Sent by the product as things happened, from its servers (Mixpanel's Python "
        "library), version 5.4.1."
    )
    assert source_explanation("import") == (
        "Imported by the product afterwards, from its own records, with no library named."
    )
    assert source_explanation("track/odd-lib") == (
        'Sent by the product as things happened, from a program using the "odd-lib" library.'
    )


def test_line_distinct_id_is_the_key_not_a_look_alike_in_the_event_name():
    line = (
        '{"event":"x,\\"distinct_id\\":\\"mallory\\"","properties":{"time":1,'
        '"distinct_id":"alice \\"a\\"","$insert_id":"i"}}\n'
    )
    assert line_distinct_id(line) == 'alice "a"'


def test_a_side_file_gives_back_each_subjects_lines_whole():
    side = SideFile()
    long_line = "é" * 300_000
    side.add(0, "a1\n")
    side.add(1, "b1\n")
    side.add(0, f"{long_line}\na3\n")
    try:
        assert list(side.lines(0)) == ["a1", long_line, "a3"]
        assert "".join(side.texts(0)) == f"a1\n{long_line}\na3\n"
        assert list(side.lines(1)) == ["b1"]
        assert list(side.lines(2)) == []
    finally:
        side.close()


def test_the_request_page_offers_each_subjects_package(people, submit, client, owner, project):
    request = reload(submit(distinct_ids=["alice", "nobody", "carol"], run=True))
    client.force_login(owner)

    page = client.get(
        reverse("privacy_web:detail", args=[project.organization_id, request.tracking_id])
    ).content.decode()

    assert "One package per person" in page
    links = re.findall(r'href="([^"]+)"[^>]*data-subject-download', page)
    assert len(links) == 3
    assert "with 2 linked ids" in page and "no data held" in page
    carol = client.get(links[2].replace("http://testserver", ""))
    assert ids_in(package_entries(b"".join(carol.streaming_content))) == {"carol"}
