"""Synthetic end-user data: events, profiles and identity links that look like a real product's.

`synthetic_data_generate` fills one project. On PostgreSQL every row is made by the server
(`INSERT ... SELECT` over `generate_series`, chunked so progress shows and memory stays flat); on
other databases the same plan is carried out in Python with `bulk_create`.

What a run makes, for N users and M events over the last Y years:
- N users with ids `user-<cohort>-<n>`, where the cohort is 8 hex characters new to the project,
  so a rerun adds users instead of colliding with earlier ones. One `Profile` each.
- M events spread over the users with a heavy skew (the busiest user gets about 150 times the
  mean, a fifth of the users make about three quarters of the events; when M >= N every user
  has at least one), each user active from a first-seen moment until some later moment, never
  later than the start of the run. Event names, properties and `source` follow the user's
  platform (web, iOS, Android; purchases come from a server-side import).
- Identity links, flat as `IdentityLink` requires (every member points at the user's id, the
  root has no row, clusters of at most 4 ids): about 20% of the users have a `$device:<uuid>`
  device link and their first events are under that device id; about 10% have their email as
  an alias; about 5% were merged with a legacy account id. Events exist under these ids too.
"""

import random
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db import connection

from projects.generation.disk import database_free_bytes, disk_check, generation_estimate_bytes
from projects.generation.plan import (
    CohortTaken,
    GenerationPlan,
    GenerationRefused,
    GenerationSummary,
    NotEnoughDisk,
    Progress,
)
from projects.generation.portable import generate_in_python
from projects.generation.postgresql import generate_on_postgresql
from projects.models import IdentityLink, Profile, Project

__all__ = [
    "GenerationRefused",
    "GenerationSummary",
    "NotEnoughDisk",
    "database_free_bytes",
    "disk_check",
    "generation_estimate_bytes",
    "synthetic_data_generate",
]

COHORT_ATTEMPTS = 10


def synthetic_data_generate(
    *,
    project: Project,
    users: int,
    events: int,
    years: int = 2,
    seed: int | None = None,
    progress: Progress | None = None,
    free_bytes: int | None = None,
    workers: int = 2,
) -> GenerationSummary:
    """Adds `users` users with their profiles, identity links and `events` events to `project`.

    Raises GenerationRefused on bad arguments and NotEnoughDisk when the database's disk lacks
    room; nothing is written then. Events are committed chunk by chunk on PostgreSQL, so a run
    that fails half-way leaves the chunks it finished (all of them consistent rows).
    """
    if users < 1:
        raise GenerationRefused("users must be at least 1")
    if events < 0:
        raise GenerationRefused("events must not be negative")
    if not 1 <= years <= 50:
        raise GenerationRefused("years must be between 1 and 50")
    disk_check(users=users, events=events, free_bytes=free_bytes)
    say = progress or (lambda line: None)
    started = time.monotonic()
    for plan in _plans(project=project, users=users, events=events, years=years, seed=seed):
        say(
            f"Generating {events:,} events for {users:,} users in project {project.name!r} "
            f"(cohort {plan.cohort}, seed {plan.seed})"
        )
        try:
            if connection.vendor == "postgresql":
                summary = generate_on_postgresql(plan, say, workers)
            else:
                summary = generate_in_python(plan, say)
        except CohortTaken:
            say(f"  ids of cohort {plan.cohort} are taken in this project: drawing another")
            continue
        summary.seconds = time.monotonic() - started
        return summary
    raise GenerationRefused("No unused cohort of ids found for this seed; pass another --seed.")


def _plans(
    *, project: Project, users: int, events: int, years: int, seed: int | None
) -> Iterator[GenerationPlan]:
    """Plans with successive cohorts drawn from the seed, those visibly in use skipped."""
    if seed is None:
        seed = secrets.randbelow(2**31)
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    now = int(datetime.now(tz=UTC).timestamp())
    start = now - round(years * 365.25 * 86400)
    for _ in range(COHORT_ATTEMPTS):
        cohort = f"{rng.getrandbits(32):08x}"
        plan = GenerationPlan(project, users, events, years, seed, cohort, now, start)
        # The usual case, a rerun with the same seed, is seen at once from its first user.
        # Anything subtler (that user deleted since, say) makes the inserts of profiles and
        # links fail on their unique constraints, which raises CohortTaken.
        first_id = plan.user_id(0)
        if not (
            Profile.objects.filter(project=project, distinct_id=first_id).exists()
            or IdentityLink.objects.filter(project=project, canonical_id=first_id).exists()
        ):
            yield plan
