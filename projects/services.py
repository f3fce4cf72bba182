"""Writes of projects. The API secret is returned once and only its hash is kept."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Organization
from accounts.selectors import MANAGER_ROLES, membership_get
from accounts.tokens import token_generate, token_hash, token_matches
from projects.errors import NotAllowed, ProjectNameTaken
from projects.models import Project


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
                organization=organization, name=name, api_secret_hash=token_hash(secret)
            )
    except IntegrityError as exc:
        raise ProjectNameTaken(f"This organization already has a project named {name!r}.") from exc
    return project, secret


def project_rotate_api_secret(*, actor: Actor, project: Project) -> str:
    """Issues a new API secret; the old one stops working at once."""
    _require_manager(actor=actor, organization=project.organization)
    secret = token_generate()
    project.api_secret_hash = token_hash(secret)
    project.api_secret_rotated_at = timezone.now()
    project.save(update_fields=["api_secret_hash", "api_secret_rotated_at"])
    return secret


def project_verify_api_secret(*, project: Project, secret: str) -> bool:
    if not secret or len(secret) > 200:
        return False
    return token_matches(raw=secret, stored_hash=project.api_secret_hash)
