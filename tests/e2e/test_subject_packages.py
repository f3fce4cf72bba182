"""One package per subject through the GDPR API (issue 17, item 9), against a live server: a real
`runserver` and a real `rqworker` (the stack and the end users of test_api_clients.py).

A client reads the ids of several people from a CSV, asks for one retrieval of all of them,
reads `result` the way Mixpanel's clients do (the whole archive, unchanged), then downloads each
subject's package from `subject_results` and finds in it that person's rows and no one else's.
"""

import csv
import io
import json
import time
import zipfile

import pytest

from tests.e2e.test_api_clients import (  # noqa: F401  (the fixtures are used by name)
    RETRIEVALS,
    GdprClient,
    acme,
    stack,
)

pytestmark = pytest.mark.e2e

WHOLE_ARCHIVE = [
    "README.txt",
    "events.jsonl",
    "identities.json",
    "identity_evidence.json",
    "manifest.json",
    "profiles.json",
]


def unzipped(content: bytes, *, pwd: bytes | None = None) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        assert package.testzip() is None
        return {name: package.read(name, pwd=pwd) for name in package.namelist()}


def ids_named(files: dict[str, bytes]) -> set[str]:
    """Every distinct_id any record of a package names."""
    events = [json.loads(line) for line in files["events.jsonl"].decode().splitlines()]
    found = {event["properties"]["distinct_id"] for event in events}
    found |= {profile["$distinct_id"] for profile in json.loads(files["profiles.json"])}
    for name in ("identities.json", "identity_evidence.json"):
        for record in json.loads(files[name]):
            found |= {record["distinct_id"], record["canonical_id"]}
    return found


def test_each_subject_of_a_csv_downloads_a_package_of_their_own_data(
    stack,  # noqa: F811
    acme,  # noqa: F811
    tmp_path,
):
    web = acme["web"]
    people = tmp_path / "people.csv"
    people.write_text("distinct_id,note\nalice@example.com,Alice\nbob,Bob\nAlice,other\nghost,-\n")
    with people.open(newline="") as rows:
        ids = [row["distinct_id"] for row in csv.DictReader(rows)]
    client = GdprClient(
        stack["base_url"], project_token=web["project_token"], gdpr_token=web["gdpr_token"]
    )

    task_id = client.create(RETRIEVALS, {"distinct_ids": ids})
    results = client.wait(f"{RETRIEVALS}{task_id}/")
    # The whole archive is ready at SUCCESS; each person's package a moment later.
    deadline = time.monotonic() + 60
    while results["subject_results_pending"] and time.monotonic() < deadline:
        time.sleep(0.2)
        results = client.status(f"{RETRIEVALS}{task_id}/")
    assert not results["subject_results_pending"]

    # `result` is the whole archive, read as Mixpanel's clients read it: the same files.
    secret = web["api_secret"].encode()
    whole = unzipped(client.download(results["result"]).content, pwd=secret)
    assert sorted(whole) == WHOLE_ARCHIVE
    assert ids_named(whole) == {"$device:phone-1", "alice", "alice@example.com", "bob", "Alice"}
    whole_lines = whole["events.jsonl"].decode().splitlines()

    subjects = results["subject_results"]
    assert [(s["distinct_id"], s["reached_distinct_ids"]) for s in subjects] == [
        ("alice@example.com", ["alice@example.com", "$device:phone-1", "alice"]),
        ("bob", ["bob"]),
        ("Alice", ["Alice"]),
        ("ghost", []),
    ]
    for number, subject in enumerate(subjects, start=1):
        download = client.download(subject["result"])
        assert download.headers["Content-Type"] == "application/zip"
        assert download.headers["Content-Disposition"] == (
            f'attachment; filename="{task_id}-subject-{number}.zip"'
        )
        files = unzipped(download.content)
        assert set(WHOLE_ARCHIVE) < set(files)
        assert {"index.html", "categories.json", "sources.json"} < set(files)
        mine = set(subject["reached_distinct_ids"])
        # Only this person's rows, and every one of them, as the whole archive has them.
        assert ids_named(files) == mine
        lines = files["events.jsonl"].decode().splitlines()
        assert lines == [
            line for line in whole_lines if json.loads(line)["properties"]["distinct_id"] in mine
        ]
        manifest = json.loads(files["manifest.json"])
        assert manifest["organization"]["name"] == "Acme"
        assert manifest["request"]["tracking_id"] == task_id
        page = files["index.html"].decode()
        for other in {"bob", "Alice", "alice"} - mine:
            assert f"<code>{other}</code>" not in page

    alice = unzipped(client.download(subjects[0]["result"]).content)
    events = [json.loads(line) for line in alice["events.jsonl"].decode().splitlines()]
    assert events == acme["expected_events"]
    sources = {s["source"]: s["explanation"] for s in json.loads(alice["sources.json"])}
    assert sources[f"track/python {events[-1]['properties']['$lib_version']}"].startswith(
        "Sent by the product as things happened, from its servers (Mixpanel's Python library)"
    )
    assert json.loads(unzipped(client.download(subjects[3]["result"]).content)["manifest.json"])[
        "not_found"
    ] == ["ghost"]
