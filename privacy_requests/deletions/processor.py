"""The deletion processor (DESIGN sections 4 and 5.3).

For the subject set recorded when the request started (the given ids, the ids the project's
rule links to them, less those a person left out, plus those a person included), it removes
events up to the snapshot, profiles, identity links and link records, and the export files of
overlapping subjects, in this order of steps:

    suppress → exports → events → profiles → identities → late_exports → receipt → finished

Each step is one short transaction that (1) renews the lease with a conditional UPDATE, so a
worker that lost the request changes nothing, (2) removes one bounded batch (at most
`PRIVACY_DELETION_BATCH` events, or one chunk of `PRIVACY_SUBJECT_CHUNK` subjects' profiles or
links), and (3) saves the progress, running totals included. The rows removed and the totals
that count them commit together, so after a crash at any point a new worker resumes from the
last committed step and the final counts are exact.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actors import SYSTEM
from privacy_requests.audit import audit_append
from privacy_requests.deletions.event_batches import EventBatches
from privacy_requests.deletions.partial_steps import (
    partial_events,
    partial_profiles,
    partial_skip,
)
from privacy_requests.deletions.receipts import (
    receipt_build,
    receipt_salt_generate,
    receipt_store,
)
from privacy_requests.deletions.suppression import suppressed_ids_store
from privacy_requests.engine.run import LeaseLost, Run, snapshot_of, transition
from privacy_requests.exports.files import export_files_purge_for_subjects
from privacy_requests.models import AuditAction, Disclosure, PrivacyRequest, Status
from projects.store import identity_of_ids_delete, profiles_of_ids_delete
from projects.store_deletes import events_delete

logger = logging.getLogger(__name__)

# Events removed per transaction; a setting can override it (crash tests use small batches).
DEFAULT_BATCH = 5000
PHASES = ("suppress", "exports", "events", "profiles", "identities", "late_exports", "receipt")
FINISHED = "finished"
TABLES = ("events", "profiles", "identities", "identity_evidence", "export_files")

Progress = dict
Work = Callable[[Progress], Progress]


def deletion_process(run: Run) -> dict:
    """Removes the subject set's data; returns the rows removed per table."""
    steps = _Steps(run)
    progress = dict(run.progress) if run.progress.get("phase") in (*PHASES, FINISHED) else None
    if progress is None:
        progress = _fresh_progress(run)
    handlers = {
        "suppress": _suppress,
        "exports": _purge_exports,
        "events": _delete_events,
        "profiles": _delete_profiles,
        "identities": _delete_identities,
        "late_exports": _purge_exports,
        "receipt": _write_receipt,
    }
    if run.request.disclosure != Disclosure.DATA:
        # Issue 18: by Categories or Sources, the events and profiles lose only the chosen part.
        handlers["events"] = lambda steps, progress: partial_events(
            steps, progress, batch=deletion_batch_size(), next_phase=_next_phase
        )
        handlers["profiles"] = lambda steps, progress: partial_profiles(
            steps, progress, next_phase=_next_phase
        )
        handlers["identities"] = lambda steps, progress: partial_skip(
            steps, progress, next_phase=_next_phase
        )
    while progress["phase"] != FINISHED:
        progress = handlers[progress["phase"]](steps, progress)
    return dict(progress["counts"])


def _fresh_progress(run: Run) -> Progress:
    suppress = (
        PrivacyRequest.objects.filter(id=run.request.id)
        .values_list("project__suppress_deleted_ids", flat=True)
        .get()
    )
    # A partial deletion keeps the ids: later records of them are still welcome.
    suppress = suppress and run.request.disclosure == Disclosure.DATA
    passes = 4 if suppress else 3
    return {
        "phase": "suppress" if suppress else "exports",
        "suppress": suppress,
        "position": 0,
        "done": 0,
        "total": passes * len(run.subject_ids),
        "counts": dict.fromkeys(TABLES, 0),
        "batches": 0,
        "longest_transaction_ms": 0.0,
    }


