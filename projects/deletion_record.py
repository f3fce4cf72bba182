"""A project's deletion is recorded in its organization's audit chain, which privacy_requests
keeps and projects cannot import (projects ← privacy_requests).

As for membership changes (accounts.membership_changes): projects declares what the record
holds and calls the one recorder installed at start-up (privacy_requests.apps installs the audit
chain's) inside the transaction that deletes the project, so the deletion and its record commit
together or not at all. With no recorder installed, project_delete refuses to delete.
"""

from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from accounts.actors import Actor


@dataclass(frozen=True)
class ProjectDeleted:
    organization_id: int
    project_id: int
    name: str
    # Store rows removed, by table, before the project itself went.
    removed: dict[str, int]


class ProjectDeletionRecorder(Protocol):
    def __call__(self, *, actor: Actor, deleted: ProjectDeleted) -> None: ...


_recorder: ProjectDeletionRecorder | None = None


def project_deletion_recorder_install(recorder: ProjectDeletionRecorder) -> None:
    global _recorder
    _recorder = recorder


def project_deletion_record(*, actor: Actor, deleted: ProjectDeleted) -> None:
    """Records the deletion; the caller's transaction makes it part of the deletion."""
    if _recorder is None:
        raise ImproperlyConfigured(
            "No project deletion recorder is installed: add privacy_requests to INSTALLED_APPS."
        )
    _recorder(actor=actor, deleted=deleted)
