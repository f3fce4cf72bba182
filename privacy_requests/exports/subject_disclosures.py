"""Each subject's package of a CCPA Categories or Sources disclosure (issue 17).

These disclosures hold names and counts, not records, so each subject's is counted again, after
the whole archive, chunk by chunk as the whole archive is (a few queries a chunk, not a
subject), each row to its subject: a person's categories or sources never include anyone
else's.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import IO

from privacy_requests.exports import records
from privacy_requests.exports.package import PackageWriter, iso_utc
from privacy_requests.exports.readable import (
    PROFILE_SOURCE,
    IndexPage,
    PropertyTally,
    source_explanation,
)
from privacy_requests.exports.subject_groups import SubjectGroup, SubjectGroups
from privacy_requests.exports.subject_packages import (
    SUBJECT_DEFLATE_LEVEL,
    PackageContext,
    subject_json,
    subject_manifest,
    subject_notes,
)
from privacy_requests.models import Disclosure, PrivacyRequest
from projects.models import EVENT_COLUMN_PROPERTIES
from projects.store import profiles_of_ids

WHAT = {
    Disclosure.CATEGORIES: "this list of the kinds of data its product analytics hold about you",
    Disclosure.SOURCES: "this list of where the data its product analytics hold about you "
    "came from",
}


def disclosure_tallies(
    request: PrivacyRequest, chunks: Sequence[Sequence[str]], groups: SubjectGroups
) -> dict[int, records.Categories]:
    """Each subject's names and counts (events, profiles, identity links between its ids)."""
    found: dict[int, records.Categories] = defaultdict(records.Categories)
    number_of = groups.number_of
    for chunk in chunks:
        rows = records.events_pages(
            request, chunk, "distinct_id", "name", records.StoredPropertiesText("properties")
        )
        for distinct_id, name, rest in rows:
            number = number_of.get(distinct_id)
            if number is None:
                continue
            tally = found[number]
            tally.events += 1
            tally.event_names[name] += 1
            tally.event_properties.update(EVENT_COLUMN_PROPERTIES)
            stored = json.loads(rest) if rest else {}
            if isinstance(stored, dict):
                tally.event_properties.update(stored.keys())
        for record in records.profile_records(request, chunk):
            number = number_of.get(record["$distinct_id"])
            if number is not None:
                found[number].profiles += 1
                if isinstance(record["$properties"], dict):
                    found[number].profile_properties.update(record["$properties"].keys())
        for record in records.identity_records(request, chunk, number_of.keys()):
            number = groups.same_group(record["distinct_id"], record["canonical_id"])
            if number is not None:
                found[number].identities += 1
                found[number].identity_kinds[record["kind"]] += 1
    return found


def disclosure_profile_counts(
    request: PrivacyRequest, chunks: Sequence[Sequence[str]], groups: SubjectGroups
) -> dict[int, int]:
    found: dict[int, int] = defaultdict(int)
    for chunk in chunks:
        rows = profiles_of_ids(project_id=request.project_id, distinct_ids=chunk)
        for distinct_id in rows.values_list("distinct_id", flat=True):
            number = groups.number_of.get(distinct_id)
            if number is not None:
                found[number] += 1
    return found


def disclosure_package_write(
    target: IO[bytes], *, context: PackageContext, group: SubjectGroup
) -> dict:
    request = context.request
    page = IndexPage(
        organization=context.organization,
        privacy_contact=context.privacy_contact,
        tracking_id=request.tracking_id,
        generated_at=context.generated_at,
        coverage=context.coverage,
        what=WHAT.get(Disclosure(request.disclosure), WHAT[Disclosure.CATEGORIES]),
    )
    with PackageWriter(
        target, generated_at=context.generated_at, compresslevel=SUBJECT_DEFLATE_LEVEL
    ) as package:
        if request.disclosure == Disclosure.SOURCES:
            counts, body = _sources(package, context, group, page)
        else:
            counts, body = _categories(package, context, group, page)
        notes = subject_notes(context, group)
        package.write_text("index.html", page.head() + page.ids(notes) + body + page.end())
        package.write_text("README.txt", disclosure_readme(context))
        package.write_text(
            "manifest.json",
            subject_json(subject_manifest(context, group, notes, counts, package.files)),
        )
    return counts


def _categories(package, context, group, page) -> tuple[dict, str]:
    categories = context.tallies.get(group.number) or records.Categories()
    plain = PropertyTally(
        events=dict(categories.event_properties),
        profile=dict(categories.profile_properties),
        event_names=dict(categories.event_names),
    ).as_json()
    # The whole archive's shape, with the plain-language categories beside it.
    content = {**categories.as_json(), "about": plain["about"], "categories": plain["categories"]}
    package.write_text("categories.json", subject_json(content))
    counts = {
        "events": categories.events,
        "profiles": categories.profiles,
        "identities": categories.identities,
        "event_names": len(categories.event_names),
        "event_properties": len(categories.event_properties),
        "profile_properties": len(categories.profile_properties),
    }
    return counts, page.categories(plain)


def _sources(package, context, group, page) -> tuple[dict, str]:
    known = context.sources.get(group.number, {})
    profiles = context.profile_counts.get(group.number, 0)
    listed = [
        {
            "source": source,
            "explanation": source_explanation(source),
            "first_seen": iso_utc(seen.first),
            "last_seen": iso_utc(seen.last),
            "count": seen.count,
        }
        for source, seen in sorted(known.items())
    ]
    if profiles:
        listed.append({**PROFILE_SOURCE, "count": profiles})
    package.write_text("sources.json", subject_json(listed))
    events = sum(one.count for one in known.values())
    counts = {"events": events, "profiles": profiles, "sources": len(known)}
    return counts, page.sources(listed)


DISCLOSURE_README = """\
{title}
{underline}

{organization} made {what} at your request (reference {tracking_id}), on {generated_at}.
It names kinds of data and where they came from; it holds no values.
{contact}
{coverage}

Open index.html in any web browser to read it as tables. It needs no internet connection
and runs no program. Every time is in UTC, written as ISO 8601.

Files
-----
index.html       The readable view of the files below.
{file}
manifest.json    What this package covers: the request, your ids and how each was linked,
                 the counts, and a SHA-256 checksum of each file.
"""
FILES = {
    Disclosure.CATEGORIES: (
        "categories.json  The kinds of data held about you in plain words, each with the raw\n"
        "                 property names it stands for, and the names of the events recorded\n"
        "                 about you, with how many records hold each."
    ),
    Disclosure.SOURCES: (
        "sources.json     Each way data about you was collected, explained in words, with the\n"
        "                 first and last time it sent something and how many records."
    ),
}


def disclosure_readme(context: PackageContext) -> str:
    disclosure = Disclosure(context.request.disclosure)
    title = f"Your data held by {context.organization}"
    return DISCLOSURE_README.format(
        title=title,
        underline="=" * len(title),
        organization=context.organization,
        what=WHAT.get(disclosure, WHAT[Disclosure.CATEGORIES]),
        tracking_id=context.request.tracking_id,
        generated_at=iso_utc(context.generated_at),
        contact=(
            f"\nQuestions about your data: {context.privacy_contact}\n"
            if context.privacy_contact
            else ""
        ),
        coverage=context.coverage,
        file=FILES.get(disclosure, FILES[Disclosure.CATEGORIES]),
    )
