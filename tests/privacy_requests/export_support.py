"""Helpers of the export tests: read a package back from private storage."""

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime

from django.core.files.storage import storages

from privacy_requests.models import PrivacyRequest
from privacy_requests.services.audit_checkpoints import CHECKPOINT_DIR

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def reload(request: PrivacyRequest) -> PrivacyRequest:
    return PrivacyRequest.objects.get(id=request.id)


def stored_bytes(name: str) -> bytes:
    with storages["private"].open(name, "rb") as stored:
        return stored.read()


def package_entries(data: bytes, *, pwd: bytes | None = None) -> dict[str, bytes]:
    """Every entry of a ZIP, by name, read back the way an API client does."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name, pwd=pwd) for name in archive.namelist()}


def package_of(request: PrivacyRequest) -> dict[str, bytes]:
    return package_entries(stored_bytes(reload(request).result_file))


def events_of(entries: dict[str, bytes]) -> list[dict]:
    return [json.loads(line) for line in entries["events.jsonl"].decode().splitlines()]


def manifest_of(entries: dict[str, bytes]) -> dict:
    return json.loads(entries["manifest.json"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def storage_names(storage=None, directory: str = "") -> list[str]:
    """Every file in a storage, recursively, but the sweep's audit checkpoints."""
    storage = storage or storages["private"]
    folders, files = storage.listdir(directory)
    names = [f"{directory}{name}" for name in files]
    for folder in folders:
        if directory == "" and folder == CHECKPOINT_DIR:
            continue
        names += storage_names(storage, f"{directory}{folder}/")
    return sorted(names)


def files_of(*requests: PrivacyRequest) -> list[str]:
    """The files an export keeps in storage: its whole archive and each subject's package
    stored so far (they are written by a job of their own after SUCCESS)."""
    names: list[str] = []
    for request in requests:
        names.append(request.result_file)
        names += [p["file"] for p in request.result_packages if p.get("bytes") is not None]
    return sorted(names)


def subject_packages_of(request: PrivacyRequest) -> list[dict[str, bytes]]:
    return [
        package_entries(stored_bytes(package["file"]))
        for package in reload(request).result_packages
    ]
