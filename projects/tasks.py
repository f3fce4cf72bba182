"""RQ jobs of projects: thin entry points that reload by id and call a service; safe to run
twice."""

import logging

from accounts.actors import Actor
from accounts.models import User
from projects.models import Project
from projects.services import project_delete

logger = logging.getLogger(__name__)

# A project of tens of millions of events takes minutes to delete, in short statements.
PROJECT_DELETE_TIMEOUT = 6 * 3600


def delete_project(project_id: int, user_id: int) -> str:
    """Deletes the project as the staff user who confirmed it in the admin."""
    project = Project.objects.select_related("organization").filter(pk=project_id).first()
    if project is None:
        return f"project {project_id} was already deleted"
    actor = Actor(user=User.objects.get(pk=user_id), via="staff")
    deletion = project_delete(actor=actor, project=project)
    return f"project {project_id} deleted: {sum(deletion.removed.values())} store rows removed"
