"""Export files in storage: failures, S3, purges by deletions and by expiry."""

import errno
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from accounts.actors import SYSTEM
from privacy_requests.exports import processor as export_processor
from privacy_requests.exports.downloads import export_download_url
from privacy_requests.exports.files import (
    export_files_purge_expired,
    export_files_purge_for_subjects,
)
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import privacy_request_retry, privacy_sweep
from projects.identity import LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind
from projects.pii import distinct_id_hmac
from tests.factories import ProjectFactory
from tests.privacy_requests.export_support import (
    T0,
    events_of,
    files_of,
    package_entries,
    reload,
    sha256,
    storage_names,
)

pytestmark = pytest.mark.django_db

IN_MEMORY = {"BACKEND": "django.core.files.storage.InMemoryStorage"}


@pytest.fixture(autouse=True)
def private_storage(settings):
    settings.STORAGES = {**settings.STORAGES, "private": IN_MEMORY}


def add_events(project, distinct_id, count=2):
    for n in range(count):
        Event.objects.create(
            project=project,
            distinct_id=distinct_id,
            name="Page View",
            time=T0 + timedelta(minutes=n),
            insert_id=f"{distinct_id}-{n}",
            properties={"n": n},
            ingested_at=timezone.now(),
        )


def actions(request) -> list[str]:
    return list(AuditEntry.objects.filter(request=request).values_list("action", flat=True))


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


# --- storage failures ---------------------------------------------------------------------


def test_an_unwritable_storage_ends_in_failure_with_a_reason_and_a_retry_succeeds_once_fixed(
    project, submit, settings, tmp_path, owner_actor, django_capture_on_commit_callbacks
):
    add_events(project, "alice")
    blocked = tmp_path / "exports"
    blocked.write_text("a file where the export directory should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocked / "private")},
        },
    }

    failed = reload(submit(distinct_ids=["alice"], run=True))

    assert failed.status == Status.FAILURE
    assert failed.error == (
        "Gave up after 4 tries: ResultStorageError: Could not save the file to private storage "
        f"(NotADirectoryError: [Errno 20] Not a directory: '{blocked / 'private'}')"
    )
    assert failed.result_file == ""
    assert actions(failed)[-1] == "failed"

    blocked.unlink()
    blocked.mkdir()
    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_retry(request=failed, actor=owner_actor)

    done = reload(failed)
    assert done.status == Status.SUCCESS, done.error
    assert files_under(blocked / "private") == files_of(done)
    assert done.counts == {"events": 2, "profiles": 0, "identities": 0, "identity_evidence": 0}
    data = (blocked / "private" / done.result_file).read_bytes()
    assert sha256(data) == done.result_sha256
    assert len(events_of(package_entries(data))) == 2


class DiskFullStorage(FileSystemStorage):
    """Writes part of a file, then fails as a full disk does."""

    def _save(self, name, content):
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_file_half_written_when_storage_fails_is_deleted(project, submit, settings, tmp_path):
    add_events(project, "alice")
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": f"{__name__}.DiskFullStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }

    failed = reload(submit(distinct_ids=["alice"], run=True))

    assert failed.status == Status.FAILURE
    assert failed.error == (
        "Gave up after 4 tries: ResultStorageError: Could not save the file to private storage "
        "(OSError: [Errno 28] No space left on device)"
    )
    assert files_under(tmp_path) == []


# --- S3 (moto's server mode) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto's S3-compatible server on a free port, for this module's tests."""
    moto_server = shutil.which("moto_server", path=os.path.dirname(sys.executable))
    if moto_server is None:
        pytest.skip("moto[server] is not installed: pip install -e '.[dev]'")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen(
        [moto_server, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):  # noqa: S310
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"moto_server did not start on {endpoint}")
            time.sleep(0.1)
    yield endpoint
    server.terminate()
    server.wait(timeout=10)
    log.close()


@pytest.fixture
def s3_storage(s3_endpoint, settings):
    import boto3

    bucket = f"exports-{os.urandom(4).hex()}"
    credentials = {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "region_name": "us-east-1",
    }
    client = boto3.client("s3", endpoint_url=s3_endpoint, **credentials)
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": 60,
                "signature_version": "s3v4",
                "file_overwrite": False,
            },
        },
    }
    return client, bucket


