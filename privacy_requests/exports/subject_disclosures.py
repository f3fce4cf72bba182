"""Each subject's package of a CCPA Categories or Sources disclosure (issue 17).

These disclosures hold names and counts, not records, so each subject's is counted again from
the database over that subject's ids alone (a few aggregate queries each), after the whole
archive: a person's categories or sources never include anyone else's.
"""

from typing import IO

from django.conf import settings

from privacy_requests.exports import records
from privacy_requests.exports.package import PackageWriter, iso_utc
from privacy_requests.exports.readable import (
    PROFILE_SOURCE,
    IndexPage,
    PropertyTally,
    source_explanation,
)
from privacy_requests.exports.subject_groups import SubjectGroup
from privacy_requests.exports.subject_packages import (
    SUBJECT_DEFLATE_LEVEL,
    PackageContext,
    subject_json,
    subject_manifest,
    subject_notes,
)
from privacy_requests.models import Disclosure
from projects.chunking import in_chunks

WHAT = {
    Disclosure.CATEGORIES: "this list of the kinds of data its product analytics hold about you",
    Disclosure.SOURCES: "this list of where the data its product analytics hold about you "
    "came from",
}


def disclosure_package_write(
    target: IO[bytes], *, context: PackageContext, group: SubjectGroup
) -> dict:
    request = context.request
    parts = list(in_chunks(group.ids, settings.PRIVACY_SUBJECT_CHUNK))
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
            counts, body = _sources(package, context, parts, page)
        else:
            counts, body = _categories(package, context, parts, frozenset(group.ids), page)
        notes = subject_notes(context, group)
        package.write_text("index.html", page.head() + page.ids(notes) + body + page.end())
        package.write_text("README.txt", disclosure_readme(context))
        package.write_text(
            "manifest.json",
            subject_json(subject_manifest(context, group, notes, counts, package.files)),
        )
    return counts


def _categories(package, context, parts, mine, page) -> tuple[dict, str]:
    request = context.request
    categories = records.Categories()
    for part in parts:
        categories.add_events(request, part)
        categories.add_profiles(request, part)
        categories.add_identities(request, part, mine)
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


def _sources(package, context, parts, page) -> tuple[dict, str]:
    request = context.request
    sources = records.Sources()
    profiles = 0
    for part in parts:
        sources.add_events(request, part)
        profiles += records.profile_count(request, part)
    listed = [
        {
            "source": source,
            "explanation": source_explanation(source),
            "first_seen": iso_utc(seen.first),
            "last_seen": iso_utc(seen.last),
            "count": seen.count,
        }
        for source, seen in sorted(sources.seen.items())
    ]
    if profiles:
        listed.append({**PROFILE_SOURCE, "count": profiles})
    package.write_text("sources.json", subject_json(listed))
    counts = {"events": sources.events, "profiles": profiles, "sources": len(sources.seen)}
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
