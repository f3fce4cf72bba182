"""Writes of projects: projects, their API secrets, their deletion, and service accounts' grants
to them.

Secrets are returned once; only their hash (and, for the API secret, its keyed lookup value) is
kept.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, models, transaction
from django.db.models.deletion import Collector, ProtectedError, RestrictedError
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Organization, ServiceAccount, ServiceAccountRole
from accounts.selectors import MANAGER_ROLES, membership_get
from accounts.service_accounts import service_account_create
from accounts.tokens import token_generate, token_hash, token_lookup, token_matches
from projects.deletion_record import ProjectDeleted, project_deletion_record
from projects.errors import (
    NotAllowed,
    ProjectNameTaken,
    ProjectNotDeletable,
    ServiceAccountProjectsInvalid,
)
from projects.models import (
    Event,
    IdentityLink,
    IdentityLinkRecord,
    Profile,
    Project,
    ServiceAccountProject,
)

logger = logging.getLogger(__name__)


def _require_manager(*, actor: Actor, organization: Organization) -> None:
    if actor.is_trusted:
        return
    membership = membership_get(user=actor.user, organization=organization) if actor.user else None
    if membership is None or membership.role not in MANAGER_ROLES:
        raise NotAllowed("Only owners and admins can manage projects.")


def project_create(*, actor: Actor, organization: Organization, name: str) -> tuple[Project, str]:
    """Creates a project; returns it with its API secret, which is never shown again."""
    _require_manager(actor=actor, organization=organization)
    name = name.strip()
    secret = token_generate()
    try:
        with transaction.atomic():
            project = Project.objects.create(
                organization=organization,
                name=name,
                api_secret_hash=token_hash(secret),
                api_secret_lookup=token_lookup(secret),
            )
    except IntegrityError as exc:
        raise ProjectNameTaken(f"This organization already has a project named {name!r}.") from exc
    return project, secret


def project_rotate_api_secret(*, actor: Actor, project: Project) -> str:
    """Issues a new API secret; the old one stops working at once."""
    _require_manager(actor=actor, organization=project.organization)
    secret = token_generate()
    project.api_secret_hash = token_hash(secret)
    project.api_secret_lookup = token_lookup(secret)
    project.api_secret_rotated_at = timezone.now()
    project.save(update_fields=["api_secret_hash", "api_secret_lookup", "api_secret_rotated_at"])
    return secret


def project_verify_api_secret(*, project: Project, secret: str) -> bool:
    if not secret or len(secret) > 200:
        return False
    return token_matches(raw=secret, stored_hash=project.api_secret_hash)


# The end-user store, in the order a project's deletion empties it: identity links before the
# records they point at.
STORE_MODELS: tuple[type[models.Model], ...] = (Event, Profile, IdentityLink, IdentityLinkRecord)
# Rows a deletion statement reads its distinct_ids from: one statement removes about this many
# rows (more when the chunk's last subject has more), in well under a second.
PROJECT_DELETE_BATCH = 5000


@dataclass(frozen=True)
class ProjectDeletion:
    project_id: int
    # Rows removed, by table.
    removed: dict[str, int]


def project_delete(
    *, actor: Actor, project: Project, batch: int = PROJECT_DELETE_BATCH
) -> ProjectDeletion:
    """Deletes a project and its end users' data: the store's rows first, in short statements
    by project and a chunk of distinct_ids (what Citus routes to the shards of those ids; the
    store keeps no foreign key to the project, hence no cascade), then the project with what
    cascades from it. Refused, before anything is deleted, for a project that other records
    must outlive (its privacy requests). Safe to run again after a failure: the project is
    deleted last."""
    project_delete_check(actor=actor, project=project)
    removed = dict.fromkeys((model._meta.db_table for model in STORE_MODELS), 0)
    for model in STORE_MODELS:
        removed[model._meta.db_table] += _store_rows_delete(model, project.pk, batch)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        _require_deletable(project)
        project_id = project.pk
        project.delete()
        # In the organization's audit chain, committed with the deletion or not at all.
        project_deletion_record(
            actor=actor,
            deleted=ProjectDeleted(
                organization_id=project.organization_id,
                project_id=project_id,
                name=project.name,
                removed=dict(removed),
            ),
        )
    # What ingestion already in flight wrote after its table was emptied.
    for model in STORE_MODELS:
        removed[model._meta.db_table] += _store_rows_delete(model, project_id, batch)
    logger.info(
        "project %s deleted by %s: %s",
        project_id,
        actor.text,
        ", ".join(f"{count} from {table}" for table, count in removed.items()),
    )
    return ProjectDeletion(project_id=project_id, removed=removed)


def project_delete_check(*, actor: Actor, project: Project) -> None:
    """Raises what project_delete would refuse with, before anything is deleted: what the
    admin asks before queueing the deletion."""
    # Staff delete through the admin's confirmed action, which only superusers see.
    if not (actor.via == "staff" and actor.user is not None and actor.user.is_superuser):
        _require_manager(actor=actor, organization=project.organization)
    _require_deletable(project)


def _require_deletable(project: Project) -> None:
    """Refuses a project that records protect (PROTECT foreign keys: privacy requests, kept as
    the record of compliance). Cheap: the store's rows are not part of Django's cascade."""
    try:
        Collector(using=Project.objects.db).collect([project])
    except (ProtectedError, RestrictedError) as exc:
        found = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in found})
        raise ProjectNotDeletable(
            f"The project has {', '.join(kinds)}, which are kept: it cannot be deleted."
        ) from exc


def _store_rows_delete(model: type[models.Model], project_id: int, batch: int) -> int:
    """Deletes the project's rows of one store table, each statement in its own transaction."""
    removed, after = 0, None
    while True:
        # Keyset over the (project, distinct_id, ...) index that every store table leads with,
        # so no statement rescans what earlier ones deleted.
        rows = model._default_manager.filter(project_id=project_id).order_by("distinct_id")
        if after is not None:
            rows = rows.filter(distinct_id__gt=after)
        # In the database's order (its collation), repeats dropped.
        distinct_ids = list(dict.fromkeys(rows.values_list("distinct_id", flat=True)[:batch]))
        if not distinct_ids:
            return removed
        removed += _rows_of_ids_delete(model, project_id, distinct_ids)
        after = distinct_ids[-1]


