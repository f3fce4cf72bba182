"""An export whose worker is SIGKILLed mid-write: after the sweep and a new worker, one complete,
correct package is in storage and nothing else (DESIGN sections 4 and 5.2).

Real processes: `manage.py rqworker` and `manage.py privacy_sweep` with the local settings
(DEBUG off), PostgreSQL's test database, a redis-server of the test's own, and the private
storage on local disk (MEDIA_ROOT) so the test can list every file in it.
"""

import hashlib
import io
import json
import os
import socket
import urllib.request
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.actors import Actor
from privacy_requests.exports.downloads import export_download_url
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import privacy_request_submit
from projects.models import Event, IdentityKind, IdentityLink, Profile
from tests.e2e.conftest import poll_until, result_files_in, without_checkpoint
from tests.factories import EventFactory, IdentityLinkFactory, ProfileFactory, ProjectFactory

pytestmark = pytest.mark.e2e

PEOPLE = 12


@pytest.fixture
def export_env(database_url, redis_server, tmp_path) -> dict[str, str]:
    """Child processes: local settings, the test database, the test's Redis, exports written
    under a MEDIA_ROOT of the test's own and temporary files under a TMPDIR of its own."""
    (tmp_path / "media").mkdir()
    (tmp_path / "spool").mkdir()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        PYTHONPATH=str(settings.BASE_DIR),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PRIVACY_STORAGE="local",
        TMPDIR=str(tmp_path / "spool"),
        PYTHONUNBUFFERED="1",
        PRIVACY_SWEEP_INTERVAL="3600",
    )
    return env


def files_in(root: Path) -> list[str]:
    return result_files_in(root)


def seed(project) -> tuple[list[str], list[str]]:
    persons = [f"person-{n:02d}" for n in range(PEOPLE)]
    devices = [f"$device:phone-{n:02d}" for n in range(PEOPLE)]
    for n, (person, device) in enumerate(zip(persons, devices, strict=True)):
        EventFactory.create_batch(
            n % 3 + 2, project=project, distinct_id=person, properties={"n": n, "city": "Lyon"}
        )
        EventFactory(project=project, distinct_id=device, source="track/swift 4.1")
        ProfileFactory(project=project, distinct_id=person, properties={"$name": f"P{n}"})
        IdentityLinkFactory(
            project=project, distinct_id=device, canonical_id=person, kind=IdentityKind.DEVICE
        )
    EventFactory.create_batch(3, project=project, distinct_id="bystander")
    elsewhere = ProjectFactory()
    for person in persons:
        EventFactory(project=elsewhere, distinct_id=person)
    return persons, devices


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_sweep(spawn, env) -> str:
    sweep = spawn("privacy_sweep", env=env)
    assert sweep.wait(timeout=30) == 0, sweep.output()
    return without_checkpoint(sweep.wait_for_line(r"^Sweep: .*$", timeout=1).group(0))


def request_get(tracking_id: str) -> PrivacyRequest:
    return PrivacyRequest.objects.get(tracking_id=tracking_id)


