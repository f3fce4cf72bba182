"""Which project a record belongs to: its public token (/track, /engage, /groups), or the
project's API secret in HTTP Basic (/import)."""

import base64
import binascii
from collections.abc import Iterable

from django.http import HttpRequest

from projects.models import Project
from projects.services import project_verify_api_secret

_MAX_TOKEN_LENGTH = 64


def projects_by_token(tokens: Iterable[object]) -> dict[str, Project]:
    """The projects named by these tokens, in one query."""
    wanted = {
        token
        for token in tokens
        if isinstance(token, str) and token and len(token) <= _MAX_TOKEN_LENGTH
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


def import_project_authenticate(
    *, secret: str, project_id: str, tokens: Iterable[object]
) -> Project | None:
    """The project whose API secret this is, among the project named by `?project_id=` or else
    the projects named by the records' tokens; None if the secret is none of theirs."""
    if project_id:
        if not (project_id.isascii() and project_id.isdigit() and len(project_id) <= 18):
            return None
        candidates = list(Project.objects.filter(pk=int(project_id)))
    else:
        candidates = list(projects_by_token(tokens).values())
    for project in candidates:
        if project_verify_api_secret(project=project, secret=secret):
            return project
    return None