def test_an_export_to_s3_downloads_through_a_short_lived_presigned_url(
    project, submit, client, s3_storage
):
    s3, bucket = s3_storage
    add_events(project, "alice", count=3)

    export = reload(submit(distinct_ids=["alice"], run=True))

    assert export.status == Status.SUCCESS, export.error
    stored = s3.get_object(Bucket=bucket, Key=export.result_file)["Body"].read()
    assert sha256(stored) == export.result_sha256
    assert len(stored) == export.result_size

    response = client.get(export_download_url(export))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    presigned = response["Location"]
    assert presigned.startswith(f"{s3.meta.endpoint_url}/{bucket}/{export.result_file}?")
    assert "X-Amz-Expires=60" in presigned
    with urllib.request.urlopen(presigned, timeout=10) as answer:  # noqa: S310
        assert answer.headers["Content-Disposition"] == (
            f'attachment; filename="{export.tracking_id}.zip"'
        )
        data = answer.read()
    assert [e["properties"]["$insert_id"] for e in events_of(package_entries(data, pwd=b"x"))] == [
        "alice-0",
        "alice-1",
        "alice-2",
    ]
    assert actions(export)[-1] == "downloaded"

    assert (
        export_files_purge_for_subjects(
            project_id=project.id, distinct_ids=["alice"], actor="system", reason="deleted"
        )
        == 1
    )
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# --- purges by deletions ----------------------------------------------------------------------


def test_a_deletion_purges_every_export_file_of_overlapping_subjects_and_audits_it(project, submit):
    identity_links_apply(
        project=project, links=[LinkRequest("$device:phone", "alice", IdentityKind.DEVICE)]
    )
    add_events(project, "alice")
    add_events(project, "bob")
    alice = reload(submit(distinct_ids=["alice"], run=True))  # "$device:phone" linked
    both = reload(submit(distinct_ids=["bob", "alice"], run=True))
    bob = reload(submit(distinct_ids=["bob"], run=True))
    elsewhere = ProjectFactory(organization=project.organization)
    add_events(elsewhere, "$device:phone")
    files_before = storage_names()

    purged = export_files_purge_for_subjects(
        project_id=project.id,
        distinct_ids=["$device:phone", "nobody"],
        actor="system",
        reason="deleted by deletion request d-1",
    )

    assert purged == 2
    for request in (alice, both):
        request = reload(request)
        assert request.result_purged_at is not None
        assert request.result_purge_reason == "deleted by deletion request d-1"
        assert actions(request)[-1] == "export_purged"
        entry = AuditEntry.objects.get(request=request, action="export_purged")
        assert (entry.actor, entry.detail) == (
            "system",
            {"reason": "deleted by deletion request d-1"},
        )
    assert reload(bob).result_purged_at is None
    assert storage_names() == sorted(set(files_before) - set(files_of(alice, both)))
    assert storage_names() == files_of(bob)
    # Already purged: nothing more to do.
    assert (
        export_files_purge_for_subjects(
            project_id=project.id, distinct_ids=["alice"], actor="system", reason="again"
        )
        == 0
    )


def test_a_purge_finds_exports_whose_subjects_are_pseudonymized(project, submit):
    add_events(project, "alice")
    export = reload(submit(distinct_ids=["alice"], run=True))
    export.subjects.update(distinct_id=distinct_id_hmac(project_id=project.id, distinct_id="alice"))

    assert (
        export_files_purge_for_subjects(
            project_id=project.id, distinct_ids=["alice"], actor="system", reason="deleted"
        )
        == 1
    )
    assert storage_names() == []


def test_a_purge_never_touches_deletion_receipts(project, submit):
    deletion = submit(distinct_ids=["alice"], kind="deletion")
    name = f"{project.organization_id}/{deletion.tracking_id}/receipt.json"
    storages["private"].save(name, ContentFile(b"{}"))
    PrivacyRequest.objects.filter(id=deletion.id).update(status=Status.SUCCESS, result_file=name)

    assert (
        export_files_purge_for_subjects(
            project_id=project.id, distinct_ids=["alice"], actor="system", reason="deleted"
        )
        == 0
    )
    assert storage_names() == [name]


def _deletion_started(submit, distinct_ids):
    deletion = submit(distinct_ids=distinct_ids, kind="deletion")
    PrivacyRequest.objects.filter(id=deletion.id).update(
        status=Status.STARTED, started_at=timezone.now()
    )
    return deletion


