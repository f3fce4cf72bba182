"""Who is who in an export (issue 17): the subject set split into subjects, one per person.

A subject is a given id with the ids linked to it; given ids in one identity cluster are one
subject. An id a person included (a refused or unverified link) belongs to the subject on the
other side of the link that pointed it in; one that cannot be placed is in no subject's
package (only in the whole archive), since it could be anyone's.
"""

from dataclasses import dataclass, field

from privacy_requests.engine.run import Run
from projects.chunking import in_chunks
from projects.identity_review import link_records_touching
from projects.store import identity_links_of_ids


@dataclass
class SubjectGroup:
    number: int
    given: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # subject order: given first

    @property
    def distinct_id(self) -> str:
        return self.given[0]


@dataclass
class SubjectGroups:
    groups: list[SubjectGroup]
    number_of: dict[str, int]  # distinct_id -> group number

    def same_group(self, first: str, second: str) -> int | None:
        number = self.number_of.get(first)
        return number if number is not None and self.number_of.get(second) == number else None


def subject_groups(run: Run) -> SubjectGroups:
    request = run.request
    project_id = request.project_id
    root: dict[str, str] = {}
    for chunk in in_chunks(sorted(set(run.subject_ids))):
        root.update(
            identity_links_of_ids(project_id=project_id, distinct_ids=chunk).values_list(
                "distinct_id", "canonical_id"
            )
        )
    groups: list[SubjectGroup] = []
    by_root: dict[str, int] = {}
    for distinct_id in run.given_ids:
        key = root.get(distinct_id, distinct_id)
        if key not in by_root:
            by_root[key] = len(groups)
            groups.append(SubjectGroup(number=len(groups)))
        groups[by_root[key]].given.append(distinct_id)

    included = set(request.subjects.filter(included=True).values_list("distinct_id", flat=True))
    number_of: dict[str, int] = {}
    for distinct_id in run.subject_ids:
        number = by_root.get(root.get(distinct_id, distinct_id))
        if number is not None and distinct_id not in included:
            number_of[distinct_id] = number
    if included:
        _place_included(project_id, included, number_of)
        if len(groups) == 1:  # one person: whatever was included is theirs
            number_of.update(dict.fromkeys(included, 0))
    for distinct_id in run.subject_ids:
        number = number_of.get(distinct_id)
        if number is not None:
            groups[number].ids.append(distinct_id)
    return SubjectGroups(groups=groups, number_of=number_of)


def _place_included(project_id: int, included: set[str], number_of: dict[str, int]) -> None:
    records = link_records_touching(project_id=project_id, distinct_ids=sorted(included))
    changed = True
    while changed:  # an included id may hang off another included id
        changed = False
        for record in records:
            for inside, outside in (
                (record.distinct_id, record.canonical_id),
                (record.canonical_id, record.distinct_id),
            ):
                if outside in included and outside not in number_of and inside in number_of:
                    number_of[outside] = number_of[inside]
                    changed = True