class _Steps:
    """Runs the processor's transactions and keeps the longest one's duration."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.longest_ms = float(run.progress.get("longest_transaction_ms", 0.0))

    def commit(
        self, progress: Progress, work: Work, on_rollback: Callable[[], None] | None = None
    ) -> Progress:
        """One transaction: renew the lease, `work(copy of progress)`, save what it returns.
        `on_rollback` undoes what the work did outside the database if it does not commit."""
        run = self.run
        started = time.monotonic()
        try:
            with transaction.atomic():
                self._hold()
                updated = work(_copy(progress))
                updated["longest_transaction_ms"] = round(self.longest_ms, 1)
                if not transition(run.request.id, condition=self._held(), progress=updated):
                    raise LeaseLost(run.request.tracking_id)
        except BaseException:
            if on_rollback is not None:
                on_rollback()
            raise
        elapsed_ms = (time.monotonic() - started) * 1000
        self.longest_ms = max(self.longest_ms, elapsed_ms)
        # _finish saves run.progress with the request's final state: the last step counts too.
        updated["longest_transaction_ms"] = round(self.longest_ms, 1)
        run.progress = updated
        logger.debug(
            "Deletion %s: %s step in %.1f ms, %s",
            run.request.tracking_id,
            progress["phase"],
            elapsed_ms,
            updated["counts"],
        )
        if settings.PRIVACY_STEP_DELAY_SECONDS:
            time.sleep(settings.PRIVACY_STEP_DELAY_SECONDS)
        return updated

    def _held(self) -> Q:
        return Q(status=Status.STARTED, lease_owner=self.run.owner)

    def _hold(self) -> None:
        # First statement of every step: it locks the request row, so no other worker can take
        # the request over while this transaction runs, and a worker whose lease was taken
        # stops here, before it removes anything.
        lease_until = timezone.now() + timedelta(seconds=settings.PRIVACY_LEASE_SECONDS)
        if not transition(self.run.request.id, condition=self._held(), lease_until=lease_until):
            raise LeaseLost(self.run.request.tracking_id)


def _copy(progress: Progress) -> Progress:
    return {**progress, "counts": dict(progress["counts"])}


def _next_phase(progress: Progress) -> Progress:
    phase = PHASES[PHASES.index(progress["phase"]) + 1]
    return {**progress, "phase": phase, "position": 0}


def _chunk_size() -> int:
    return settings.PRIVACY_SUBJECT_CHUNK


def deletion_batch_size() -> int:
    return getattr(settings, "PRIVACY_DELETION_BATCH", DEFAULT_BATCH)


def _suppress(steps: _Steps, progress: Progress) -> Progress:
    """Before any event is removed, so records that arrive meanwhile are already dropped."""
    run = steps.run
    subjects = run.subject_ids

    def store(progress: Progress) -> Progress:
        chunk = subjects[progress["position"] : progress["position"] + _chunk_size()]
        suppressed_ids_store(
            project_id=run.request.project_id, request_id=run.request.id, distinct_ids=chunk
        )
        progress["position"] += len(chunk)
        progress["done"] += len(chunk)
        if progress["position"] >= len(subjects):
            audit_append(
                organization_id=run.request.organization_id,
                actor=SYSTEM.text,
                action=AuditAction.IDS_SUPPRESSED,
                request=run.request,
                detail={"ids": len(subjects)},
            )
            progress = _next_phase(progress)
        return progress

    while progress["phase"] == "suppress":
        progress = steps.commit(progress, store)
    return progress


def _purge_exports(steps: _Steps, progress: Progress) -> Progress:
    """Once before removing rows (files that exist) and once after (exports that finished
    meanwhile). The files' purge and the count of purged files commit together."""
    run = steps.run

    def purge(progress: Progress) -> Progress:
        progress["counts"]["export_files"] += export_files_purge(
            project_id=run.request.project_id,
            distinct_ids=run.subject_ids,
            actor=SYSTEM.text,
            reason=f"deletion {run.request.tracking_id}",
        )
        return _next_phase(progress)

    return steps.commit(progress, purge)


def export_files_purge(*, project_id: int, distinct_ids: list[str], actor: str, reason: str) -> int:
    return export_files_purge_for_subjects(
        project_id=project_id, distinct_ids=distinct_ids, actor=actor, reason=reason
    )


