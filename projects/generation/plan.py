"""What a run will make, decided before anything is written; shared by both paths."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from projects.errors import ProjectsError
from projects.generation.vocabulary import SKEW
from projects.models import Project


class GenerationRefused(ProjectsError):
    pass


class NotEnoughDisk(GenerationRefused):
    pass


class CohortTaken(Exception):
    """Some ids of the plan's cohort exist in the project already; nothing was written."""


@dataclass(frozen=True)
class GenerationPlan:
    project: Project
    users: int
    events: int
    years: int
    seed: int
    cohort: str
    now: int  # epoch seconds at the start of the run; no event is later
    start: int  # epoch seconds of the start of the window

    @property
    def id_width(self) -> int:
        return max(6, len(str(self.users - 1)))

    @property
    def base(self) -> int:
        """Events every user gets before the skewed share: 1 when there are enough to go round."""
        return 1 if self.events >= self.users else 0

    def user_id(self, n: int) -> str:
        return f"user-{self.cohort}-{n:0{self.id_width}d}"

    def events_before(self, n: int) -> int:
        """How many events users 0 .. n-1 have together (the SQL path computes the same)."""
        if n >= self.users:
            return self.events
        extra = self.events - self.base * self.users
        share = math.log(1.0 + SKEW * n / self.users) / math.log(1.0 + SKEW)
        return self.base * n + math.floor(extra * share)


@dataclass
class GenerationSummary:
    seed: int
    cohort: str
    users: int
    events: int
    profiles: int
    identity_links: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


Progress = Callable[[str], None]
