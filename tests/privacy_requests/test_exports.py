"""Export packages: what they hold (DESIGN section 5.2)."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from privacy_requests.exports.package import DEFLATE_LEVEL, iso_utc
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services.processing import _claim, privacy_request_process
from projects.identity import LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, IdentityLink, Profile
from tests.factories import ProjectFactory
from tests.privacy_requests.export_support import (
    T0,
    events_of,
    files_of,
    manifest_of,
    package_entries,
    package_of,
    reload,
    sha256,
    storage_names,
    stored_bytes,
)

pytestmark = pytest.mark.django_db

ALICE_CLUSTER = ["$device:phone", "alice", "alice@example.com", "legacy-alice"]


@pytest.fixture(autouse=True)
def private_storage(settings):
    """A fresh in-memory private storage for each test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }


def event(
    project,
    distinct_id,
    *,
    name="Page View",
    at=T0,
    insert_id,
    properties=None,
    source="track/python 5.4.1",
):
    return Event.objects.create(
        project=project,
        distinct_id=distinct_id,
        name=name,
        time=at,
        insert_id=insert_id,
        properties=properties or {},
        source=source,
        ingested_at=timezone.now(),
    )


def profile(project, distinct_id, properties):
    return Profile.objects.create(
        project=project, distinct_id=distinct_id, properties=properties, updated_at=timezone.now()
    )


@pytest.fixture
def people(project):
    """Alice with an alias, a device and a merged legacy id; Bob with an identified anonymous
    id; Carol alone; and Alice's namesake in another project."""
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alice@example.com", "alice", IdentityKind.ALIAS),
            LinkRequest("$device:phone", "alice", IdentityKind.DEVICE),
            LinkRequest("legacy-alice", "alice", IdentityKind.MERGE),
            LinkRequest("bob-anon", "bob", IdentityKind.IDENTIFY),
        ],
    )
    minute = timedelta(minutes=1)
    event(
        project,
        "alice",
        name="Purchase",
        at=T0 + 2 * minute,
        insert_id="a-2",
        properties={"price": 1234.75, "$city": "Paris", "time": 1, "distinct_id": "forged"},
    )
    event(project, "alice", at=T0, insert_id="a-1", properties={"page": "/é"})
    event(project, "alice@example.com", at=T0 + minute, insert_id="alias-1")
    event(project, "$device:phone", at=T0 + 3 * minute, insert_id="dev-2")
    event(
        project,
        "$device:phone",
        at=T0 - minute,
        insert_id="dev-1",
        properties={"$device_id": "phone-uuid-value"},
        source="track/swift 4.1",
    )
    event(project, "legacy-alice", at=T0, insert_id="legacy-1")
    for insert_id, distinct_id in (("b-1", "bob"), ("b-2", "bob-anon"), ("c-1", "carol")):
        event(
            project,
            distinct_id,
            at=T0,
            insert_id=insert_id,
            properties={"secret": f"{distinct_id}-secret"},
        )
    other_project = ProjectFactory(organization=project.organization)
    event(other_project, "alice", at=T0, insert_id="other-project-1")
    profile(project, "alice", {"$email": "alice.smith@mail.example", "$name": "Alice"})
    profile(project, "legacy-alice", {"plan": "legacy-plan-value"})
    profile(project, "bob", {"$name": "Bob"})
    profile(other_project, "alice", {"$name": "Other Alice"})
    return project


