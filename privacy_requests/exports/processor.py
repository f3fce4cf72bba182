"""The export processor (DESIGN section 5.2): `export_process(run) -> counts`.

It writes the whole package into a local temporary file, checkpointing as it goes (which renews
the lease and shows progress), then streams that file to private storage under a name it
recorded in `progress` beforehand. An interrupted export starts over: the next run deletes
whatever the dead one may have saved under that name, so no partial file stays in storage.
"""

import hashlib
import json
import tempfile
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from privacy_requests.audit import audit_head
from privacy_requests.engine.run import LeaseLost, Run, transition
from privacy_requests.engine.subjects import event_window, subject_chunks, subject_link_notes
from privacy_requests.exports import records
from privacy_requests.exports.files import (
    export_purge_if_deleted,
    result_file_delete,
    result_file_name,
    result_file_save,
)
from privacy_requests.exports.package import PackageWriter, iso_utc
from privacy_requests.exports.progress import PHASE, Checkpoints, LineSink, Progress
from privacy_requests.exports.readmes import readme_text
from privacy_requests.exports.subject_build import subject_packages_planned
from privacy_requests.exports.subject_groups import subject_groups
from privacy_requests.exports.subject_packages import subject_files_delete, subject_packages_record
from privacy_requests.models import Disclosure, PrivacyRequest, Status

RESULT_CLEARED: dict[str, object] = {
    "result_file": "",
    "result_size": None,
    "result_sha256": "",
    "result_expires_at": None,
    "result_purged_at": None,
    "result_purge_reason": "",
    "result_packages": [],
    "subject_packages_pending": False,
}


def export_process(run: Run) -> dict:
    request = run.request
    if run.progress.get("phase") == PHASE:
        # A run died (or failed) after naming its file: whatever it saved goes first.
        result_file_delete(run.progress.get("file", ""))
        subject_files_delete(run.progress.get("file", ""))
        result_file_delete(request.result_file)
        subject_files_delete(request.result_file)
    name = result_file_name(request, extension="zip")
    progress = Progress(run, file=name)
    progress.save(step="events", done=0, force=True)
    _result_record(run, **RESULT_CLEARED)

    with tempfile.TemporaryFile(prefix="privacy-export-") as spool:
        counts = _package_write(run, spool, progress)
        size = spool.seek(0, 2)
        sha256 = _file_sha256(spool)
        progress.save(step="saving", done=progress.total, force=True)
        spool.seek(0)
        result_file_save(name, spool)
    # Issue 17: one package per subject too, written by a job of its own once this request is
    # SUCCESS (subject_build); here only who is in which package, and the packages' names.
    groups = subject_groups(run)
    subject_packages_record(request, groups)
    packages = subject_packages_planned(name, groups)
    expires_at = timezone.now() + timedelta(seconds=settings.PRIVACY_EXPORT_TTL)
    try:
        _result_record(
            run,
            result_file=name,
            result_size=size,
            result_sha256=sha256,
            result_expires_at=expires_at,
            result_packages=packages,
            subject_packages_pending=bool(packages),
        )
    except LeaseLost:
        result_file_delete(name, quiet=True)  # the run that took over writes its own
        raise
    request.result_file = name
    request.result_packages = packages
    request.subject_packages_pending = bool(packages)
    export_purge_if_deleted(request)
    return counts


def _result_record(run: Run, **changes) -> None:
    """Result fields change only while this run holds the lease."""
    if not transition(
        run.request.id, condition=Q(status=Status.STARTED, lease_owner=run.owner), **changes
    ):
        raise LeaseLost(run.request.tracking_id)


def _file_sha256(spool: IO[bytes]) -> str:
    digest = hashlib.sha256()
    spool.seek(0)
    while block := spool.read(1024 * 1024):
        digest.update(block)
    return digest.hexdigest()


