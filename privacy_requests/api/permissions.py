"""The check order of DESIGN section 6: 401, then 404 (project token or task), then 403; the
rate limit (429) and the body (400, 409) come after."""

from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied
from rest_framework.permissions import BasePermission

from privacy_requests.api.authentication import request_actor
from privacy_requests.permissions import can_act_on_privacy_requests
from privacy_requests.selectors import privacy_request_get_for_project
from projects.selectors import project_get_by_token


class ProjectPrivacyPermission(BasePermission):
    message = "Only owners and admins of the project's organization can make privacy requests."

    def has_permission(self, request, view) -> bool:
        if request.user is None or not request.user.is_authenticated:
            raise NotAuthenticated(
                "Missing GDPR token: send 'Authorization: Bearer <token>' (or a service "
                "account's 'Authorization: Basic')."
            )
        token = request.query_params.get("token", "")
        # A NUL is in no token or task id, and PostgreSQL refuses it even in a lookup.
        project = None if "\x00" in token else project_get_by_token(token=token)
        if project is None:
            raise NotFound("NOT_FOUND")
        view.project = project
        task_id = view.kwargs.get("task_id")
        if task_id is not None:
            view.privacy_request = (
                None
                if "\x00" in task_id
                else privacy_request_get_for_project(
                    project=project, kind=view.kind, tracking_id=task_id
                )
            )
            if view.privacy_request is None:
                raise NotFound("NOT_FOUND")
        actor = request_actor(request)
        allowed = can_act_on_privacy_requests(
            user=actor.user, service_account=actor.service_account, project=project
        )
        if not allowed and actor.service_account is not None:
            raise PermissionDenied(
                "Only service accounts with role admin that are granted this project can make "
                "its privacy requests."
            )
        return allowed