def test_a_data_package_holds_exactly_the_clusters_records_and_nothing_of_anyone_else(
    people, submit
):
    request = reload(submit(distinct_ids=["alice@example.com", "ghost"], run=True))

    assert request.status == Status.SUCCESS, request.error
    entries = package_of(request)
    assert sorted(entries) == [
        "README.txt",
        "events.jsonl",
        "identities.json",
        "identity_evidence.json",
        "manifest.json",
        "profiles.json",
    ]
    events = events_of(entries)
    # Ordered by distinct_id (code points), then time, then id.
    assert [(e["properties"]["distinct_id"], e["properties"]["$insert_id"]) for e in events] == [
        ("$device:phone", "dev-1"),
        ("$device:phone", "dev-2"),
        ("alice", "a-1"),
        ("alice", "a-2"),
        ("alice@example.com", "alias-1"),
        ("legacy-alice", "legacy-1"),
    ]
    assert events[3] == {
        "event": "Purchase",
        "properties": {
            "time": int((T0 + timedelta(minutes=2)).timestamp()),
            "distinct_id": "alice",
            "$insert_id": "a-2",
            "price": 1234.75,
            "$city": "Paris",
        },
    }
    assert events[0] == {
        "event": "Page View",
        "properties": {
            "time": int((T0 - timedelta(minutes=1)).timestamp()),
            "distinct_id": "$device:phone",
            "$insert_id": "dev-1",
            "$device_id": "phone-uuid-value",
        },
    }
    assert events[2]["properties"]["page"] == "/é"
    assert json.loads(entries["profiles.json"]) == [
        {
            "$distinct_id": "alice",
            "$properties": {"$email": "alice.smith@mail.example", "$name": "Alice"},
        },
        {"$distinct_id": "legacy-alice", "$properties": {"plan": "legacy-plan-value"}},
    ]
    linked_at = {
        distinct_id: iso_utc(at)
        for distinct_id, at in IdentityLink.objects.values_list("distinct_id", "created_at")
    }
    # The people fixture links in-process (trusted code): authenticated, endpoint "internal".
    assert json.loads(entries["identities.json"]) == [
        {
            "distinct_id": distinct_id,
            "canonical_id": "alice",
            "kind": kind,
            "linked_at": linked_at[distinct_id],
            "authenticated": True,
            "endpoint": "internal",
        }
        for distinct_id, kind in [
            ("$device:phone", "device"),
            ("alice@example.com", "alias"),
            ("legacy-alice", "merge"),
        ]
    ]
    assert [
        (record["distinct_id"], record["canonical_id"], record["outcome"], record["count"])
        for record in json.loads(entries["identity_evidence.json"])
    ] == [
        ("$device:phone", "alice", "formed", 1),
        ("alice@example.com", "alice", "formed", 1),
        ("legacy-alice", "alice", "formed", 1),
    ]
    everything = b"".join(entries.values())
    for someone_else in (b"bob", b"carol", b"other-project-1", b"Other Alice", b"-secret"):
        assert someone_else not in everything
    assert request.counts == {"events": 6, "profiles": 2, "identities": 3, "identity_evidence": 3}
    assert request.not_found == ["ghost"]


def test_the_manifest_describes_the_request_subjects_counts_and_checksums(people, submit):
    received = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    request = reload(
        submit(distinct_ids=["alice@example.com", "ghost"], received_at=received, run=True)
    )

    entries = package_of(request)
    manifest = manifest_of(entries)
    generated_at = manifest.pop("generated_at")

    def how(distinct_id):
        link = IdentityLink.objects.get(project=people, distinct_id=distinct_id)
        return {
            "kind": link.kind,
            "outcome": "formed",
            "reason": "",
            "authenticated": True,
            "endpoint": "internal",
            "at": iso_utc(link.created_at),
            "other_id": "alice",
        }

    files = manifest.pop("files")
    head = manifest.pop("audit_chain_head")
    assert manifest == {
        "request": {
            "tracking_id": request.tracking_id,
            "kind": "export",
            "compliance": "GDPR",
            "disclosure": "Data",
            "received_at": "2026-02-01T12:00:00Z",
        },
        "events_time_window": None,
        "subjects": {
            "given": ["alice@example.com", "ghost"],
            "linked": ["$device:phone", "alice", "legacy-alice"],
        },
        "how_linked": [
            {"distinct_id": "alice@example.com", "via": "given", "link": how("alice@example.com")},
            {"distinct_id": "ghost", "via": "given"},
            {"distinct_id": "$device:phone", "via": "linked", "link": how("$device:phone")},
            {"distinct_id": "alice", "via": "linked"},
            {"distinct_id": "legacy-alice", "via": "linked", "link": how("legacy-alice")},
        ],
        "not_found": ["ghost"],
        "counts": {"events": 6, "profiles": 2, "identities": 3, "identity_evidence": 3},
    }
    assert request.started_at <= datetime.fromisoformat(generated_at) <= request.finished_at
    assert files == {
        name: {"sha256": sha256(data), "bytes": len(data)}
        for name, data in entries.items()
        if name != "manifest.json"
    }
    readme = entries["README.txt"].decode()
    assert request.tracking_id in readme
    assert "It covers all the data held, whatever its age." in readme
    # The chain's head while the package was written: the request's "started" entry.
    started = AuditEntry.objects.get(request=request, action="started")
    succeeded = AuditEntry.objects.get(request=request, action="succeeded")
    assert succeeded.seq == started.seq + 1
    organization_id = request.organization_id
    assert head == {
        "organization": organization_id,
        "seq": started.seq,
        "hash": started.hash,
        "algorithm": "HMAC-SHA256(PRIVACY_AUDIT_KEY, prev_hash || canonical JSON of the entry)",
        "meaning": (
            "The last entry of the organization's audit chain when this file was written. "
            "The chain only grows: as long as it exists it must hold this entry with exactly "
            "this hash. If it does not, entries were deleted from it or rewritten. The "
            "operator checks it with the command in 'verify'."
        ),
        "verify": (
            f"python manage.py audit_verify --org {organization_id} "
            f"--expect-head {started.seq}:{started.hash}"
        ),
    }
    assert 'Its "audit_chain_head" names the latest entry of our tamper-evident log' in " ".join(
        readme.split()
    )


