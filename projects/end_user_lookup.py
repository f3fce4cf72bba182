"""Finding the end user behind a request (issue 18): the distinct_ids of one project whose
profile holds a property value, or that start with a prefix, each with the identity cluster a
request for it would reach (and how each id was linked, from identity_review), its events and
profile, and when it was first and last seen.

How values match:
- `$email`: the whole address, without regard to case or surrounding spaces
  (`Jane@Example.com` is `jane@example.com`, never `jane@example.co` or `ajane@example.com`);
  served by the `(project, lower(properties->>'$email'))` index.
- any other property (`$phone`, `$name`, or a name the owner types): the whole value, exactly
  (a number or boolean property matches its JSON text, `42`, `true`); served by the GIN
  `jsonb_path_ops` index through `@>` on PostgreSQL.
- a distinct_id prefix: ids with a profile or an identity link (a cluster member) that start
  with it, case-sensitive, through the `varchar_pattern_ops` indexes; an id with events only is
  found when the whole id is typed.

Reads only, and every query names the project. At most LOOKUP_LIMIT matching ids, with `more`
when there are others (the limit is asked for plus one, without ORDER BY, so an index scan
stops early however many profiles match). Auditing is the caller's: a lookup reads personal
data (privacy_requests.services.end_user_lookup).
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connections
from django.db.models import Max, Min, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower

from projects.chunking import in_chunks
from projects.errors import ProjectsError
from projects.identity_review import LinkHow, identity_review
from projects.models import Event, IdentityLink, Profile, Project

EMAIL = "$email"
NAMED_PROPERTIES = ("$email", "$phone", "$name")
LOOKUP_LIMIT = 50
MAX_TEXT = 255  # ingestion truncates string values to 255 characters; ids are at most 255
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class LookupRefused(ProjectsError):
    """The lookup cannot be made as asked; the message says why. `field` names the input."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LookupQuery:
    """`property` empty: a distinct_id prefix lookup."""

    property: str
    value: str

    @property
    def by_prefix(self) -> bool:
        return not self.property

    @property
    def searched(self) -> str:
        """What was searched, in words, without the value."""
        return "distinct_id prefix" if self.by_prefix else self.property


def lookup_query_make(*, property_name: str | None, value: str | None) -> LookupQuery:
    """The lookup of `value` in `property_name`, or of a distinct_id prefix when no property
    is named; raises LookupRefused for input no profile could hold."""
    property_name = property_name or ""
    value = value or ""
    if property_name:
        _check_text(property_name, field="property", what="A property name")
        if not property_name.strip():
            raise LookupRefused("Name the property to search.", field="property")
    if property_name == EMAIL:
        value = value.strip()
    if not value:
        what = "a value" if property_name else "the start of a distinct_id"
        raise LookupRefused(f"Enter {what} to search for.", field="value")
    _check_text(value, field="value", what="A value" if property_name else "A distinct_id")
    return LookupQuery(property=property_name, value=value)


def _check_text(text: str, *, field: str, what: str) -> None:
    if len(text) > MAX_TEXT:
        raise LookupRefused(f"{what} is at most {MAX_TEXT} characters.", field=field)
    # PostgreSQL refuses NUL in text, and a lone surrogate is no UTF-8: neither is stored.
    if "\x00" in text or any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        raise LookupRefused(f"{what} cannot contain that character.", field=field)


@dataclass(frozen=True)
class FoundId:
    """One id of a person found: `role` "matched" (the lookup matched it), "linked" (a
    request for the matched ids reaches it under the project's rule), "refused" or
    "unverified" (a link points it at the person, but no request reaches it unless a person
    includes it on the preview)."""

    distinct_id: str
    role: str
    how: LinkHow | None
    evidence: tuple[LinkHow, ...]
    events: int
    profile: bool
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class FoundPerson:
    """The matched ids of one identity cluster, with the ids a request for them reaches."""

    root: str
    ids: list[FoundId] = field(default_factory=list)

    @property
    def matched_ids(self) -> list[str]:
        return [found.distinct_id for found in self.ids if found.role == "matched"]

    @property
    def reached(self) -> list[FoundId]:
        return [found for found in self.ids if found.role in ("matched", "linked")]

    @property
    def linked(self) -> list[FoundId]:
        return [found for found in self.ids if found.role == "linked"]

    @property
    def not_followed(self) -> list[FoundId]:
        return [found for found in self.ids if found.role not in ("matched", "linked")]

    @property
    def events(self) -> int:
        return sum(found.events for found in self.reached)

    @property
    def profiles(self) -> int:
        return sum(found.profile for found in self.reached)

    @property
    def first_seen(self) -> datetime | None:
        return min((f.first_seen for f in self.reached if f.first_seen), default=None)

    @property
    def last_seen(self) -> datetime | None:
        return max((f.last_seen for f in self.reached if f.last_seen), default=None)


