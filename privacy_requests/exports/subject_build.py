"""Each subject's package, written by a job of its own once the export is SUCCESS (issue 17).

The whole archive is what Mixpanel's clients wait for; the per-person packages come a few
seconds later, so the archive never waits for them (issue 16's speed targets). They are made
from the stored archive itself, not from the database: a package holds exactly the rows the
archive holds, whatever was ingested or deleted since. Until they are stored the request is
`subject_packages_pending`, its subjects have no links yet, and the sweep re-enqueues a build
whose worker died. A build is safe to run twice: it deletes what an earlier one saved, and it
records its packages only while the archive is still the one it read and not purged.
"""

import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import IO

from django.conf import settings

from privacy_requests.engine.subjects import subject_chunks
from privacy_requests.exports.files import private_storage, result_file_delete
from privacy_requests.exports.readmes import coverage_text
from privacy_requests.exports.subject_disclosures import (
    disclosure_package_write,
    disclosure_profile_counts,
    disclosure_tallies,
)
from privacy_requests.exports.subject_groups import SubjectGroup, SubjectGroups
from privacy_requests.exports.subject_packages import (
    PackageContext,
    subject_file_name,
    subject_files_delete,
    subject_package_write,
    subject_packages_save,
    subject_sources,
)
from privacy_requests.exports.subject_split import SubjectSplit
from privacy_requests.models import Disclosure, PrivacyRequest, RequestKind, Status

logger = logging.getLogger(__name__)

COPY_BLOCK = 1024 * 1024
MANIFEST_KEYS = ("request", "events_time_window", "generated_at", "audit_chain_head")


def subject_packages_planned(name: str, groups: SubjectGroups) -> list[dict]:
    """The packages' entries before they are written: names only, no size or checksum yet
    (`package_ready` tells them apart)."""
    return [
        {"file": subject_file_name(name, group.number), "bytes": None, "sha256": ""}
        for group in groups.groups
    ]


def package_ready(package: dict) -> bool:
    return package.get("bytes") is not None


def subject_packages_build(*, tracking_id: str) -> str:
    """Writes and stores the export's packages; what it did, in a few words."""
    request = PrivacyRequest.objects.filter(
        tracking_id=tracking_id, kind=RequestKind.EXPORT
    ).first()
    if request is None or not request.subject_packages_pending:
        return "nothing to build"
    name = request.result_file
    subject_files_delete(name)  # a build that died may have saved some
    if request.status != Status.SUCCESS or request.result_purged_at is not None or not name:
        PrivacyRequest.objects.filter(id=request.id).update(subject_packages_pending=False)
        return "the export has no archive any more"
    groups = recorded_subject_groups(request)
    with _archive(name) as archive:
        context = _context(request, json.loads(archive.read("manifest.json")))
        chunks = subject_chunks(list(groups.number_of), settings.PRIVACY_SUBJECT_CHUNK)
        if request.disclosure == Disclosure.DATA:
            split = SubjectSplit(groups)
            try:
                _route(archive, split)
                context.sources = subject_sources(request, chunks, groups)
                packages = _save(name, groups, context, split)
            finally:
                split.close()
        else:
            if request.disclosure == Disclosure.CATEGORIES:
                context.tallies = disclosure_tallies(request, chunks, groups)
            else:
                context.sources = subject_sources(request, chunks, groups)
                context.profile_counts = disclosure_profile_counts(request, chunks, groups)
            packages = _save(name, groups, context, None)
    if not _settle(request, name=name, packages=packages):
        for package in packages:  # purged (or replaced) while they were written
            result_file_delete(package["file"], quiet=True)
        return "the export was purged while its packages were written"
    return f"{len(packages)} packages"


def recorded_subject_groups(request: PrivacyRequest) -> SubjectGroups:
    """The subjects as the export job grouped them (RequestSubject.package), given ids first."""
    groups: dict[int, SubjectGroup] = {}
    number_of: dict[str, int] = {}
    rows = (
        request.subjects.filter(package__isnull=False)
        .order_by("position")
        .values_list("distinct_id", "package", "linked")
    )
    for distinct_id, package, linked in rows:
        number = int(package or 0)  # never None: filtered above
        group = groups.setdefault(number, SubjectGroup(number=number))
        if not linked:
            group.given.append(distinct_id)
        group.ids.append(distinct_id)
        number_of[distinct_id] = number
    return SubjectGroups(groups=[groups[n] for n in sorted(groups)], number_of=number_of)


def _settle(request: PrivacyRequest, *, name: str, packages: list[dict]) -> bool:
    """Records the stored packages, only while the archive is the one they were made from."""
    changes: dict[str, object] = {"subject_packages_pending": False}
    if packages:
        changes["result_packages"] = packages
    return bool(
        PrivacyRequest.objects.filter(
            id=request.id,
            result_file=name,
            result_purged_at__isnull=True,
            subject_packages_pending=True,
        ).update(**changes)
    )


class _archive:
    """The stored archive as a ZipFile over a local copy (S3's files do not seek cheaply)."""

    def __init__(self, name: str):
        self._copy: IO[bytes] = tempfile.TemporaryFile(prefix="privacy-archive-")
        with private_storage().open(name, "rb") as stored:
            shutil.copyfileobj(stored, self._copy, COPY_BLOCK)
        self._copy.seek(0)

    def __enter__(self) -> zipfile.ZipFile:
        self._zip = zipfile.ZipFile(self._copy)
        return self._zip

    def __exit__(self, *exc) -> None:
        self._zip.close()
        self._copy.close()


def _context(request: PrivacyRequest, manifest: dict) -> PackageContext:
    organization = request.organization
    return PackageContext(
        request=request,
        organization=organization.name,
        privacy_contact=organization.privacy_contact,
        generated_at=datetime.fromisoformat(manifest["generated_at"]),
        coverage=coverage_text(request),
        manifest={key: manifest[key] for key in MANIFEST_KEYS},
        notes={note["distinct_id"]: note for note in manifest["how_linked"]},
        not_found=frozenset(manifest["not_found"]),
    )


def _route(archive: zipfile.ZipFile, split: SubjectSplit) -> None:
    """Every record of the archive to its subject's side (none kept in memory but a file's
    profiles or links, one JSON list at a time)."""
    for _ in split.event_lines(_lines(archive, "events.jsonl")):
        pass
    for side, entry in (
        ("profiles", "profiles.json"),
        ("identities", "identities.json"),
        ("identity_evidence", "identity_evidence.json"),
    ):
        for _ in split.records(side, json.loads(archive.read(entry))):
            pass


def _lines(archive: zipfile.ZipFile, entry: str) -> Iterator[str]:
    with archive.open(entry) as stream:
        for line in stream:
            yield line.decode()


def _save(
    name: str, groups: SubjectGroups, context: PackageContext, split: SubjectSplit | None
) -> list[dict]:
    def write(target: IO[bytes], group: SubjectGroup) -> None:
        if split is not None:
            subject_package_write(target, context=context, group=group, split=split)
        else:
            disclosure_package_write(target, context=context, group=group)

    return subject_packages_save(name=name, groups=groups, write=write, checkpoint=lambda _: None)