def test_the_result_file_is_recorded_with_size_checksum_and_expiry(people, submit, settings):
    settings.PRIVACY_EXPORT_TTL = 3600
    request = reload(submit(distinct_ids=["alice"], run=True))

    data = stored_bytes(request.result_file)
    org, tracking_id, file_name = request.result_file.split("/")
    assert (org, tracking_id) == (str(request.organization_id), request.tracking_id)
    assert len(file_name) == len("0123456789abcdef0123456789abcdef.zip")
    assert storage_names() == files_of(request)
    assert request.result_size == len(data)
    assert request.result_sha256 == sha256(data)
    assert request.result_purged_at is None
    ttl = timedelta(seconds=3600)
    assert request.finished_at - ttl - timedelta(seconds=1) < request.result_expires_at - ttl
    assert request.result_expires_at - ttl <= request.finished_at
    assert request.progress == {
        "phase": "export",
        "step": "saving",
        "done": 4,
        "total": 4,
        "rows": 6,
        "file": request.result_file,
    }


def test_the_package_is_one_unencrypted_deflated_zip(people, submit):
    import zipfile
    from io import BytesIO

    request = reload(submit(distinct_ids=["alice"], run=True))

    with zipfile.ZipFile(BytesIO(stored_bytes(request.result_file))) as archive:
        infos = archive.infolist()
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}
    assert {info.flag_bits & 0x1 for info in infos} == {0}  # no entry is encrypted
    assert DEFLATE_LEVEL == 6


def test_ccpa_excludes_an_event_one_second_before_the_window_and_includes_one_at_its_start(
    project, submit
):
    received = datetime(2026, 3, 15, 10, 0, 0, tzinfo=UTC)
    window_start = datetime(2025, 3, 15, 10, 0, 0, tzinfo=UTC)
    for insert_id, at in (
        ("before", window_start - timedelta(seconds=1)),
        ("start", window_start),
        ("end", received),
        ("after", received + timedelta(seconds=1)),
    ):
        event(project, "alice", at=at, insert_id=insert_id)
    profile(project, "alice", {"$name": "Alice"})

    ccpa = reload(submit(compliance="CCPA", received_at=received, run=True))
    gdpr = reload(submit(compliance="GDPR", received_at=received, run=True))

    ccpa_entries = package_of(ccpa)
    assert [e["properties"]["$insert_id"] for e in events_of(ccpa_entries)] == ["start", "end"]
    assert [e["properties"]["time"] for e in events_of(ccpa_entries)] == [
        int(window_start.timestamp()),
        int(received.timestamp()),
    ]
    assert manifest_of(ccpa_entries)["events_time_window"] == {
        "from": "2025-03-15T10:00:00Z",
        "to": "2026-03-15T10:00:00Z",
    }
    assert ccpa.counts == {"events": 2, "profiles": 1, "identities": 0, "identity_evidence": 0}
    assert "2025-03-15T10:00:00Z to 2026-03-15T10:00:00Z" in ccpa_entries["README.txt"].decode()
    assert [e["properties"]["$insert_id"] for e in events_of(package_of(gdpr))] == [
        "before",
        "start",
        "end",
        "after",
    ]


