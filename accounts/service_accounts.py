"""Writes of service accounts (DESIGN section 3): creation, revocation, and the
authentication of their HTTP Basic credentials. Owners manage them; both changes are recorded in
the organization's audit chain (accounts.membership_changes). projects grants them projects
(`projects.services.service_account_create_with_grants`).
"""

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.actors import Actor
from accounts.errors import NotAllowed, ServiceAccountInvalid, ServiceAccountRevoked
from accounts.membership_changes import ServiceAccountChange, membership_change_record
from accounts.models import Organization, ServiceAccount, ServiceAccountRole
from accounts.selectors import is_owner
from accounts.services import LAST_USED_RESOLUTION
from accounts.tokens import token_generate, token_hash, token_matches

SERVICE_ACCOUNT_NAME_MAX = 100
_MAX_USERNAME_LENGTH = 80
_MAX_SECRET_LENGTH = 200
# Compared against when the username is unknown, so that an unknown name costs what a wrong
# secret costs.
_NO_SECRET_HASH = "0" * 64


def _require_owner(*, actor: Actor, organization: Organization) -> None:
    if actor.is_trusted:
        return
    if actor.user is None or not is_owner(user=actor.user, organization=organization):
        raise NotAllowed("Only owners can manage service accounts.")


def _username_generate(name: str) -> str:
    # Mixpanel's shape (<name>.<random>.<suffix>): readable in logs, never guessable, and
    # free of ":", which HTTP Basic would split on.
    stem = slugify(name)[:40].strip("-") or "service-account"
    return f"{stem}.{secrets.token_hex(4)}.sa"


def service_account_create(
    *,
    actor: Actor,
    organization: Organization,
    name: str,
    role: ServiceAccountRole | str,
    expires_at: datetime | None = None,
    project_ids: Sequence[int] = (),
) -> tuple[ServiceAccount, str]:
    """Creates a service account of the organization (owners only) with no project yet;
    returns it with its secret, which is never shown again. projects grants it projects
    (`service_account_create_with_grants`, which names them here for the audit entry)."""
    _require_owner(actor=actor, organization=organization)
    name = " ".join(name.split())
    if not name or len(name) > SERVICE_ACCOUNT_NAME_MAX or not name.isprintable():
        raise ServiceAccountInvalid(
            f"The name must be 1 to {SERVICE_ACCOUNT_NAME_MAX} printable characters."
        )
    if role not in ServiceAccountRole.values:
        raise ServiceAccountInvalid("A service account's role is admin or member.")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ServiceAccountInvalid("The expiry must be in the future.")
    secret = token_generate()
    for attempt in range(3):
        try:
            with transaction.atomic():
                account = ServiceAccount.objects.create(
                    organization=organization,
                    name=name,
                    username=_username_generate(name),
                    secret_hash=token_hash(secret),
                    role=ServiceAccountRole(role),
                    expires_at=expires_at,
                    created_by=actor.text,
                    created_at=now,
                )
                change = _service_account_change(account, event="created")
                membership_change_record(
                    actor=actor, change=replace(change, project_ids=tuple(sorted(set(project_ids))))
                )
        except IntegrityError:  # the random part of the username was taken: draw again
            if attempt == 2:
                raise
            continue
        return account, secret
    raise AssertionError("unreachable")


def service_account_revoke(*, actor: Actor, service_account: ServiceAccount) -> ServiceAccount:
    """Revokes the account (owners only): its next request is refused."""
    _require_owner(actor=actor, organization=service_account.organization)
    now = timezone.now()
    with transaction.atomic():
        revoked = ServiceAccount.objects.filter(
            id=service_account.id, revoked_at__isnull=True
        ).update(revoked_at=now, revoked_by=actor.text)
        if revoked != 1:
            raise ServiceAccountRevoked(f"{service_account.name} was already revoked.")
        membership_change_record(
            actor=actor, change=_service_account_change(service_account, event="revoked")
        )
    service_account.revoked_at, service_account.revoked_by = now, actor.text
    return service_account


def _service_account_change(account: ServiceAccount, *, event: str) -> ServiceAccountChange:
    return ServiceAccountChange(
        organization_id=account.organization_id,
        service_account_id=account.id,
        username=account.username,
        name=account.name,
        role=str(account.role),
        event=event,
        expires_at=account.expires_at.isoformat() if account.expires_at else None,
    )


def service_account_authenticate(*, username: str, secret: str) -> ServiceAccount | None:
    """The usable service account these Basic credentials name, or None (unknown, wrong
    secret, revoked or expired). Records when it was last used, at most once a minute."""
    if not (0 < len(username) <= _MAX_USERNAME_LENGTH and username.isprintable()):
        return None
    if not (0 < len(secret) <= _MAX_SECRET_LENGTH):
        return None
    account = (
        ServiceAccount.objects.select_related("organization").filter(username=username).first()
    )
    stored_hash = account.secret_hash if account is not None else _NO_SECRET_HASH
    if not token_matches(raw=secret, stored_hash=stored_hash) or account is None:
        return None
    now = timezone.now()
    if not account.is_usable(now=now):
        return None
    if account.last_used_at is None or now - account.last_used_at >= LAST_USED_RESOLUTION:
        ServiceAccount.objects.filter(id=account.id).update(last_used_at=now)
        account.last_used_at = now
    return account
