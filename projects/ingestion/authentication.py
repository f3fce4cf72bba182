"""Which project a request or a record belongs to: its public token (/track, /engage, /groups),
or HTTP Basic credentials (/import, and the engage query): the project's API secret as user
with an empty password, or a service account's `username:secret` with `?project_id=`."""

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from django.http import HttpRequest

from accounts.models import ServiceAccount
from accounts.service_accounts import service_account_authenticate
from accounts.tokens import token_lookup
from projects.models import Project
from projects.selectors import project_get_for_service_account
from projects.services import project_verify_api_secret

_MAX_TOKEN_LENGTH = 64
_MAX_SECRET_LENGTH = 200
_MAX_PROJECT_ID_DIGITS = 18  # below 2**63, the database's largest id


@dataclass(frozen=True)
class Authenticated:
    """The project a request's credentials open, and whose credentials they were: the
    project's API secret (`service_account` None) or a service account granted the project."""

    project: Project
    service_account: ServiceAccount | None = None

    @property
    def principal(self) -> str:
        if self.service_account is None:
            return "project-secret"
        return f"service-account:{self.service_account.username}"


def projects_by_token(tokens: Iterable[object]) -> dict[str, Project]:
    """The projects named by these tokens, in one query."""
    wanted = {
        token
        for token in tokens
        # A NUL is in no token, and PostgreSQL refuses it even in a lookup: such a record
        # names no project, and the batch's other records go on.
        if isinstance(token, str)
        and token
        and len(token) <= _MAX_TOKEN_LENGTH
        and "\x00" not in token
    }
    if not wanted:
        return {}
    return {project.token: project for project in Project.objects.filter(token__in=wanted)}


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """(user, password) from `Authorization: Basic`, or None when absent or malformed."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def project_id_parse(project_id: str) -> int | None:
    """`?project_id=` as a database id; None for anything else ("12abc", "²", 40 digits)."""
    if project_id.isascii() and project_id.isdigit() and len(project_id) <= _MAX_PROJECT_ID_DIGITS:
        return int(project_id)
    return None


def ingestion_authenticate(
    *, request: HttpRequest, project_id: str = "", tokens: Iterable[object] = ()
) -> Authenticated | None:
    """The project the request's HTTP Basic credentials open, or None (answer 401).

    - `username:secret` is a service account: `project_id` must name a project it is granted;
      a revoked or expired account opens nothing.
    - `secret:` (or `secret` alone) is a project's API secret: of the project `project_id`
      names when given; else of the project its lookup value finds (one indexed query); else,
      for a project whose secret predates lookup values, of a project named by the records'
      `tokens`.
    The secret is always checked against its stored hash in constant time.
    """
    credentials = basic_credentials(request)
    if credentials is None or not credentials[0]:
        return None
    user, password = credentials
    if password:
        return _service_account_authenticate(username=user, secret=password, project_id=project_id)
    project = _project_by_secret(secret=user, project_id=project_id, tokens=tokens)
    return None if project is None else Authenticated(project=project)


def _service_account_authenticate(
    *, username: str, secret: str, project_id: str
) -> Authenticated | None:
    wanted = project_id_parse(project_id)
    if wanted is None:
        return None
    account = service_account_authenticate(username=username, secret=secret)
    if account is None:
        return None
    project = project_get_for_service_account(service_account=account, project_id=wanted)
    return None if project is None else Authenticated(project=project, service_account=account)


def _project_by_secret(*, secret: str, project_id: str, tokens: Iterable[object]) -> Project | None:
    if len(secret) > _MAX_SECRET_LENGTH:
        return None
    if project_id:
        wanted = project_id_parse(project_id)
        candidates = [] if wanted is None else list(Project.objects.filter(pk=wanted))
    else:
        found = Project.objects.filter(api_secret_lookup=token_lookup(secret)).first()
        candidates = [found] if found is not None else list(projects_by_token(tokens).values())
    for project in candidates:
        if project_verify_api_secret(project=project, secret=secret):
            return project
    return None