def test_worker_killed_mid_write_leaves_one_complete_package_and_no_partial_file(
    export_env, spawn, owner, project, tmp_path, monkeypatch
):
    persons, devices = seed(project)
    media = tmp_path / "media"
    # Submitted here with the enqueue lost, as if Redis had dropped it: the sweep enqueues it.
    monkeypatch.setattr(
        "privacy_requests.services.submission.privacy_request_enqueue", lambda *, tracking_id: False
    )
    request = privacy_request_submit(
        project=project,
        actor=Actor(user=owner, via="api"),
        channel="api",
        kind="export",
        compliance="GDPR",
        distinct_ids=persons,
    )
    tracking_id = request.tracking_id
    slow = {
        **export_env,
        "PRIVACY_SUBJECT_CHUNK": "2",
        "PRIVACY_STEP_DELAY_SECONDS": "0.4",
        "PRIVACY_LEASE_SECONDS": "3",
    }
    assert run_sweep(spawn, export_env) == (
        "Sweep: enqueued 1, enqueue failed 0, pseudonymized 0 requests"
    )
    first = spawn("rqworker", "default", env=slow)

    def writing_events():
        progress = request_get(tracking_id).progress
        return progress.get("step") == "events" and progress.get("done", 0) >= 6

    poll_until(
        writing_events,
        timeout=30,
        interval=0.05,
        message=lambda: f"{request_get(tracking_id).progress}\n{first.output()}",
    )
    first.kill()  # the worker, its scheduler and its work-horse

    crashed = request_get(tracking_id)
    assert crashed.status == Status.STARTED
    assert crashed.progress["phase"] == "export"
    assert crashed.progress["total"] == 2 * PEOPLE
    assert crashed.result_file == ""
    named = crashed.progress["file"]
    assert named.startswith(f"{project.organization_id}/{tracking_id}/")
    assert files_in(media) == []  # the package was still being written to a local spool
    assert files_in(tmp_path / "spool") == []  # and the spool died with the process
    # Had it died while saving, part of the named file would be in storage: the next run
    # must remove it.
    (media / named).parent.mkdir(parents=True)
    (media / named).write_bytes(b"PK\x03\x04 part of a package")
    # And of a subject's package saved beside it (issue 17).
    dead_subject = named.removesuffix(".zip") + ".subject-1.zip"
    (media / dead_subject).write_bytes(b"PK\x03\x04 part of a subject's package")

    poll_until(
        lambda: request_get(tracking_id).lease_until < timezone.now(),
        timeout=10,
        message="the dead worker's lease did not run out",
    )
    assert run_sweep(spawn, export_env) == (
        "Sweep: enqueued 1, enqueue failed 0, pseudonymized 0 requests"
    )
    second = spawn("rqworker", "default", env=export_env)
    final = poll_until(
        lambda: (
            (
                ((r := request_get(tracking_id)).status == Status.FAILURE)
                or (r.status == Status.SUCCESS and not r.subject_packages_pending)
            )
            and r
        ),
        timeout=30,
        interval=0.05,
        message=lambda: second.output(),
    )

    assert final.status == Status.SUCCESS, final.error
    assert final.runs == 2
    assert files_in(media) == sorted(
        [final.result_file, *(package["file"] for package in final.result_packages)]
    )
    assert len(final.result_packages) == PEOPLE
    assert final.result_file != named
    assert files_in(tmp_path / "spool") == []
    data = (media / final.result_file).read_bytes()
    assert len(data) == final.result_size
    assert hashlib.sha256(data).hexdigest() == final.result_sha256

    subjects = persons + devices
    expected_events = Event.objects.filter(
        project=project, distinct_id__in=subjects, ingested_at__lte=final.snapshot_at
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        entries = {name: archive.read(name) for name in archive.namelist()}
    events = [json.loads(line) for line in entries["events.jsonl"].decode().splitlines()]
    assert sorted(e["properties"]["$insert_id"] for e in events) == sorted(
        expected_events.values_list("insert_id", flat=True)
    )
    assert [e["properties"]["distinct_id"] for e in events] == sorted(
        e["properties"]["distinct_id"] for e in events
    )
    profiles = json.loads(entries["profiles.json"])
    assert [p["$distinct_id"] for p in profiles] == sorted(persons)
    assert len(json.loads(entries["identities.json"])) == PEOPLE
    manifest = json.loads(entries["manifest.json"])
    counts = {
        "events": expected_events.count(),
        "profiles": Profile.objects.filter(project=project, distinct_id__in=subjects).count(),
        "identities": IdentityLink.objects.filter(
            project=project, distinct_id__in=subjects
        ).count(),
        "identity_evidence": 0,  # raw link rows (IdentityLinkFactory): no link records
    }
    assert counts == {
        "events": sum(n % 3 + 2 for n in range(PEOPLE)) + PEOPLE,
        "profiles": PEOPLE,
        "identities": PEOPLE,
        "identity_evidence": 0,
    }
    assert manifest["counts"] == final.counts == counts
    for name, described in manifest["files"].items():
        assert described == {
            "sha256": hashlib.sha256(entries[name]).hexdigest(),
            "bytes": len(entries[name]),
        }
    assert list(
        AuditEntry.objects.filter(request=final).order_by("seq").values_list("action", flat=True)
    ) == ["submitted", "staged", "started", "resumed", "succeeded"]

    # And the package downloads from a real server with a plain GET, as API clients do.
    port = unused_port()  # the free_port fixture's port is the test's Redis server's
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=export_env)
    base = f"http://127.0.0.1:{port}"
    web.wait_for_http(base + "/healthz", timeout=30)
    link = export_download_url(final, absolute_base=base)
    with urllib.request.urlopen(link, timeout=10) as answer:  # noqa: S310 - http://127.0.0.1
        assert answer.headers["Content-Disposition"] == (
            f'attachment; filename="{tracking_id}.zip"'
        )
        assert answer.read() == data