def _delete_events(steps: _Steps, progress: Progress) -> Progress:
    """All events of the subjects up to the snapshot, whatever their time, in batches of whole
    subjects or time slices of one (deletions.event_batches), each one routed statement."""
    run = steps.run
    request = run.request
    subjects = run.subject_ids
    batches = EventBatches(
        project_id=request.project_id,
        subjects=subjects,
        size=deletion_batch_size(),
        chunk=_chunk_size(),
    )

    def remove_batch(progress: Progress) -> Progress:
        after = progress.get("after")
        batch = batches.next(
            position=progress["position"],
            after=datetime.fromisoformat(after) if after else None,
        )
        if not batch.empty:
            removed = events_delete(
                project_id=request.project_id,
                distinct_ids=batch.distinct_ids,
                snapshot_at=snapshot_of(request),
                after=batch.after,
                through=batch.through,
            )
            progress["counts"]["events"] += removed
            if removed:
                progress["batches"] += 1
        # Where the slices of a subject stand; absent between subjects.
        if batch.through is None:
            progress.pop("after", None)
        else:
            progress["after"] = batch.through.isoformat()
        progress["position"] += batch.done
        progress["done"] += batch.done
        if progress["position"] >= len(subjects):
            progress = _next_phase(progress)
        return progress

    while progress["phase"] == "events":
        progress = steps.commit(progress, remove_batch)
    return progress


def _delete_chunks(
    steps: _Steps, progress: Progress, *, delete: Callable[..., int], table: str
) -> Progress:
    """Profiles: at most one row per subject, one chunk per transaction."""
    run = steps.run
    subjects = run.subject_ids
    phase = progress["phase"]

    def remove_chunk(progress: Progress) -> Progress:
        chunk = subjects[progress["position"] : progress["position"] + _chunk_size()]
        removed = delete(project_id=run.request.project_id, distinct_ids=chunk)
        progress["counts"][table] += removed
        progress["position"] += len(chunk)
        progress["done"] += len(chunk)
        if progress["position"] >= len(subjects):
            progress = _next_phase(progress)
        return progress

    while progress["phase"] == phase:
        progress = steps.commit(progress, remove_chunk)
    return progress


def _delete_profiles(steps: _Steps, progress: Progress) -> Progress:
    return _delete_chunks(steps, progress, delete=profiles_of_ids_delete, table="profiles")


def _delete_identities(steps: _Steps, progress: Progress) -> Progress:
    """The subjects' cluster rows (ids that stay are regrouped without them) and every link
    record that names a subject: evidence is end-user data too."""
    run = steps.run
    subjects = run.subject_ids

    def remove_chunk(progress: Progress) -> Progress:
        chunk = subjects[progress["position"] : progress["position"] + _chunk_size()]
        removed = identity_of_ids_delete(project_id=run.request.project_id, distinct_ids=chunk)
        counts = progress["counts"]
        counts["identities"] += removed.links
        # .get: a deletion started before link records existed has no such count yet.
        counts["identity_evidence"] = counts.get("identity_evidence", 0) + removed.records
        progress["position"] += len(chunk)
        progress["done"] += len(chunk)
        if progress["position"] >= len(subjects):
            progress = _next_phase(progress)
        return progress

    while progress["phase"] == "identities":
        progress = steps.commit(progress, remove_chunk)
    return progress


def _write_receipt(steps: _Steps, progress: Progress) -> Progress:
    """The last step: the audit entry "deleted" and the receipt that names its hash, recorded
    on the request in the transaction that holds the lease. A worker that lost the lease stops
    at the lease check, before writing anything; if the transaction fails after the file was
    written, the file is removed (only a SIGKILL in that instant leaves a file that no request
    names, and it holds nothing but salted hashes)."""
    run = steps.run
    written: list[str] = []

    def record(progress: Progress) -> Progress:
        request = PrivacyRequest.objects.select_related("organization", "project").get(
            id=run.request.id
        )
        entry = audit_append(
            organization_id=request.organization_id,
            actor=SYSTEM.text,
            action=AuditAction.DELETED,
            request=request,
            detail={
                "counts": progress["counts"],
                "subjects": len(run.subject_ids),
                "not_found": len(request.not_found),
            },
        )
        given = set(run.given_ids)
        receipt = receipt_build(
            request=request,
            given_ids=run.given_ids,
            linked_ids=[distinct_id for distinct_id in run.subject_ids if distinct_id not in given],
            counts=progress["counts"],
            suppressed=progress["suppress"],
            entry=entry,
            salt=receipt_salt_generate(),
        )
        stored = receipt_store(request=request, receipt=receipt)
        written.append(stored.name)
        PrivacyRequest.objects.filter(id=request.id).update(
            result_file=stored.name,
            result_size=stored.size,
            result_sha256=stored.sha256,
            receipt_salt=stored.salt,
        )
        return {**progress, "phase": FINISHED, "position": 0}

    def remove_written() -> None:
        # Not committed: no request names the file, so it must not remain.
        for name in written:
            storages["private"].delete(name)

    return steps.commit(progress, record, on_rollback=remove_written)
