import pytest
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.services import privacy_request_submit
from projects.models import Event
from tests.factories import MembershipFactory


@pytest.fixture
def owner_actor(project):
    user = MembershipFactory(organization=project.organization, role=Role.OWNER).user
    return Actor(user=user, via="web")


@pytest.fixture
def submit(project, owner_actor, django_capture_on_commit_callbacks):
    """Submits like an interface does; `run=True` also runs the on-commit enqueue, which in
    test settings processes the job at once (RQ's synchronous mode)."""

    def do(
        *,
        distinct_ids=("alice",),
        kind="export",
        compliance="GDPR",
        disclosure=None,
        actor=None,
        run=False,
        **extra,
    ):
        with django_capture_on_commit_callbacks(execute=run):
            return privacy_request_submit(
                project=project,
                actor=actor or owner_actor,
                channel="web",
                kind=kind,
                compliance=compliance,
                disclosure=disclosure,
                distinct_ids=(
                    list(distinct_ids) if isinstance(distinct_ids, tuple) else distinct_ids
                ),
                **extra,
            )

    return do


@pytest.fixture
def add_event(project):
    counter = iter(range(1_000_000))

    def add(distinct_id, *, name="Page View", time=None, target=None):
        return Event.objects.create(
            project=target or project,
            distinct_id=distinct_id,
            name=name,
            time=time or timezone.now(),
            insert_id=f"i{next(counter)}",
            ingested_at=timezone.now(),
        )

    return add
