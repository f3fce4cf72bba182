"""The engine's statements on the end-user data store keep the rules a distributed store
(Citus, distributed on distinct_id) sets (issue 20): no snapshot by `MAX(id)`, every DELETE and
UPDATE on events, profiles, identity links and link records routed by `distinct_id = ANY(…)`,
no server-side cursor on them. Every statement of whole requests is captured, on PostgreSQL,
where the rules matter (SQLite's IN lists and cursors are another matter)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from privacy_requests.exports import records
from privacy_requests.models import Status
from projects.identity import LinkRequest, identity_links_apply
from projects.models import IdentityKind, IdentityLink, Profile
from tests.privacy_requests.deletion_support import T0, events_add, profile_add
from tests.projects.ingestion_support import post_data

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the routing rules are PostgreSQL's (Citus)"
    ),
]

STORE_TABLES = ("projects_event", "projects_profile", "projects_identitylink")
STORE_TABLES += ("projects_identitylinkrecord",)
_CHANGES = re.compile(
    r'^\s*(DELETE\s+FROM|UPDATE)\s+"?(projects_event|projects_profile|projects_identitylink'
    r'|projects_identitylinkrecord)"?\s',
    re.IGNORECASE,
)


class Statements:
    """Every statement the connection runs; a server-side cursor's as "DECLARE <its query>"
    (psycopg declares it on the wire, so its query is all Django's wrapper sees)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        server_side = getattr(context["cursor"].cursor, "name", None)
        self.sql.append(f"DECLARE {sql}" if server_side else sql)
        return execute(sql, params, many, context)

    def broken_rules(self) -> list[str]:
        broken = []
        for sql in self.sql:
            flat = " ".join(sql.split())
            if re.search(r"MAX\(\s*\"?(projects_event\"?\.)?\"?id\"?\s*\)", flat, re.IGNORECASE):
                broken.append(f"snapshot by MAX(id): {flat[:160]}")
            changed = _CHANGES.match(flat)
            if changed and not re.search(r'\bdistinct_id"? = ANY\(', flat):
                broken.append(f"{changed.group(1)} without distinct_id = ANY: {flat[:200]}")
            if flat.startswith("DECLARE") and any(table in flat for table in STORE_TABLES):
                broken.append(f"server-side cursor on the store: {flat[:160]}")
        return broken


@pytest.fixture
def store(project):
    # Alice's cluster (with link records), many events of hers (more than a batch), Bob's few.
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alias-of-alice", "alice", IdentityKind.ALIAS),
            LinkRequest("$device:phone", "alice", IdentityKind.DEVICE),
        ],
    )
    jane = {"$email": "alice@end-user.test", "$city": "Lisbon", "plan": "pro"}
    events_add(project, "alice", 9, properties=jane)
    events_add(project, "alias-of-alice", 3, start=T0 + timedelta(days=1), properties=jane)
    events_add(project, "$device:phone", 2, properties=jane)
    events_add(project, "bob", 2)
    profile_add(project, "alice", dict(jane))
    profile_add(project, "bob", {"$email": "bob@end-user.test"})


def run_captured(submit, **request) -> tuple[Statements, object]:
    statements = Statements()
    with connection.execute_wrapper(statements):
        done = submit(run=True, **request)
    done.refresh_from_db()
    assert done.status == Status.SUCCESS, done.error
    return statements, done


@pytest.fixture
def small_batches(settings, monkeypatch):
    # Batches and pages smaller than a subject's events: time slices and keyset pages run too.
    settings.PRIVACY_DELETION_BATCH = 2
    settings.PRIVACY_SUBJECT_CHUNK = 2
    monkeypatch.setattr(records, "FETCH_ROWS", 2)


@pytest.mark.parametrize(
    "request_kind",
    [
        {"kind": "export"},
        {"kind": "export", "compliance": "CCPA", "disclosure": "Categories"},
        {"kind": "export", "compliance": "CCPA", "disclosure": "Sources"},
        {"kind": "deletion"},
        {
            "kind": "deletion",
            "compliance": "CCPA",
            "disclosure": "Categories",
            "categories": ["contact"],
        },
        {
            "kind": "deletion",
            "compliance": "CCPA",
            "disclosure": "Sources",
            "sources": ["track/python 5.4.1", "engage"],
        },
    ],
    ids=lambda r: "-".join(str(v) for k, v in r.items() if k not in ("categories", "sources")),
)
def test_a_whole_request_keeps_the_rules_of_a_distributed_store(
    submit, store, small_batches, request_kind
):
    statements, done = run_captured(submit, distinct_ids=["alice", "bob"], **request_kind)

    assert statements.broken_rules() == []
    # The request did its work through those statements.
    # Bob's events hold no contact details: a deletion of that category leaves them as they are.
    changed_only_alices = request_kind.get("categories") == ["contact"]
    assert done.counts["events"] == (14 if changed_only_alices else 16)
    touched = [sql for sql in statements.sql if "projects_event" in sql]
    assert touched
    if request_kind["kind"] == "deletion":
        assert any(_CHANGES.match(" ".join(sql.split())) for sql in statements.sql)


def test_profile_ingestion_keeps_the_rules_of_a_distributed_store(client, project):
    # Issue 20's rule for ingestion: profiles updated and deleted by their distinct_ids.
    now = timezone.now()
    for distinct_id, properties in (("carol", {"plan": "free"}), ("dave", {"x": 1})):
        Profile.objects.create(
            project=project, distinct_id=distinct_id, properties=properties, updated_at=now
        )
    token = project.token
    records = [
        {"$token": token, "$distinct_id": "carol", "$set": {"plan": "pro", "note": "it's"}},
        {"$token": token, "$distinct_id": "dave", "$delete": ""},
        {"$token": token, "$distinct_id": "erin", "$set": {"a": 1}},
    ]
    statements = Statements()

    with connection.execute_wrapper(statements):
        response = post_data(client, "/engage", records, verbose=1)

    assert response.json() == {"status": 1, "error": None}
    assert statements.broken_rules() == []
    assert sorted(Profile.objects.values_list("distinct_id", "properties")) == [
        ("carol", {"plan": "pro", "note": "it's"}),
        ("erin", {"a": 1}),
    ]
    assert Profile.objects.get(distinct_id="carol").updated_at > now
    changes = [sql for sql in statements.sql if _CHANGES.match(" ".join(sql.split()))]
    assert [sql.split()[0] for sql in changes] == ["DELETE", "UPDATE"]


def test_a_merge_moves_a_clusters_rows_by_their_distinct_ids(project):
    # Two stored clusters; the merge moves the rows of one root to the other's.
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alias-1-of-a", "a", IdentityKind.ALIAS),
            LinkRequest("alias-2-of-a", "a", IdentityKind.ALIAS),
            LinkRequest("alias-of-b", "b", IdentityKind.ALIAS),
        ],
    )
    statements = Statements()

    with connection.execute_wrapper(statements):
        identity_links_apply(project=project, links=[LinkRequest("a", "b", IdentityKind.MERGE)])

    assert statements.broken_rules() == []
    assert sorted(IdentityLink.objects.values_list("distinct_id", "canonical_id")) == [
        ("a", "b"),
        ("alias-1-of-a", "b"),
        ("alias-2-of-a", "b"),
        ("alias-of-b", "b"),
    ]