def test_categories_hold_names_and_counts_and_no_value(people, submit):
    request = reload(
        submit(
            distinct_ids=["alice"],
            compliance="CCPA",
            disclosure="Categories",
            received_at=T0 + timedelta(days=1),
            run=True,
        )
    )

    assert request.status == Status.SUCCESS, request.error
    entries = package_of(request)
    assert sorted(entries) == ["README.txt", "categories.json", "manifest.json"]
    assert json.loads(entries["categories.json"]) == {
        "events": {
            "count": 6,
            "names": [{"name": "Page View", "count": 5}, {"name": "Purchase", "count": 1}],
            "properties": [
                {"name": "$city", "count": 1},
                {"name": "$device_id", "count": 1},
                {"name": "$insert_id", "count": 6},
                {"name": "distinct_id", "count": 6},
                {"name": "page", "count": 1},
                {"name": "price", "count": 1},
                {"name": "time", "count": 6},
            ],
        },
        "profiles": {
            "count": 2,
            "properties": [
                {"name": "$email", "count": 1},
                {"name": "$name", "count": 1},
                {"name": "plan", "count": 1},
            ],
        },
        "identities": {
            "count": 3,
            "kinds": [
                {"kind": "alias", "count": 1},
                {"kind": "device", "count": 1},
                {"kind": "merge", "count": 1},
            ],
        },
    }
    everything = b"".join(entries.values())
    for value in (
        b"Paris",
        b"1234.75",
        b"/\xc3\xa9",
        b'Alice"',
        b"plan-value",
        b"phone-uuid-value",
        b"alice.smith@mail.example",
        b"forged",
    ):
        assert value not in everything
    assert request.counts == {
        "events": 6,
        "profiles": 2,
        "identities": 3,
        "event_names": 2,
        "event_properties": 7,
        "profile_properties": 3,
    }
    assert manifest_of(entries)["counts"] == request.counts


def test_sources_list_each_source_with_first_and_last_seen_and_counts(people, submit):
    request = reload(
        submit(
            distinct_ids=["alice"],
            compliance="CCPA",
            disclosure="Sources",
            received_at=T0 + timedelta(days=1),
            run=True,
        )
    )

    entries = package_of(request)
    assert sorted(entries) == ["README.txt", "manifest.json", "sources.json"]
    assert json.loads(entries["sources.json"]) == [
        {
            "source": "track/python 5.4.1",
            "first_seen": "2026-01-01T00:00:00Z",
            "last_seen": "2026-01-01T00:03:00Z",
            "count": 5,
        },
        {
            "source": "track/swift 4.1",
            "first_seen": "2025-12-31T23:59:00Z",
            "last_seen": "2025-12-31T23:59:00Z",
            "count": 1,
        },
    ]
    assert request.counts == {"events": 6, "profiles": 2, "identities": 3, "sources": 2}
    files = manifest_of(entries)["files"]
    assert files["sources.json"]["sha256"] == sha256(entries["sources.json"])


def test_ids_without_data_are_listed_as_not_found_and_the_request_succeeds(project, submit):
    request = reload(submit(distinct_ids=["nobody", "no-one"], run=True))

    assert request.status == Status.SUCCESS
    entries = package_of(request)
    assert entries["events.jsonl"] == b""
    assert json.loads(entries["profiles.json"]) == []
    assert json.loads(entries["identities.json"]) == []
    assert json.loads(entries["identity_evidence.json"]) == []
    assert manifest_of(entries)["not_found"] == ["nobody", "no-one"]
    assert request.counts == {"events": 0, "profiles": 0, "identities": 0, "identity_evidence": 0}


