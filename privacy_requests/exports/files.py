"""Result files in private storage: names, saving, and purging export files.

An export file is purged (deleted from storage, the request marked, the purge audited) when it
expires, and when a deletion of any overlapping subject starts or ends, including deletions that
run while the export does (see `export_purge_if_deleted`). Deletion receipts live in the same
field of deletion requests and are never purged here.
"""

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.actors import SYSTEM
from privacy_requests.audit import audit_append
from privacy_requests.models import AuditAction, PrivacyRequest, RequestKind, RequestSubject, Status
from projects.chunking import in_chunks
from projects.pii import distinct_id_hmac

logger = logging.getLogger(__name__)

PRIVATE_STORAGE = "private"
EXPIRED = "expired"


# What a storage backend raises when it cannot do its job (local disk, S3).
STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError,)
try:
    from botocore.exceptions import BotoCoreError, ClientError

    STORAGE_ERRORS += (BotoCoreError, ClientError)
except ImportError:  # pragma: no cover - without the S3 extra
    pass


class ResultStorageError(OSError):
    """Private storage refused a result file: transient, so the engine retries it."""


def private_storage() -> Storage:
    return storages[PRIVATE_STORAGE]


def result_file_name(request: PrivacyRequest, *, extension: str) -> str:
    """`<org>/<tracking_id>/<random>.<ext>`: a new name for each attempt, never guessable."""
    return f"{request.organization_id}/{request.tracking_id}/{secrets.token_hex(16)}.{extension}"


def result_file_save(name: str, content) -> str:
    """Streams `content` (an open binary file) to private storage under exactly `name`.

    Whatever part of it reached storage is deleted again if saving fails.
    """
    storage = private_storage()
    try:
        saved = storage.save(name, File(content, name=name))
    except STORAGE_ERRORS as exc:
        result_file_delete(name, quiet=True)
        raise ResultStorageError(
            f"Could not save the file to private storage ({type(exc).__name__}: {exc})"
        ) from exc
    if saved != name:  # the storage picked another name: never expected with random names
        result_file_delete(saved, quiet=True)
        raise ResultStorageError(f"Private storage saved the file under another name: {saved}")
    return saved


def result_file_delete(name: str, *, quiet: bool = False) -> None:
    """Deletes a file from private storage; a missing file is not an error. With `quiet`,
    storage errors are logged instead of raised (cleanup after another error)."""
    if not name:
        return
    try:
        storage = private_storage()
        if storage.exists(name):
            storage.delete(name)
    except STORAGE_ERRORS:
        if not quiet:
            raise
        logger.warning("Could not delete %s from private storage", name, exc_info=True)


def _export_purge(
    request: PrivacyRequest,
    *,
    actor: str,
    reason: str,
    detail: dict | None = None,
    now: datetime | None = None,
) -> bool:
    """Deletes the export's file, then marks the request; True when this call purged it. The
    file goes first: a storage error leaves the request unmarked, to be purged again later."""
    result_file_delete(request.result_file)
    for package in request.result_packages or ():  # each subject's package (issue 17)
        result_file_delete(package.get("file", ""))
    now = now or timezone.now()
    with transaction.atomic():
        marked = PrivacyRequest.objects.filter(
            id=request.id, kind=RequestKind.EXPORT, result_purged_at__isnull=True
        ).update(result_purged_at=now, result_purge_reason=reason[:255])
        if marked != 1:
            return False
        audit_append(
            organization_id=request.organization_id,
            actor=actor,
            action=AuditAction.EXPORT_PURGED,
            request=request,
            detail={"reason": reason, **(detail or {})},
        )
    # Once more, now that it is marked: a package build that stored its files while the above
    # ran records them only on an unpurged request, so nothing of it outlives this.
    for package in request.result_packages or ():
        result_file_delete(package.get("file", ""), quiet=True)
    request.result_purged_at = now
    request.result_purge_reason = reason[:255]
    return True


