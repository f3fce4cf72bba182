"""Writes of projects: projects, their API secrets, and service accounts' grants to them.

Secrets are returned once; only their hash (and, for the API secret, its keyed lookup value) is
kept.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Organization, ServiceAccount, ServiceAccountRole
from accounts.selectors import MANAGER_ROLES, membership_get
from accounts.service_accounts import service_account_create
from accounts.tokens import token_generate, token_hash, token_lookup, token_matches
from projects.errors import NotAllowed, ProjectNameTaken, ServiceAccountProjectsInvalid
from projects.models import Project, ServiceAccountProject

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
