"""What one ingestion request did, record by record, whatever the answer's shape."""

from dataclasses import dataclass, field
from enum import StrEnum


class Endpoint(StrEnum):
    TRACK = "track"
    ENGAGE = "engage"
    GROUPS = "groups"
    IMPORT = "import"


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """A record that was not applied. `index` is its position in the request's batch;
    `project_id` the project it names, when that is known (what refusal counts are kept by)."""

    index: int
    field: str
    message: str
    insert_id: str | None = None
    project_id: int | None = None


@dataclass
class BatchOutcome:
    received: int
    # Records applied: events stored or already stored (dedupe), profile operations and
    # identity links applied or already in place.
    accepted: int = 0
    # Records of suppressed distinct_ids, dropped on purpose (not failures).
    suppressed: int = 0
    # Device links refused by the cluster rules while their event was stored.
    links_refused: int = 0
    failures: list[RecordFailure] = field(default_factory=list)

    def fail(self, failure: RecordFailure) -> None:
        self.failures.append(failure)

    def merge(self, other: "BatchOutcome") -> None:
        self.accepted += other.accepted
        self.suppressed += other.suppressed
        self.links_refused += other.links_refused
        self.failures.extend(other.failures)

    @property
    def valid(self) -> int:
        """Records that passed the checks: applied, or dropped on purpose (suppressed)."""
        return self.received - len(self.failures)

    @property
    def ordered_failures(self) -> list[RecordFailure]:
        return sorted(self.failures, key=lambda failure: failure.index)
