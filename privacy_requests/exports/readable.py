"""What a person reads in their package (issue 17): the sources in words, and index.html, a page
of plain tables (no scripts, nothing fetched: it works offline) with every value escaped."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from html import escape

from privacy_requests.exports.package import iso_utc, json_text
from privacy_requests.property_categories import CATEGORIES, property_category

ENDPOINTS = {
    "track": "sent by the product as things happened",
    "import": "imported by the product afterwards, from its own records",
    "engage": "a change to your profile sent by the product",
    "groups": "a change to a group you belong to, sent by the product",
}
LIBRARIES = {
    "web": "its website (Mixpanel's JavaScript library)",
    "js": "its website (Mixpanel's JavaScript library)",
    "android": "its Android app",
    "iphone": "its iOS app",
    "swift": "its iOS app",
    "react-native": "its mobile app (React Native)",
    "flutter": "its mobile app (Flutter)",
    "unity": "its game or app (Unity)",
    "python": "its servers (Mixpanel's Python library)",
    "node": "its servers (Mixpanel's Node.js library)",
    "ruby": "its servers (Mixpanel's Ruby library)",
    "php": "its servers (Mixpanel's PHP library)",
    "java": "its servers (Mixpanel's Java library)",
    "go": "its servers (Mixpanel's Go library)",
}


def source_explanation(source: str) -> str:
    """E.g. "track/python 5.4.1" -> "Sent by the product as things happened, from its servers
    (Mixpanel's Python library), version 5.4.1."."""
    endpoint, _, library = source.partition("/")
    text = ENDPOINTS.get(endpoint, f'received through "{endpoint or "an unknown route"}"')
    if library:
        name, _, version = library.partition(" ")
        text += ", from " + LIBRARIES.get(name, f'a program using the "{name}" library')
        if version:
            text += f", version {version}"
    else:
        text += ", with no library named"
    return text[0].upper() + text[1:] + "."


PROFILE_SOURCE = {
    "source": "engage",
    "explanation": (
        "Your profile: properties the product set or changed about you (Mixpanel's /engage)."
    ),
}


@dataclass
class PropertyTally:
    """Property names seen in a subject's events and profile, with how many records hold each."""

    events: dict[str, int] = field(default_factory=dict)
    profile: dict[str, int] = field(default_factory=dict)
    event_names: dict[str, int] = field(default_factory=dict)

    def add_event(self, name: str, properties: Iterable[str]) -> None:
        self.event_names[name] = self.event_names.get(name, 0) + 1
        for key in properties:
            self.events[key] = self.events.get(key, 0) + 1

    def add_profile(self, properties: Iterable[str]) -> None:
        for key in properties:
            self.profile[key] = self.profile.get(key, 0) + 1

    def as_json(self) -> dict:
        found: dict[str, list[dict]] = {}
        for where, tally in (("events", self.events), ("profile", self.profile)):
            for name in sorted(tally):
                found.setdefault(property_category(name).key, []).append(
                    {"property": name, "found_in": where, "records": tally[name]}
                )
        return {
            "about": (
                "The kinds of personal information held about you, in plain words, each with "
                "the raw property names it stands for and how many records hold them."
            ),
            "categories": [
                {
                    "category": category.key,
                    "name": category.name,
                    "description": category.description,
                    "properties": found[category.key],
                }
                for category in CATEGORIES
                if category.key in found
            ],
            "event_names": [
                {"name": name, "count": self.event_names[name]} for name in sorted(self.event_names)
            ],
        }


STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#111}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}td{overflow-wrap:anywhere}.muted{color:#555}
dl.props{margin:0}dl.props dt{font-weight:600;display:inline}
dl.props dd{display:inline;margin:0 0 0 .3rem}
dl.props dd::after{content:"";display:block}
"""


def _cell(value: object) -> str:
    return escape(value if isinstance(value, str) else json_text(value))


def _table(caption: str, headers: list[str], rows: Iterable[Iterable[str]]) -> str:
    """Rows are already escaped HTML."""
    head = "".join(f'<th scope="col">{escape(header)}</th>' for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f'<table><caption class="muted">{escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _text(value: str) -> str:
    """Escaped for element content (quotes need escaping in attributes only)."""
    return escape(value, quote=False)


@lru_cache(maxsize=4096)
def _term(name: str) -> str:
    return f"<dt>{escape(name)}</dt>"


def _properties(properties: dict) -> str:
    """An event's properties as name: value lines (their categories are in the table of
    categories: repeated on every event they would drown the values)."""
    items = "".join(
        f"{_term(name)}<dd>{_text(value if isinstance(value, str) else json_text(value))}</dd>"
        for name, value in properties.items()
    )
    return f'<dl class="props">{items}</dl>'


def event_time(seconds: object) -> str:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return iso_utc(datetime.fromtimestamp(seconds, UTC))
    return seconds if isinstance(seconds, str) else json_text(seconds)


@dataclass
class IndexPage:
    organization: str
    privacy_contact: str
    tracking_id: str
    generated_at: datetime
    coverage: str
    what: str = "this copy of the data its product analytics hold about you"

    def head(self) -> str:
        contact = ""
        if self.privacy_contact:
            contact = (
                f"<p>Questions about your data: <strong>{escape(self.privacy_contact)}</strong></p>"
            )
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Your data held by {escape(self.organization)}</title>"
            f"<style>{STYLE}</style></head><body><main>"
            f"<h1>Your data held by {escape(self.organization)}</h1>"
            f"<p>{escape(self.organization)} made {escape(self.what)} at your request "
            f"(reference <code>{escape(self.tracking_id)}</code>), "
            f"on {escape(iso_utc(self.generated_at))}. {escape(self.coverage)} Every time is "
            "in UTC, written as ISO 8601 (year-month-day, then the time).</p>"
            f"{contact}"
            "<p>This page is a readable view; the same data is in the files beside it "
            "(README.txt says what each holds), for any program to read.</p>"
        )

    @staticmethod
    def ids(notes: list[dict]) -> str:
        def how(note: dict) -> str:
            if note["via"] == "given":
                return "the id your request named"
            link = note.get("link")
            words = "linked to you" if note["via"] == "linked" else "added by a person"
            if link:
                words += f" ({link['kind']}, {link['at']})"
            return words

        rows = ([f"<code>{escape(n['distinct_id'])}</code>", escape(how(n))] for n in notes)
        return "<h2>Your ids</h2>" + _table("The ids this copy covers", ["Id", "How"], rows)

    @staticmethod
    def profile(profiles: list[dict]) -> str:
        parts = ["<h2>Your profile</h2>"]
        if not profiles:
            parts.append("<p>No profile is held about you.</p>")
        for record in profiles:
            properties = record.get("$properties") or {}
            rows = (
                [escape(name), escape(property_category(name).name), _cell(value)]
                for name, value in (properties.items() if isinstance(properties, dict) else ())
            )
            parts.append(
                _table(
                    f"Profile of {record['$distinct_id']}",
                    ["Property", "Category", "Value"],
                    rows,
                )
            )
        return "".join(parts)

    @staticmethod
    def identities(links: list[dict]) -> str:
        if not links:
            return "<h2>Links between your ids</h2><p>None.</p>"
        rows = (
            [
                f"<code>{escape(link['distinct_id'])}</code>",
                f"<code>{escape(link['canonical_id'])}</code>",
                escape(link["kind"]),
                escape(link["linked_at"]),
            ]
            for link in links
        )
        return "<h2>Links between your ids</h2>" + _table(
            "Ids known to be you, and how they were linked",
            ["Id", "Linked to", "How", "When (UTC)"],
            rows,
        )

    @staticmethod
    def categories(tally: dict) -> str:
        rows = (
            [
                f"<strong>{escape(c['name'])}</strong><br>{escape(c['description'])}",
                ", ".join(f"<code>{escape(p['property'])}</code>" for p in c["properties"]),
            ]
            for c in tally["categories"]
        )
        return "<h2>Kinds of data</h2>" + _table(
            "Categories of the data, with the raw property names", ["Category", "Properties"], rows
        )

    @staticmethod
    def sources(sources: list[dict]) -> str:
        rows = (
            [
                f"<code>{escape(s['source'])}</code>",
                escape(s["explanation"]),
                escape(s.get("first_seen") or ""),
                escape(s.get("last_seen") or ""),
                escape(str(s.get("count", ""))),
            ]
            for s in sources
        )
        return "<h2>Where the data came from</h2>" + _table(
            "Each source, in words", ["Source", "Meaning", "First", "Last", "Records"], rows
        )

    @staticmethod
    def events_head(total: int, shown: int) -> str:
        note = f"All {total} events, oldest first for each id."
        if shown < total:
            note = (
                f"The first {shown} of {total} events; all of them are in events.jsonl, "
                "one per line."
            )
        return (
            f"<h2>Your events</h2><p>{escape(note)}</p><table>"
            '<caption class="muted">Events recorded about you</caption><thead><tr>'
            '<th scope="col">Time (UTC)</th><th scope="col">Event</th>'
            '<th scope="col">Id</th><th scope="col">Details</th></tr></thead><tbody>'
        )

    @staticmethod
    def event_row(event: dict) -> str:
        properties = dict(event.get("properties") or {})
        moment = event_time(properties.pop("time", ""))
        distinct_id = properties.pop("distinct_id", "")
        properties.pop("$insert_id", None)
        return (
            f"<tr><td>{escape(moment)}</td><td>{_cell(event.get('event', ''))}</td>"
            f"<td><code>{_cell(distinct_id)}</code></td><td>{_properties(properties)}</td></tr>"
        )

    @staticmethod
    def tail() -> str:
        return "</tbody></table></main></body></html>\n"

    @staticmethod
    def end() -> str:
        return "</main></body></html>\n"
