"""Registering callback endpoints (issue 19): owners and admins of the organization, as for its
other settings. Registering, removing and rotating a secret go into the organization's audit
chain; the secret itself never does."""

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Organization, User
from accounts.selectors import can_manage_members
from privacy_requests.audit import audit_append
from privacy_requests.callbacks.addresses import (
    UnsafeCallbackUrl,
    url_check_at_registration,
    url_parse,
)
from privacy_requests.callbacks.models import CallbackEndpoint, CallbackEvent
from privacy_requests.callbacks.signing import secret_generate
from privacy_requests.errors import InvalidRequest, NotAllowed
from privacy_requests.models import AuditAction
from projects.models import Project

MAX_ENDPOINTS = 20


def callback_endpoint_list(*, organization: Organization):
    return CallbackEndpoint.objects.filter(organization=organization).select_related("project")


def callback_endpoint_get_for_user(
    *, user: User, organization: Organization, endpoint_id: int
) -> CallbackEndpoint | None:
    """The organization's endpoint, for its owners and admins; None for anyone else."""
    if not can_manage_members(user=user, organization=organization):
        return None
    return callback_endpoint_list(organization=organization).filter(id=endpoint_id).first()


def _require_manager(*, actor: Actor, organization: Organization) -> None:
    if actor.user is None or not can_manage_members(user=actor.user, organization=organization):
        raise NotAllowed("Only owners and admins can change the organization's callbacks.")


def _detail(endpoint: CallbackEndpoint) -> dict:
    return {
        "endpoint_id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "project": endpoint.project_id,
        "include_distinct_ids": endpoint.include_distinct_ids,
        "include_download_link": endpoint.include_download_link,
    }


def callback_endpoint_create(
    *,
    actor: Actor,
    organization: Organization,
    url: str,
    events: list[str],
    project: Project | None = None,
    include_distinct_ids: bool = False,
    include_download_link: bool = False,
) -> CallbackEndpoint:
    """Registers the endpoint with a new signing secret, which the caller shows once."""
    _require_manager(actor=actor, organization=organization)
    url = url.strip()
    try:
        url_check_at_registration(url)
    except UnsafeCallbackUrl as exc:
        raise InvalidRequest(str(exc), field="url") from exc
    wanted = [event for event in CallbackEvent.values if event in set(events)]
    if not wanted or len(wanted) != len(set(events)):
        raise InvalidRequest("Choose at least one of the events.", field="events")
    if project is not None and project.organization_id != organization.id:
        raise InvalidRequest("No such project in this organization.", field="project")
    with transaction.atomic():
        if CallbackEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS:
            raise InvalidRequest(
                f"An organization can register at most {MAX_ENDPOINTS} endpoints.", field="url"
            )
        endpoint = CallbackEndpoint.objects.create(
            organization=organization,
            url=url,
            events=wanted,
            project=project,
            include_distinct_ids=include_distinct_ids,
            include_download_link=include_download_link,
            secret=secret_generate(),
            created_by=actor.text,
            created_at=timezone.now(),
        )
        audit_append(
            organization_id=organization.id,
            actor=actor.text,
            action=AuditAction.CALLBACK_ENDPOINT_CREATED,
            detail=_detail(endpoint),
        )
    return endpoint


def callback_endpoint_delete(*, actor: Actor, endpoint: CallbackEndpoint) -> None:
    """Removes the endpoint with its delivery log; requests that named a URL under it keep
    their status and get no more callbacks."""
    _require_manager(actor=actor, organization=endpoint.organization)
    with transaction.atomic():
        detail = _detail(endpoint)
        endpoint.delete()
        audit_append(
            organization_id=endpoint.organization_id,
            actor=actor.text,
            action=AuditAction.CALLBACK_ENDPOINT_DELETED,
            detail=detail,
        )


def callback_endpoint_rotate_secret(*, actor: Actor, endpoint: CallbackEndpoint) -> str:
    """A new signing secret at once (the old one stops signing); returns it to show once."""
    _require_manager(actor=actor, organization=endpoint.organization)
    with transaction.atomic():
        endpoint.secret = secret_generate()
        endpoint.secret_rotated_at = timezone.now()
        endpoint.save(update_fields=["secret", "secret_rotated_at"])
        audit_append(
            organization_id=endpoint.organization_id,
            actor=actor.text,
            action=AuditAction.CALLBACK_SECRET_ROTATED,
            detail={"endpoint_id": endpoint.id, "url": endpoint.url},
        )
    return endpoint.secret


def url_is_under(url: str, prefix: str) -> bool:
    """Is `url` the endpoint's URL or below it? The same scheme, host and port, compared as
    parsed (https://hooks.example.com must not admit https://hooks.example.com.evil.test), and
    a path that continues the endpoint's at a "/" or "?"."""
    try:
        given, registered = url_parse(url), url_parse(prefix)
    except UnsafeCallbackUrl:
        return False
    if (given.scheme, given.host.lower(), given.port) != (
        registered.scheme,
        registered.host.lower(),
        registered.port,
    ):
        return False
    path, base = given.path, registered.path
    if path == base or base.endswith("/") and path.startswith(base):
        return True
    return path.startswith(base) and path[len(base)] in "/?"


def callback_endpoint_for_url(*, project: Project, url: str) -> CallbackEndpoint:
    """The endpoint a request's own callback_url falls under (the longest matching URL of the
    organization's endpoints that cover the project); raises InvalidRequest otherwise."""
    url = url.strip()
    candidates = CallbackEndpoint.objects.filter(organization_id=project.organization_id)
    matching = [
        endpoint
        for endpoint in candidates
        if (endpoint.project_id is None or endpoint.project_id == project.id)
        and url_is_under(url, endpoint.url)
    ]
    if not matching:
        raise InvalidRequest(
            "callback_url must start with the URL of one of the organization's registered "
            "callback endpoints (Settings → Callbacks) that covers this project.",
            field="callback_url",
        )
    try:
        url_check_at_registration(url)
    except UnsafeCallbackUrl as exc:
        raise InvalidRequest(f"callback_url: {exc}", field="callback_url") from exc
    return max(matching, key=lambda endpoint: len(endpoint.url))
