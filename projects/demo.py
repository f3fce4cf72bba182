"""The demo organization, its owner and project, with a small store of events: created, or
brought back, by `manage.py seed_demo` and by the local run command.

Safe to run any number of times: each run reuses what exists and gives the demo owner a fresh
password, so the printed login always works.
"""

import secrets

from django.db import transaction

from accounts.actors import OPERATOR
from accounts.models import Organization, Role, User
from accounts.selectors import organization_list_for_user
from accounts.services import membership_set, organization_create, user_get_or_create
from projects.generation import synthetic_data_generate
from projects.models import Event, IdentityLink, Project
from projects.selectors import project_list_for_user
from projects.services import project_create

DEMO_OWNER_EMAIL = "demo@example.com"
DEMO_ORGANIZATION_NAME = "Demo Organization"
DEMO_PROJECT_NAME = "Demo Project"
DEMO_USERS = 60
DEMO_EVENTS = 3000


def demo_password_generate() -> str:
    return secrets.token_urlsafe(12)


def _demo_project_get(*, owner: User, organization: Organization) -> Project | None:
    return (
        project_list_for_user(user=owner)
        .filter(organization=organization, name=DEMO_PROJECT_NAME)
        .first()
    )


def demo_seed(*, password: str) -> tuple[User, Organization, Project]:
    """The demo owner (with this password and a verified address), organization and project."""
    with transaction.atomic():
        owner, _ = user_get_or_create(email=DEMO_OWNER_EMAIL, password=password)
        organization = (
            organization_list_for_user(user=owner).filter(name=DEMO_ORGANIZATION_NAME).first()
        )
        if organization is None:
            organization = organization_create(name=DEMO_ORGANIZATION_NAME, owner=owner)
        else:
            # Someone may have demoted the demo owner in the UI; the demo needs an owner login.
            membership_set(actor=OPERATOR, organization=organization, user=owner, role=Role.OWNER)
        project = _demo_project_get(owner=owner, organization=organization)
        if project is None:
            # The API secret is not printed: the demo does not need it, and createorg with this
            # organization, owner and project issues a new one (and a GDPR token) on demand.
            project, _ = project_create(
                actor=OPERATOR, organization=organization, name=DEMO_PROJECT_NAME
            )
    if not Event.objects.filter(project=project).exists():
        # A small, realistic store, so requests have something to export and delete.
        synthetic_data_generate(project=project, users=DEMO_USERS, events=DEMO_EVENTS, seed=1)
    return owner, organization, project


def demo_example_distinct_id(project: Project) -> str | None:
    """An end user of the demo store with aliases or devices, to try a request on."""
    link = IdentityLink.objects.filter(project=project).order_by("canonical_id").first()
    if link is not None:
        return link.canonical_id
    return Event.objects.filter(project=project).values_list("distinct_id", flat=True).first()