def saved_progress(monkeypatch) -> list[tuple[str, int, int]]:
    saved: list[tuple[str, int, int]] = []
    from privacy_requests.engine.run import Run

    real_checkpoint = Run.checkpoint

    def record(run, progress):
        saved.append((progress["step"], progress["done"], progress["rows"]))
        real_checkpoint(run, progress)

    monkeypatch.setattr(Run, "checkpoint", record)
    return saved


def test_progress_is_saved_at_most_every_interval_but_always_at_start_and_end(
    project, submit, settings, monkeypatch
):
    settings.PRIVACY_SUBJECT_CHUNK = 2
    settings.PRIVACY_PROGRESS_INTERVAL = 60
    for distinct_id in ("user1", "user2", "user3"):
        event(project, distinct_id, insert_id=f"{distinct_id}-1")
    saved = saved_progress(monkeypatch)

    request = reload(submit(distinct_ids=["user1", "user2", "user3"], run=True))

    assert request.status == Status.SUCCESS
    assert saved == [("events", 0, 0), ("saving", 3, 3)]


def test_progress_is_checkpointed_per_chunk_of_subjects(project, submit, settings, monkeypatch):
    settings.PRIVACY_SUBJECT_CHUNK = 2
    settings.PRIVACY_PROGRESS_INTERVAL = 0
    ids = [f"user{n}" for n in range(5)]
    for distinct_id in ids:
        event(project, distinct_id, insert_id=f"{distinct_id}-1")
    saved: list[tuple[str, int, int]] = []
    from privacy_requests.engine.run import Run

    real_checkpoint = Run.checkpoint

    def record(run, progress):
        saved.append((progress["step"], progress["done"], progress["rows"]))
        real_checkpoint(run, progress)

    monkeypatch.setattr(Run, "checkpoint", record)

    request = reload(submit(distinct_ids=ids, run=True))

    assert request.status == Status.SUCCESS
    assert saved == [
        ("events", 0, 0),
        ("events", 2, 2),
        ("events", 4, 4),
        ("events", 5, 5),
        ("profiles", 2, 5),
        ("profiles", 4, 5),
        ("profiles", 5, 5),
        ("identities", 2, 5),
        ("identities", 4, 5),
        ("identities", 5, 5),
        ("identity_evidence", 2, 5),
        ("identity_evidence", 4, 5),
        ("identity_evidence", 5, 5),
        ("saving", 5, 5),
    ]


