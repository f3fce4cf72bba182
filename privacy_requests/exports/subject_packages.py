"""Each subject's own package (issue 17), written from its side of the whole archive
(subject_split) and stored beside it: `<whole archive's name>.subject-<n>.zip`, n from 1.

A subject's package holds what the whole archive holds for that person only, in the same
machine-readable files, plus what a person reads: index.html, categories.json (plain-language
categories beside the raw property names) and sources.json (each source in words).
"""

import copy
import hashlib
import json
import posixpath
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from django.core.files.storage import FileSystemStorage, InMemoryStorage
from django.db import connection
from django.db.models import Count, Max, Min

from privacy_requests.engine.subjects import subject_events
from privacy_requests.exports.files import (
    STORAGE_ERRORS,
    private_storage,
    result_file_delete,
    result_file_save,
)
from privacy_requests.exports.package import PackageWriter, iso_utc, json_text
from privacy_requests.exports.readable import (
    PROFILE_SOURCE,
    IndexPage,
    PropertyTally,
    source_explanation,
)
from privacy_requests.exports.records import Categories, SourceSeen
from privacy_requests.exports.subject_groups import SubjectGroup, SubjectGroups
from privacy_requests.exports.subject_split import SubjectSplit
from privacy_requests.models import PrivacyRequest, RequestSubject

# index.html shows this many events at most; events.jsonl always holds them all.
INDEX_EVENTS = 1000
SUBJECT_SUFFIX = ".subject-"
SAVE_THREADS = 4
# Small files, and a second copy of the data: zlib's fastest level (the whole archive keeps 6).
SUBJECT_DEFLATE_LEVEL = 1
# A subject's package is written in memory up to this size, then on local disk.
SPOOL_IN_MEMORY = 4 * 1024 * 1024


@dataclass
class PackageContext:
    request: PrivacyRequest
    organization: str
    privacy_contact: str
    generated_at: datetime
    coverage: str
    manifest: dict  # the whole archive's manifest, without its files and counts
    notes: dict[str, dict]  # how_linked, by distinct_id
    not_found: frozenset[str]
    sources: dict[int, dict[str, SourceSeen]] = field(default_factory=dict)
    # Categories and Sources disclosures (subject_disclosures): names and counts per subject.
    tallies: dict[int, Categories] = field(default_factory=dict)
    profile_counts: dict[int, int] = field(default_factory=dict)


def subject_file_name(name: str, number: int) -> str:
    return f"{name.removesuffix('.zip')}{SUBJECT_SUFFIX}{number + 1}.zip"


def subject_files_delete(name: str, *, quiet: bool = False) -> None:
    """Deletes whatever subject packages were saved beside the archive named `name` (a run
    that died may have saved some)."""
    if not name:
        return
    folder, base = posixpath.split(name)
    prefix = base.removesuffix(".zip") + SUBJECT_SUFFIX
    try:
        _, files = private_storage().listdir(folder)
    except STORAGE_ERRORS:
        # Nothing to list is nothing to delete; a broken storage fails the save that follows.
        return
    for file in files:
        if file.startswith(prefix):
            result_file_delete(posixpath.join(folder, file), quiet=quiet)


def subject_sources(
    request: PrivacyRequest, chunks: Sequence[Sequence[str]], groups: SubjectGroups
) -> dict[int, dict[str, SourceSeen]]:
    """Each subject's sources, from one aggregate query per chunk."""
    found: dict[int, dict[str, SourceSeen]] = defaultdict(dict)
    for chunk in chunks:
        rows = (
            subject_events(request, chunk)
            .order_by()
            .values("distinct_id", "source")
            .annotate(first=Min("time"), last=Max("time"), count=Count("id"))
            .values_list("distinct_id", "source", "first", "last", "count")
        )
        for distinct_id, source, first, last, count in rows:
            number = groups.number_of.get(distinct_id)
            if number is None:
                continue
            known = found[number].get(source)
            if known is None:
                found[number][source] = SourceSeen(first, last, count)
            else:
                known.first, known.last = min(known.first, first), max(known.last, last)
                known.count += count
    return found


