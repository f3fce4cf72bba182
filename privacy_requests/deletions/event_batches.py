"""The deletion's batches of events, each one statement routed by distinct_id (issue 20).

A batch is `DELETE … WHERE project_id = %s AND distinct_id = ANY(<ids>) AND ingested_at <= <the
snapshot>` (projects.store_deletes), never a list of row ids: the subjects, in their order, are
grouped so that one statement removes at most the batch size of events, from counts per id
(an index-only scan, once per chunk of subjects). A subject with more events than a batch is
deleted in time slices (`time > a AND time <= b`), their ends found through the index, so no
transaction grows with a subject's size. Where a batch stands is the request's progress:
`position` (the first subject not yet done) and `after` (the end of the last slice of that
subject, or None); both commit with the rows they removed, so a resumed run goes on from there.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from projects.store_deletes import event_counts, event_slice_end


@dataclass(frozen=True)
class EventBatch:
    distinct_ids: list[str]
    after: datetime | None  # time > after (a slice of one subject), or None
    through: datetime | None  # time <= through (a slice that is not the subject's last)
    done: int  # subjects this batch finishes

    @property
    def empty(self) -> bool:
        return not self.distinct_ids


class EventBatches:
    """Plans the next batch from the progress; counts are kept for the run (only this request
    removes these subjects' rows: a second deletion of the same ids is refused meanwhile)."""

    def __init__(self, *, project_id: int, subjects: Sequence[str], size: int, chunk: int):
        self.project_id = project_id
        self.subjects = subjects
        self.size = size
        self.chunk = chunk
        self._counts: dict[str, int] = {}
        self._counted_to = 0

    def _count(self, position: int) -> None:
        # Counted a chunk at a time, ahead of the batches that need them.
        if position + self.chunk <= self._counted_to:
            return
        start = max(position, self._counted_to)
        ids = self.subjects[start : start + self.chunk]
        self._counts.update(dict.fromkeys(ids, 0))
        self._counts.update(event_counts(project_id=self.project_id, distinct_ids=ids))
        self._counted_to = start + len(ids)

    def next(self, *, position: int, after: datetime | None) -> EventBatch:
        """The batch starting at subject `position` (its events after `after`, if given)."""
        self._count(position)
        first = self.subjects[position]
        if after is not None or self._counts[first] > self.size:
            through = event_slice_end(
                project_id=self.project_id, distinct_id=first, after=after, size=self.size
            )
            # None: what is left of the subject fits in this batch, its last.
            return EventBatch([first], after=after, through=through, done=int(through is None))
        group: list[str] = []
        total = 0
        for distinct_id in self.subjects[position : position + self.chunk]:
            if distinct_id not in self._counts:
                break
            count = self._counts[distinct_id]
            if group and total + count > self.size:
                break
            group.append(distinct_id)
            total += count
        # Subjects without events need no statement; they are done with the others.
        with_events = [distinct_id for distinct_id in group if self._counts[distinct_id]]
        return EventBatch(with_events, after=None, through=None, done=len(group))