def test_events_after_the_snapshot_are_not_exported(project, submit):
    event(project, "alice", insert_id="early")
    request = submit(distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    run = _claim(reload(request))
    event(project, "alice", insert_id="late", at=T0 + timedelta(hours=1))
    from privacy_requests.exports.processor import export_process

    counts = export_process(run)

    assert counts["events"] == 1
    assert [e["properties"]["$insert_id"] for e in events_of(package_of(request))] == ["early"]


def test_an_interrupted_export_starts_over_and_deletes_the_file_the_dead_run_saved(people, submit):
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    request = submit(distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    dead = _claim(reload(request))
    # The dead run had named its file and saved part of it.
    half = f"{request.organization_id}/{request.tracking_id}/half.zip"
    storages["private"].save(half, ContentFile(b"PK\x03\x04 half a package"))
    dead.checkpoint(
        {"phase": "export", "step": "saving", "done": 4, "total": 4, "rows": 6, "file": half}
    )
    PrivacyRequest.objects.filter(id=request.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS

    finished = reload(request)
    assert finished.runs == 2
    assert storage_names() == files_of(finished)
    assert finished.result_file != half
    assert finished.counts == {
        "events": 6,
        "profiles": 2,
        "identities": 3,
        "identity_evidence": 3,
    }
    assert len(events_of(package_of(finished))) == 6
    assert list(AuditEntry.objects.filter(request=finished).values_list("action", flat=True)) == [
        "submitted",
        "started",
        "resumed",
        "succeeded",
    ]


def test_a_run_that_lost_its_lease_leaves_no_file(people, submit):
    from privacy_requests.engine.run import LeaseLost
    from privacy_requests.exports.processor import export_process

    request = submit(distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    run = _claim(reload(request))
    PrivacyRequest.objects.filter(id=request.id).update(lease_owner="someone-else")

    with pytest.raises(LeaseLost):
        export_process(run)

    assert storage_names() == []
    assert reload(request).result_file == ""


def test_a_package_read_by_an_api_client_with_a_password(people, submit):
    request = reload(submit(distinct_ids=["alice"], run=True))

    entries = package_entries(stored_bytes(request.result_file), pwd=b"secret")

    assert len(events_of(entries)) == 6


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the server-made lines are PostgreSQL's; SQLite uses the Python lines",
)
def test_the_lines_postgresql_makes_are_the_lines_python_makes(project):
    from django.db.models import F
    from django.db.models.functions import Collate

    from privacy_requests.exports.records import (
        StoredPropertiesText,
        event_line,
        event_lines_copy,
    )

    tricky = [
        'quote " back \\ slash',
        "tab\tnew\nline\r",
        "control \x01\x1f\x7f",
        "é 中文 🙂",
        "line\u2028separator",
        "",
    ]
    for n, text in enumerate(tricky):
        event(
            project,
            text or "plain",
            name=text or "Event",
            insert_id=f"i-{n}",
            at=datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC) + timedelta(days=n * 999),
            properties={} if n % 2 else {"s": text, "list": [1, {"b": None}], "time": 1},
        )
    rows = Event.objects.filter(project=project).order_by(Collate(F("distinct_id"), "C"), "time")
    # As the export streams them: COPY's text format, its escapes undone.
    copied = io.BytesIO()
    event_lines_copy(
        project_id=project.id,
        distinct_ids=[*tricky[:-1], "plain"],
        snapshot_at=max(e.ingested_at for e in rows),
        window=None,
        out=copied,
    )

    made_by_server = copied.getvalue().decode().split("\n")[:-1]  # not splitlines: U+2028
    made_by_python = [
        event_line(
            distinct_id=distinct_id, name=name, time=time, insert_id=insert_id, rest=rest
        ).rstrip("\n")
        for distinct_id, name, time, insert_id, rest in rows.values_list(
            "distinct_id", "name", "time", "insert_id", StoredPropertiesText("properties")
        )
    ]

    assert len(made_by_server) == 6
    assert made_by_server == made_by_python
    made_by_server = [line for line in made_by_server if '"$insert_id":"i-0"' in line]
    assert json.loads(made_by_server[0])["properties"] == {
        "time": -1,
        "distinct_id": tricky[0],
        "$insert_id": "i-0",
        "s": tricky[0],
        "list": [1, {"b": None}],
    }


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="on PostgreSQL the events stream through COPY, and checkpoints take a thread",
)
@pytest.mark.django_db(transaction=True)
def test_an_export_checkpoints_on_a_connection_of_its_own_while_its_events_stream(
    project, submit, monkeypatch
):
    import threading

    from privacy_requests.engine.run import Run

    monkeypatch.setattr("privacy_requests.exports.progress.CHECKPOINT_ROWS", 2)
    for n in range(5):
        event(project, "alice", insert_id=f"e-{n}", at=T0 + timedelta(minutes=n))
    saved = []
    checkpoint = Run.checkpoint

    def spied(run, progress):
        saved.append((threading.current_thread() is threading.main_thread(), progress["rows"]))
        checkpoint(run, progress)

    monkeypatch.setattr(Run, "checkpoint", spied)

    request = submit(distinct_ids=["alice"], run=True)

    final = reload(request)
    assert final.status == Status.SUCCESS
    assert final.counts["events"] == 5
    assert [e["properties"]["$insert_id"] for e in events_of(package_of(final))] == [
        f"e-{n}" for n in range(5)
    ]
    # Mid-COPY, on the thread: after the 2nd and the 4th line; the rest here, between steps.
    assert [rows for here, rows in saved if not here] == [2, 4]
    assert all(rows == 5 for here, rows in saved[-3:] if here)
