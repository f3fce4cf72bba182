"""Who may query a project's profiles: the holder of its API secret (the secret alone names the
project), or a service account granted the project (`username:secret` with `project_id`), as on
Mixpanel. The same credentials as /import, decided by the same function."""

from django.http import HttpRequest

from projects.ingestion.authentication import ingestion_authenticate
from projects.models import Project


def engage_query_project_authenticate(*, request: HttpRequest, project_id: str) -> Project | None:
    """The project these credentials open, or None (answer 401)."""
    authenticated = ingestion_authenticate(request=request, project_id=project_id)
    return None if authenticated is None else authenticated.project