def _package_write(run: Run, spool: IO[bytes], progress: Progress) -> dict:
    request = run.request
    chunks = subject_chunks(run.subject_ids, settings.PRIVACY_SUBJECT_CHUNK)
    subjects = frozenset(run.subject_ids)
    generated_at = timezone.now()
    with PackageWriter(spool, generated_at=generated_at) as package:
        if request.disclosure == Disclosure.CATEGORIES:
            counts = _categories_write(request, package, chunks, subjects, progress)
        elif request.disclosure == Disclosure.SOURCES:
            counts = _sources_write(request, package, chunks, subjects, progress)
        else:
            counts = _data_write(request, package, chunks, subjects, progress)
        package.write_text("README.txt", readme_text(request))
        manifest = _manifest(run, counts=counts, files=package.files, generated_at=generated_at)
        package.write_text(
            "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        )
    return counts


def _data_write(
    request: PrivacyRequest,
    package: PackageWriter,
    chunks: list[list[str]],
    subjects: frozenset[str],
    progress: Progress,
) -> dict:
    done = 0
    with package.entry("events.jsonl", large=True) as out, Checkpoints(progress) as checkpoints:
        for chunk in chunks:
            sink = LineSink(out=out, progress=progress, checkpoints=checkpoints, done=done)
            records.event_lines_write(request, chunk, sink)
            checkpoints.wait()
            done += len(chunk)
            progress.save(step="events", done=done)
    events = progress.rows
    profiles = package.write_json_list(
        "profiles.json",
        _each(chunks, lambda chunk: records.profile_records(request, chunk), progress, "profiles"),
    )
    identities = package.write_json_list(
        "identities.json",
        _each(
            chunks,
            lambda chunk: records.identity_records(request, chunk, subjects),
            progress,
            "identities",
        ),
    )
    evidence = package.write_json_list(
        "identity_evidence.json",
        _each(
            chunks,
            lambda chunk: records.identity_evidence_records(request, chunk, subjects),
            progress,
            "identity_evidence",
        ),
    )
    return {
        "events": events,
        "profiles": profiles,
        "identities": identities,
        "identity_evidence": evidence,
    }


def _each(chunks, read, progress: Progress, step: str):
    """The records of every chunk in turn, with a checkpoint after each chunk."""
    done = 0
    for chunk in chunks:
        yield from read(chunk)
        done += len(chunk)
        progress.save(step=step, done=done)


def _categories_write(
    request: PrivacyRequest,
    package: PackageWriter,
    chunks: list[list[str]],
    subjects: frozenset[str],
    progress: Progress,
) -> dict:
    categories = records.Categories()
    done = 0
    for chunk in chunks:
        progress.rows += categories.add_events(request, chunk)
        categories.add_profiles(request, chunk)
        categories.add_identities(request, chunk, subjects)
        done += len(chunk)
        progress.save(step="categories", done=done)
    package.write_text(
        "categories.json", json.dumps(categories.as_json(), ensure_ascii=False, indent=2) + "\n"
    )
    return {
        "events": categories.events,
        "profiles": categories.profiles,
        "identities": categories.identities,
        "event_names": len(categories.event_names),
        "event_properties": len(categories.event_properties),
        "profile_properties": len(categories.profile_properties),
    }


def _sources_write(
    request: PrivacyRequest,
    package: PackageWriter,
    chunks: list[list[str]],
    subjects: frozenset[str],
    progress: Progress,
) -> dict:
    sources = records.Sources()
    done = 0
    profiles = identities = 0
    for chunk in chunks:
        sources.add_events(request, chunk)
        profiles += records.profile_count(request, chunk)
        identities += records.identity_count(request, chunk, subjects)
        done += len(chunk)
        progress.rows = sources.events
        progress.save(step="sources", done=done)
    package.write_text(
        "sources.json", json.dumps(sources.as_json(), ensure_ascii=False, indent=2) + "\n"
    )
    return {
        "events": sources.events,
        "profiles": profiles,
        "identities": identities,
        "sources": len(sources.seen),
    }


def _manifest(run: Run, *, counts: dict, files: dict, generated_at) -> dict:
    request = run.request
    window = event_window(request)
    given = set(run.given_ids)
    # The request's own entries (submitted, started) are in the chain already, so there is a
    # head; whoever holds the package can have the chain proved whole up to it.
    head = audit_head(organization_id=request.organization_id)
    return {
        "request": {
            "tracking_id": request.tracking_id,
            "kind": request.kind,
            "compliance": request.compliance,
            "disclosure": request.disclosure,
            "received_at": iso_utc(request.received_at),
        },
        "events_time_window": (
            {"from": iso_utc(window[0]), "to": iso_utc(window[1])} if window else None
        ),
        "subjects": {
            "given": run.given_ids,
            "linked": [distinct_id for distinct_id in run.subject_ids if distinct_id not in given],
        },
        # Issue 14: how each id came into the package (given, linked how, or included).
        "how_linked": subject_link_notes(run),
        "not_found": list(request.not_found),
        "counts": counts,
        "files": files,
        "generated_at": iso_utc(generated_at),
        "audit_chain_head": head.as_json() if head else None,
    }
