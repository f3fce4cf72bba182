"""Who may query a project's profiles: the holder of its API secret, as on Mixpanel.

AT MERGE: `engage_query_project_authenticate` is the one place to switch to the project-secret
lookup (the secret alone names the project) and to service accounts (`user:secret` with
`project_id`). Until then it accepts the API secret as user with an empty password, and finds
the project through `project_id`, as `/import` does today.
"""

from django.http import HttpRequest

from projects.ingestion.authentication import basic_credentials, import_project_authenticate
from projects.models import Project


def engage_query_project_authenticate(*, request: HttpRequest, project_id: str) -> Project | None:
    """The project these credentials open, or None (answer 401)."""
    credentials = basic_credentials(request)
    if credentials is None:
        return None
    user, password = credentials
    if not user or password:
        return None
    return import_project_authenticate(secret=user, project_id=project_id, tokens=())