def _rows_of_ids_delete(model: type[models.Model], project_id: int, distinct_ids: list[str]) -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} "  # noqa: S608 (a model's table name)
                "WHERE project_id = %s AND distinct_id = ANY(%s)",
                [project_id, distinct_ids],
            )
            return cursor.rowcount
    # SQLite: the ORM's IN list (at most `batch` ids, under SQLite's bind-variable limit).
    return model._default_manager.filter(
        project_id=project_id, distinct_id__in=distinct_ids
    ).delete()[0]


def service_account_create_with_grants(
    *,
    actor: Actor,
    organization: Organization,
    name: str,
    role: ServiceAccountRole | str,
    projects: Sequence[Project],
    expires_at: datetime | None = None,
) -> tuple[ServiceAccount, str]:
    """Creates a service account (owners only) granted these projects of its organization;
    returns it with its secret, which is never shown again. Here, not in accounts, because
    the grants are projects' rows."""
    if not projects:
        raise ServiceAccountProjectsInvalid("Grant the service account at least one project.")
    if any(project.organization_id != organization.id for project in projects):
        raise ServiceAccountProjectsInvalid(
            "A service account can only be granted its own organization's projects."
        )
    with transaction.atomic():
        account, secret = service_account_create(
            actor=actor,
            organization=organization,
            name=name,
            role=role,
            expires_at=expires_at,
            project_ids=[project.id for project in projects],
        )
        ServiceAccountProject.objects.bulk_create(
            [
                ServiceAccountProject(service_account=account, project=project)
                for project in {project.id: project for project in projects}.values()
            ]
        )
    logger.info(
        "service account %s (%s) created by %s for %d projects",
        account.username,
        account.role,
        actor.text,
        len(projects),
    )
    return account, secret