@dataclass(frozen=True)
class LookupResult:
    project_id: int
    query: LookupQuery
    matched: list[str]  # at most LOOKUP_LIMIT, in code-point order
    more: bool
    people: list[FoundPerson]


def end_user_lookup_find(*, project: Project, query: LookupQuery) -> LookupResult:
    """The project's ids matching the query, grouped by person (module docstring)."""
    matched = sorted(set(_matching_ids(project=project, query=query)))
    more = len(matched) > LOOKUP_LIMIT
    matched = matched[:LOOKUP_LIMIT]
    return LookupResult(
        project_id=project.pk,
        query=query,
        matched=matched,
        more=more,
        people=_people(project=project, matched=matched),
    )


def _matching_ids(*, project: Project, query: LookupQuery) -> list[str]:
    wanted = LOOKUP_LIMIT + 1
    profiles = Profile.objects.filter(project=project)
    if query.by_prefix:
        found = list(
            profiles.filter(distinct_id__startswith=query.value).values_list(
                "distinct_id", flat=True
            )[:wanted]
        )
        found += IdentityLink.objects.filter(
            project=project, distinct_id__startswith=query.value
        ).values_list("distinct_id", flat=True)[:wanted]
        if query.value not in found and _id_has_events_or_members(project, query.value):
            found.append(query.value)
        # SQLite's LIKE ignores ASCII case; ids are case-sensitive (PostgreSQL's LIKE is).
        return [distinct_id for distinct_id in found if distinct_id.startswith(query.value)]
    if query.property == EMAIL:
        matching = profiles.alias(email=Lower(KeyTextTransform(EMAIL, "properties"))).filter(
            email=query.value.lower()
        )
    else:
        return _property_equals(profiles, name=query.property, value=query.value)
    return list(matching.values_list("distinct_id", flat=True)[:wanted])


def _property_equals(profiles: QuerySet[Profile], *, name: str, value: str) -> list[str]:
    typed = json.loads(value) if value in ("true", "false") or _NUMBER.fullmatch(value) else None
    if connections[profiles.db].vendor != "postgresql":
        # Development databases (SQLite): the same meaning, matched in Python over a store
        # of demo size; production runs on PostgreSQL.
        rows = profiles.values_list("distinct_id", "properties").iterator(chunk_size=2000)
        return [
            distinct_id
            for distinct_id, properties in rows
            if isinstance(properties, dict)
            and name in properties
            and _same_value(properties[name], value, typed)
        ]
    # `@>` is what the GIN jsonb_path_ops index serves; a typed number or boolean may also
    # be stored as one.
    match = Q(properties__contains={name: value})
    if typed is not None:
        match |= Q(properties__contains={name: typed})
    return list(profiles.filter(match).values_list("distinct_id", flat=True)[: LOOKUP_LIMIT + 1])


def _same_value(stored: object, value: str, typed: object) -> bool:
    """What `@>` decides for one scalar: a string equal to the text, or a number or boolean
    equal to the text read as JSON (True is no 1, as in jsonb)."""
    if isinstance(stored, str):
        return stored == value
    if typed is None or isinstance(stored, bool) != isinstance(typed, bool):
        return False
    return isinstance(stored, int | float) and stored == typed


def _id_has_events_or_members(project: Project, distinct_id: str) -> bool:
    return (
        Event.objects.filter(project=project, distinct_id=distinct_id).exists()
        or IdentityLink.objects.filter(project=project, canonical_id=distinct_id).exists()
    )


def _people(*, project: Project, matched: Sequence[str]) -> list[FoundPerson]:
    if not matched:
        return []
    review = identity_review(project=project, distinct_ids=matched)
    reviewed = [*review.given, *review.linked, *review.candidates]
    seen = _seen(project_id=project.pk, distinct_ids=[r.distinct_id for r in reviewed])
    people: dict[str, FoundPerson] = {}
    for given in review.given:
        people.setdefault(given.root, FoundPerson(root=given.root))
    for item in reviewed:
        person = people.get(item.root)
        if person is None:
            continue
        first, last = seen.get(item.distinct_id, (None, None))
        person.ids.append(
            FoundId(
                distinct_id=item.distinct_id,
                role="matched" if item.role == "given" else item.role,
                how=item.how,
                evidence=item.evidence,
                events=item.events,
                profile=item.profile,
                first_seen=first,
                last_seen=last,
            )
        )
    return list(people.values())


def _seen(
    *, project_id: int, distinct_ids: list[str]
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """(first, last) event time of each id with events: the (project, distinct_id, time)
    index answers both ends."""
    seen: dict[str, tuple[datetime | None, datetime | None]] = {}
    for chunk in in_chunks(list(dict.fromkeys(distinct_ids))):
        rows = (
            Event.objects.filter(project_id=project_id, distinct_id__in=chunk)
            .order_by()
            .values("distinct_id")
            .annotate(first=Min("time"), last=Max("time"))
            .values_list("distinct_id", "first", "last")
        )
        for distinct_id, first, last in rows:
            seen[distinct_id] = (first, last)
    return seen