def subject_packages_save(
    *,
    name: str,
    groups: SubjectGroups,
    write: Callable[[IO[bytes], SubjectGroup], None],
    checkpoint: Callable[[int], None],
) -> list[dict]:
    """Writes and stores every subject's package; what was saved is deleted again on error.
    Saving runs in a few threads while the next packages are written: on S3 each save is a
    round trip, thousands of them one after another would dominate the export."""
    saved: list[dict] = []
    try:
        with ThreadPoolExecutor(max_workers=SAVE_THREADS) as pool:
            pending: deque[Future] = deque()
            local = _is_local(private_storage())
            for group in groups.groups:
                spool = tempfile.SpooledTemporaryFile(
                    max_size=SPOOL_IN_MEMORY, prefix="privacy-subject-"
                )
                try:
                    write(spool, group)
                    size = spool.seek(0, 2)
                    digest = _sha256(spool)
                    spool.seek(0)
                except BaseException:
                    spool.close()
                    raise
                file_name = subject_file_name(name, group.number)
                saved.append({"file": file_name, "bytes": size, "sha256": digest})
                if local:  # threads would only contend for the GIL
                    _save_and_close(file_name, spool)
                else:
                    pending.append(pool.submit(_save_and_close, file_name, spool))
                while len(pending) > 2 * SAVE_THREADS:
                    pending.popleft().result()
                if len(saved) % 100 == 0:
                    checkpoint(len(saved))
            for future in pending:
                future.result()
    except BaseException:
        # The pool has finished every save it started: nothing is written after this.
        for entry in saved:
            result_file_delete(entry["file"], quiet=True)
        raise
    return saved


def _is_local(storage) -> bool:
    return isinstance(storage, FileSystemStorage | InMemoryStorage)


def _save_and_close(file_name: str, spool: IO[bytes]) -> None:
    try:
        result_file_save(file_name, spool)
    finally:
        spool.close()


def subject_packages_record(request: PrivacyRequest, groups: SubjectGroups) -> None:
    """Which package holds each subject id, for the API's subject_results and the pages."""
    subjects = RequestSubject.objects.filter(request_id=request.id)
    if connection.vendor != "postgresql":
        subjects.update(package=None)
        rows = list(subjects.only("id", "distinct_id"))
        for row in rows:
            row.package = groups.number_of.get(row.distinct_id)
        RequestSubject.objects.bulk_update(rows, ["package"], batch_size=500)
        return
    # One statement that sets every subject's number (NULL for one in no package) and writes
    # only the rows it changes: bulk_update's CASE is quadratic in the batch on PostgreSQL, and
    # clearing them all first wrote every row twice.
    pairs = list(groups.number_of.items())
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE privacy_requests_requestsubject AS s SET package = v.package "
            "FROM privacy_requests_requestsubject AS t "
            "LEFT JOIN unnest(%s::text[], %s::integer[]) AS v(distinct_id, package) "
            "ON v.distinct_id = t.distinct_id "
            "WHERE t.request_id = %s AND s.id = t.id AND s.package IS DISTINCT FROM v.package",
            [[p[0] for p in pairs], [p[1] for p in pairs], request.id],
        )


def _sha256(spool: IO[bytes]) -> str:
    digest = hashlib.sha256()
    spool.seek(0)
    while block := spool.read(1024 * 1024):
        digest.update(block)
    return digest.hexdigest()


def subject_package_write(
    target: IO[bytes],
    *,
    context: PackageContext,
    group: SubjectGroup,
    split: SubjectSplit,
) -> dict:
    number = group.number
    sides = split.sides
    tally = PropertyTally()
    shown: list[dict] = []
    events = 0
    with PackageWriter(
        target, generated_at=context.generated_at, compresslevel=SUBJECT_DEFLATE_LEVEL
    ) as package:
        with package.entry("events.jsonl", large=True) as out:
            for line in sides["events"].lines(number):
                out.write(line + "\n")
                event = json.loads(line)
                properties = event.get("properties")
                tally.add_event(
                    str(event.get("event", "")), properties if isinstance(properties, dict) else ()
                )
                if len(shown) < INDEX_EVENTS:
                    shown.append(event)
                events += 1
        profiles = [json.loads(line) for line in sides["profiles"].lines(number)]
        for profile in profiles:
            if isinstance(profile.get("$properties"), dict):
                tally.add_profile(profile["$properties"])
        identities = [json.loads(line) for line in sides["identities"].lines(number)]
        evidence = [json.loads(line) for line in sides["identity_evidence"].lines(number)]
        package.write_json_list("profiles.json", profiles)
        package.write_json_list("identities.json", identities)
        package.write_json_list("identity_evidence.json", evidence)
        categories = tally.as_json()
        package.write_text("categories.json", subject_json(categories))
        source_list = [
            {
                "source": source,
                "explanation": source_explanation(source),
                "first_seen": iso_utc(seen.first),
                "last_seen": iso_utc(seen.last),
                "count": seen.count,
            }
            for source, seen in sorted(context.sources.get(number, {}).items())
        ]
        if profiles:
            source_list.append({**PROFILE_SOURCE, "count": len(profiles)})
        package.write_text("sources.json", subject_json(source_list))
        notes = subject_notes(context, group)
        page = IndexPage(
            organization=context.organization,
            privacy_contact=context.privacy_contact,
            tracking_id=context.request.tracking_id,
            generated_at=context.generated_at,
            coverage=context.coverage,
        )
        with package.entry("index.html") as html:
            html.write(page.head())
            html.write(page.ids(notes))
            html.write(page.profile(profiles))
            html.write(page.identities(identities))
            html.write(page.categories(categories))
            html.write(page.sources(source_list))
            html.write(page.events_head(events, len(shown)))
            for event in shown:
                html.write(page.event_row(event))
            html.write(page.tail())
        package.write_text("README.txt", subject_readme(context, group))
        counts = {
            "events": events,
            "profiles": len(profiles),
            "identities": len(identities),
            "identity_evidence": len(evidence),
        }
        package.write_text(
            "manifest.json",
            subject_json(subject_manifest(context, group, notes, counts, package.files)),
        )
    return counts