def export_file_purge(request: PrivacyRequest, *, actor: str, reason: str) -> bool:
    """Purges one export's file now (audited); False when it was purged already."""
    if request.kind != RequestKind.EXPORT or not request.result_file:
        return False
    return _export_purge(request, actor=actor, reason=reason)


def _unpurged_exports():
    return (
        PrivacyRequest.objects.filter(kind=RequestKind.EXPORT, result_purged_at__isnull=True)
        .exclude(result_file="")
        .only(
            "id", "organization_id", "project_id", "tracking_id", "result_file", "result_packages"
        )
    )


def export_files_purge_for_subjects(
    *, project_id: int, distinct_ids: Sequence[str], actor: str, reason: str
) -> int:
    """Purges every export file of the project whose subjects (given or linked) overlap these
    ids; returns how many were purged. A deletion calls it when it starts and when it ends.

    Storage errors propagate, so the caller's job retries; nothing is marked purged unless its
    file is gone.
    """
    # The exports that still have a file, first: usually few or none, where matching the ids
    # against the subjects of every export the project ever made grows with its history. (An
    # export that records its file after this looks for deletions itself: it sees this one.)
    candidates = list(
        _unpurged_exports().filter(project_id=project_id).values_list("id", flat=True)
    )
    if not candidates:
        return 0
    unique = list(dict.fromkeys(distinct_ids))
    request_ids: set[int] = set()
    for chunk in in_chunks(unique):
        # Subjects of requests final for 30 days are HMACs: match those too.
        keys = chunk + [
            distinct_id_hmac(project_id=project_id, distinct_id=distinct_id)
            for distinct_id in chunk
        ]
        request_ids.update(
            RequestSubject.objects.filter(request_id__in=candidates, distinct_id__in=keys)
            .order_by()
            .values_list("request_id", flat=True)
            .distinct()
        )
    purged = 0
    for id_chunk in in_chunks(sorted(request_ids)):
        for request in _unpurged_exports().filter(id__in=id_chunk):
            purged += _export_purge(request, actor=actor, reason=reason)
    return purged


def export_purge_if_deleted(request: PrivacyRequest) -> bool:
    """A just-finished export whose subjects a deletion has been deleting since the export
    started is purged at once rather than offered: True when it was.

    With `export_files_purge_for_subjects` at a deletion's start and end this leaves no gap:
    the export records its file before it looks, the deletion marks itself STARTED before it
    purges, so whichever comes second sees the other.
    """
    subject_ids = RequestSubject.objects.filter(request_id=request.id).values("distinct_id")
    deletion = (
        PrivacyRequest.objects.filter(
            project_id=request.project_id,
            kind=RequestKind.DELETION,
            status__in=(Status.STARTED, Status.SUCCESS),
            subjects__distinct_id__in=subject_ids,
        )
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=request.started_at))
        .order_by("started_at")
        .values_list("tracking_id", flat=True)
        .first()
    )
    if deletion is None:
        return False
    return _export_purge(
        request,
        actor=SYSTEM.text,
        reason=f"deleted: a deletion of the same end user ran while it was made ({deletion})",
        detail={"deletion": deletion},
    )


def export_files_purge_expired(*, now: datetime | None = None) -> int:
    """The sweep's part: export files past `result_expires_at` are purged, reason "expired".
    A storage error skips that file until the next sweep."""
    now = now or timezone.now()
    purged = 0
    # Whatever the status: a run that failed after recording its file leaves it until then.
    expired = _unpurged_exports().filter(result_expires_at__lte=now)
    for request in expired.order_by("result_expires_at").iterator(chunk_size=100):
        try:
            purged += _export_purge(request, actor=SYSTEM.text, reason=EXPIRED, now=now)
        except STORAGE_ERRORS:
            logger.warning(
                "Could not purge the expired export %s; the next sweep retries.",
                request.tracking_id,
                exc_info=True,
            )
    return purged
