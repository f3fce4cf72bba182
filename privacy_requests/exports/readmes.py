"""The README.txt of the whole archive, by disclosure (moved out of the processor unchanged)."""

from privacy_requests.engine.subjects import event_window
from privacy_requests.exports.package import iso_utc
from privacy_requests.models import Disclosure, PrivacyRequest

README_DATA = """\
Your data
=========

This package holds the data that {what} for the user ids listed in manifest.json, as a
copy for you. It was made at your request (reference {tracking_id}).

{coverage}

Files
-----
events.jsonl     Every event recorded about you, one per line, oldest first for each id.
                 "time" is in seconds since 1 January 1970, UTC.
profiles.json    Your user profile(s): the properties stored about you.
identities.json  Ids we know to be you, and how they were linked (for example an alias,
                 or a device you used before signing in), when, and whether the link
                 came from the product's own servers ("authenticated") or from an app or
                 web page ("authenticated": false).
identity_evidence.json
                 Every request to link two of your ids that we received, and what came
                 of it: "formed" (the ids were linked), "unchanged" (already linked),
                 "unverified" (not trusted enough to link them) or "refused" (with the
                 reason), with when it was first and last seen and how many times.
manifest.json    What this package covers: the request, the ids and how each was linked
                 to the others, how many records each file holds, and a SHA-256 checksum
                 of each file. Its "audit_chain_head" names the latest entry of our
                 tamper-evident log of privacy requests when the package was made: keep
                 it, and we can prove later that the record of your request was not
                 removed from that log.

The files are JSON (https://www.json.org), readable by any text editor and by most tools
that read data. Nothing in this package is encrypted.
"""

README_CATEGORIES = """\
Categories of your data
=======================

You asked which categories of personal information {what} about you, without the data
itself (reference {tracking_id}).

{coverage}

Files
-----
categories.json  The kinds of events recorded about you and the names of the properties
                 stored with them and in your profile, each with how many records have it.
                 It holds names only, never the values.
manifest.json    What this package covers: the request, the ids, the counts, and a
                 SHA-256 checksum of each file. Its "audit_chain_head" names the latest
                 entry of our tamper-evident log of privacy requests when the package was
                 made: keep it, and we can prove later that the record of your request was
                 not removed from that log.
"""

README_SOURCES = """\
Sources of your data
====================

You asked where the personal information {what} about you came from (reference
{tracking_id}).

{coverage}

Files
-----
sources.json     Each means by which data about you was collected (for example a website,
                 a mobile app or a server import, with its software library), with the times
                 of the first and last event it sent (UTC) and how many events it sent.
manifest.json    What this package covers: the request, the ids, the counts, and a
                 SHA-256 checksum of each file. Its "audit_chain_head" names the latest
                 entry of our tamper-evident log of privacy requests when the package was
                 made: keep it, and we can prove later that the record of your request was
                 not removed from that log.
"""


def coverage_text(request: PrivacyRequest) -> str:
    window = event_window(request)
    if window:
        return (
            f"It covers events from {iso_utc(window[0])} to {iso_utc(window[1])} (the "
            "12 months before your request, as the CCPA provides), and your profile and "
            "linked ids as they are now."
        )
    return "It covers all the data held, whatever its age."


def readme_text(request: PrivacyRequest) -> str:
    coverage = coverage_text(request)
    templates: dict[str, str] = {
        Disclosure.CATEGORIES: README_CATEGORIES,
        Disclosure.SOURCES: README_SOURCES,
    }
    template = templates.get(request.disclosure, README_DATA)
    return template.format(
        what="this product's analytics hold", tracking_id=request.tracking_id, coverage=coverage
    )