def test_an_export_that_finishes_while_a_deletion_of_its_subject_runs_is_purged_at_once(
    project, submit, monkeypatch
):
    identity_links_apply(
        project=project, links=[LinkRequest("alias-of-alice", "alice", IdentityKind.ALIAS)]
    )
    add_events(project, "alice")
    deletions = []
    real_save = export_processor.result_file_save

    def deletion_starts_meanwhile(name, content):
        deletions.append(_deletion_started(submit, ["alias-of-alice"]))
        return real_save(name, content)

    monkeypatch.setattr(export_processor, "result_file_save", deletion_starts_meanwhile)

    export = reload(submit(distinct_ids=["alice"], run=True))

    assert export.status == Status.SUCCESS
    assert export.result_purged_at is not None
    assert export.result_purge_reason == (
        "deleted: a deletion of the same end user ran while it was made "
        f"({deletions[0].tracking_id})"
    )
    assert storage_names() == []
    assert export_download_url(export) == ""
    assert actions(export)[-2:] == ["export_purged", "succeeded"]
    purge = AuditEntry.objects.get(request=export, action="export_purged")
    assert purge.actor == SYSTEM.text
    assert purge.detail["deletion"] == deletions[0].tracking_id


def test_an_export_finishing_after_a_deletion_that_started_before_it_is_purged(project, submit):
    add_events(project, "alice")
    _deletion_started(submit, ["alice"])

    export = reload(submit(distinct_ids=["alice"], run=True))

    assert export.result_purged_at is not None
    assert storage_names() == []


def test_an_export_is_kept_after_an_earlier_deletion_or_one_of_someone_else(project, submit):
    add_events(project, "alice")
    finished = submit(distinct_ids=["alice"], kind="deletion")
    PrivacyRequest.objects.filter(id=finished.id).update(
        status=Status.SUCCESS,
        started_at=timezone.now() - timedelta(hours=2),
        finished_at=timezone.now() - timedelta(hours=1),
    )
    _deletion_started(submit, ["bob"])

    export = reload(submit(distinct_ids=["alice"], run=True))

    assert export.result_purged_at is None
    assert storage_names() == files_of(export)


# --- expiry -------------------------------------------------------------------------------------


def test_the_sweep_purges_export_files_past_their_expiry(project, submit, settings):
    settings.PRIVACY_EXPORT_TTL = 3600
    add_events(project, "alice")
    old = reload(submit(distinct_ids=["alice"], run=True))
    deletion = submit(distinct_ids=["bob"], kind="deletion")
    receipt = f"{project.organization_id}/{deletion.tracking_id}/receipt.json"
    storages["private"].save(receipt, ContentFile(b"{}"))
    PrivacyRequest.objects.filter(id=deletion.id).update(
        status=Status.SUCCESS,
        result_file=receipt,
        result_expires_at=timezone.now() + timedelta(seconds=10),
    )

    with time_machine.travel(old.result_expires_at - timedelta(seconds=30)):
        assert privacy_sweep().purged_exports == 0
    with time_machine.travel(old.result_expires_at + timedelta(minutes=30)):
        fresh = reload(submit(distinct_ids=["alice"], run=True))
        report = privacy_sweep()

    assert report.purged_exports == 1
    assert ", purged 1 expired export files" in report.as_text()
    old = reload(old)
    assert old.result_purge_reason == "expired"
    assert old.result_purged_at is not None
    entry = AuditEntry.objects.get(request=old, action="export_purged")
    assert (entry.actor, entry.detail) == ("system", {"reason": "expired"})
    assert storage_names() == sorted([*files_of(reload(fresh)), receipt])
    assert reload(fresh).result_purged_at is None
    assert export_files_purge_expired() == 0


def test_an_expired_file_that_storage_cannot_delete_is_retried_by_the_next_sweep(
    project, submit, monkeypatch
):
    add_events(project, "alice")
    export = reload(submit(distinct_ids=["alice"], run=True))
    PrivacyRequest.objects.filter(id=export.id).update(
        result_expires_at=timezone.now() - timedelta(seconds=1)
    )
    storage = storages["private"]

    def broken(name):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(storage, "delete", broken)
    assert export_files_purge_expired() == 0
    assert reload(export).result_purged_at is None
    monkeypatch.undo()

    assert export_files_purge_expired() == 1
    assert storage_names() == []