def subject_manifest(
    context: PackageContext, group: SubjectGroup, notes: list[dict], counts: dict, files: dict
) -> dict:
    return {
        "organization": {
            "name": context.organization,
            "privacy_contact": context.privacy_contact or None,
        },
        **copy.deepcopy(context.manifest),
        "subjects": {
            "given": group.given,
            "linked": [i for i in group.ids if i not in set(group.given)],
        },
        "how_linked": notes,
        "not_found": [i for i in group.given if i in context.not_found],
        "counts": counts,
        "files": files,
    }


def subject_notes(context: PackageContext, group: SubjectGroup) -> list[dict]:
    return [_note(context.notes[i], group) for i in group.ids if i in context.notes]


def subject_json(value: object) -> str:
    """JSON with one line per top-level key or item, nested values compact: readable in a text
    editor, and made by the C encoder (indented JSON is made in pure Python, and slow)."""
    if isinstance(value, dict) and value:
        lines = [f"  {json_text(key)}: {json_text(item)}" for key, item in value.items()]
        return "{\n" + ",\n".join(lines) + "\n}\n"
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(f"  {json_text(item)}" for item in value) + "\n]\n"
    return json_text(value) + "\n"


def _note(note: dict, group: SubjectGroup) -> dict:
    """A note of how an id came in, naming no id of another subject."""
    link = note.get("link")
    if link and link.get("other_id") and link["other_id"] not in group.ids:
        note = {**note, "link": {**link, "other_id": None}}
    return note


SUBJECT_README = """\
Your data held by {organization}
{underline}

This package holds the data that {organization}'s product analytics hold about you, as a copy
for you. It was made at your request (reference {tracking_id}) on {generated_at}.
{contact}
{coverage}

Open index.html in any web browser to read it as tables: your ids, your profile, the links
between your ids, the kinds of data, where it came from, and your events. It needs no
internet connection and runs no program.

Every time is in UTC, written as ISO 8601 (year-month-day, then the time), except in
events.jsonl, where "time" is in seconds since 1 January 1970, UTC, as Mixpanel writes it.

Files
-----
index.html       The readable view of everything below.
events.jsonl     Every event recorded about you, one per line, oldest first for each id.
profiles.json    Your user profile(s): the properties stored about you.
identities.json  Ids known to be you, and how they were linked, and when.
identity_evidence.json
                 Every request to link two of your ids that was received, and what came of
                 it ("formed", "unchanged", "unverified" or "refused").
categories.json  The kinds of data held about you in plain words (contact details, device
                 and browser, location, app activity, purchases, custom properties...), each
                 with the raw property names it stands for.
sources.json     Each way data about you was collected, explained in words, with the first
                 and last time it sent something and how many records.
manifest.json    What this package covers: the request, your ids and how each was linked,
                 how many records each file holds, a SHA-256 checksum of each file, and
                 "audit_chain_head", which lets {organization} prove later that the record of
                 your request was not removed from its log.

The files other than index.html are JSON (https://www.json.org), readable by any text editor
and by most tools that read data. Nothing in this package is encrypted.
"""


def subject_readme(context: PackageContext, group: SubjectGroup) -> str:
    contact = (
        f"\nQuestions about your data: {context.privacy_contact}\n"
        if context.privacy_contact
        else ""
    )
    title = f"Your data held by {context.organization}"
    return SUBJECT_README.format(
        organization=context.organization,
        underline="=" * len(title),
        tracking_id=context.request.tracking_id,
        generated_at=iso_utc(context.generated_at),
        contact=contact,
        coverage=context.coverage,
    )
