"""Idempotency-Key on GDPR API creates (issue 13, DESIGN section 6): the same key with the same
body gets the first request's answer; with another body a 422 that names the key, and no second
request; keys live 24 hours, belong to their principal and are stored only as a keyed hash."""

import json
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Role
from accounts.services import gdpr_token_reset
from privacy_requests.models import AuditEntry, IdempotencyKey, PrivacyRequest
from privacy_requests.services import privacy_sweep
from privacy_requests.services.idempotency import idempotency_key_hash, request_body_hash
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

RETRIEVALS = "/api/app/data-retrievals/v3.0/"
DELETIONS = "/api/app/data-deletions/v3.0/"
KEY = "order-42@example.com"


def reused(key: str) -> dict:
    return {
        "status": "error",
        "error": (
            f"The Idempotency-Key '{key}' was already used for a different request in the last "
            "24 hours (another kind, compliance_type, disclosure_type or distinct_ids): use "
            "another key for a different request."
        ),
    }


@pytest.fixture
def bearer(project):
    def make(role=Role.OWNER):
        user = MembershipFactory(organization=project.organization, role=role).user
        return f"Bearer {gdpr_token_reset(user=user)}"

    return make


@pytest.fixture
def create(client, project, bearer):
    default = bearer()

    def post(path, body, *, key=KEY, authorization=None):
        headers = {"HTTP_AUTHORIZATION": authorization or default}
        if key is not None:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        return client.post(
            f"{path}?token={project.token}",
            data=json.dumps(body),
            content_type="application/json",
            **headers,
        )

    return post


def task_id(response) -> str:
    return response.json()["results"]["task_id"]


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({"distinct_ids": ["a", "b"]}, {"distinct_ids": ["a", "b"]}),
        # The same request in other words: case of the enums, repeated ids, defaults spelled out.
        (
            {"distinct_ids": ["a", "b"], "compliance_type": "ccpa"},
            {"distinct_ids": ["a", "a", "b"], "compliance_type": "CCPA", "disclosure_type": "data"},
        ),
        ({"distinct_ids": ["a"]}, {"distinct_ids": ["a"], "compliance_type": "GDPR"}),
    ],
)
def test_a_repeat_of_the_same_request_gets_the_first_answer(create, first, again):
    one = create(RETRIEVALS, first)
    two = create(RETRIEVALS, again)

    assert one.status_code == two.status_code == HTTPStatus.CREATED
    assert one.json() == two.json()
    assert PrivacyRequest.objects.count() == 1
    assert AuditEntry.objects.filter(action="submitted").count() == 1


@pytest.mark.parametrize(
    ("path", "first", "again"),
    [
        (DELETIONS, {"distinct_ids": ["alice"]}, {"distinct_ids": ["bob"]}),
        (DELETIONS, {"distinct_ids": ["alice"]}, {"distinct_ids": ["alice", "bob"]}),
        (DELETIONS, {"distinct_ids": ["a", "b"]}, {"distinct_ids": ["b", "a"]}),
        (DELETIONS, {"distinct_ids": ["alice"]}, {"distinct_ids": ["Alice"]}),
        (DELETIONS, {"distinct_ids": ["a"]}, {"distinct_ids": ["a"], "compliance_type": "CCPA"}),
        (
            RETRIEVALS,
            {"distinct_ids": ["a"], "compliance_type": "CCPA"},
            {"distinct_ids": ["a"], "compliance_type": "CCPA", "disclosure_type": "Sources"},
        ),
        (
            DELETIONS,
            {"distinct_ids": ["a"], "compliance_type": "CCPA"},
            {
                "distinct_ids": ["a"],
                "compliance_type": "CCPA",
                "disclosure_type": "Categories",
                "categories": ["contact"],
            },
        ),
        (
            DELETIONS,
            {
                "distinct_ids": ["a"],
                "compliance_type": "CCPA",
                "disclosure_type": "Categories",
                "categories": ["contact"],
            },
            {
                "distinct_ids": ["a"],
                "compliance_type": "CCPA",
                "disclosure_type": "Categories",
                "categories": ["location"],
            },
        ),
    ],
    ids=[
        "other-ids",
        "more-ids",
        "order",
        "case",
        "compliance",
        "disclosure",
        "deletion-disclosure",
        "categories",
    ],
)
def test_the_same_key_with_another_body_is_422_and_creates_nothing(create, path, first, again):
    one = create(path, first)
    before = list(PrivacyRequest.objects.values_list("tracking_id", "kind", "status"))

    two = create(path, again)

    assert one.status_code == HTTPStatus.CREATED
    assert (two.status_code, two.json()) == (HTTPStatus.UNPROCESSABLE_ENTITY, reused(KEY))
    assert list(PrivacyRequest.objects.values_list("tracking_id", "kind", "status")) == before


def test_a_key_used_for_a_retrieval_is_422_on_the_deletions_path(create):
    create(RETRIEVALS, {"distinct_ids": ["a"]})

    response = create(DELETIONS, {"distinct_ids": ["a"]})

    assert (response.status_code, response.json()) == (
        HTTPStatus.UNPROCESSABLE_ENTITY,
        reused(KEY),
    )
    assert list(PrivacyRequest.objects.values_list("kind", flat=True)) == ["export"]


def test_a_key_lives_24_hours_then_starts_a_new_request(create):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = create(DELETIONS, {"distinct_ids": ["alice"]})
    with time_machine.travel(start + timedelta(hours=24) - timedelta(seconds=1), tick=False):
        late_reuse = create(DELETIONS, {"distinct_ids": ["bob"]})
    with time_machine.travel(start + timedelta(hours=24), tick=False):
        after = create(DELETIONS, {"distinct_ids": ["bob"]})
        repeat = create(DELETIONS, {"distinct_ids": ["bob"]})

    assert late_reuse.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert after.status_code == repeat.status_code == HTTPStatus.CREATED
    assert task_id(after) != task_id(first)
    assert task_id(repeat) == task_id(after)
    assert IdempotencyKey.objects.count() == 1


def test_the_sweep_purges_keys_past_24_hours(create):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        create(RETRIEVALS, {"distinct_ids": ["a"]}, key="old")
    with time_machine.travel(start + timedelta(hours=12), tick=False):
        create(RETRIEVALS, {"distinct_ids": ["b"]}, key="young")

    report = privacy_sweep(now=start + timedelta(hours=24, seconds=1))

    assert report.purged_idempotency_keys == 1
    assert "purged 1 expired Idempotency-Keys" in report.as_text()
    assert list(IdempotencyKey.objects.values_list("key_hash", flat=True)) == [
        idempotency_key_hash("young")
    ]


def test_keys_are_stored_only_as_a_keyed_hash(create, settings):
    create(RETRIEVALS, {"distinct_ids": ["alice"]})

    row = IdempotencyKey.objects.get()
    stored = json.dumps(list(IdempotencyKey.objects.values()), default=str)
    assert KEY not in stored
    assert row.key_hash == idempotency_key_hash(KEY)
    settings.PRIVACY_PII_KEY = "another-key"
    assert idempotency_key_hash(KEY) != row.key_hash  # keyed: no dictionary of emails finds it
    assert row.body_hash == request_body_hash(
        kind="export", compliance="GDPR", disclosure="Data", distinct_ids=["alice"]
    )


def test_keys_belong_to_their_person(create, bearer):
    other_admin = bearer(Role.ADMIN)

    mine = create(RETRIEVALS, {"distinct_ids": ["a"]})
    theirs = create(RETRIEVALS, {"distinct_ids": ["b"]}, authorization=other_admin)

    assert mine.status_code == theirs.status_code == HTTPStatus.CREATED
    assert task_id(mine) != task_id(theirs)


def test_a_refused_body_with_a_key_is_refused_as_without_one_and_keeps_nothing(create):
    with_key = create(RETRIEVALS, {"distinct_ids": ["a", 5]})
    without = create(RETRIEVALS, {"distinct_ids": ["a", 5]}, key=None)
    then_valid = create(RETRIEVALS, {"distinct_ids": ["a"]})

    assert with_key.status_code == without.status_code == HTTPStatus.BAD_REQUEST
    assert with_key.json() == without.json()
    assert then_valid.status_code == HTTPStatus.CREATED


def test_a_conflict_with_a_key_keeps_the_key_free(create):
    create(DELETIONS, {"distinct_ids": ["a"]}, key="first")

    conflict = create(DELETIONS, {"distinct_ids": ["a"]}, key="second")
    other = create(DELETIONS, {"distinct_ids": ["b"]}, key="second")

    assert conflict.status_code == HTTPStatus.CONFLICT
    assert other.status_code == HTTPStatus.CREATED


# The migration that hashes existing keys ------------------------------------------------------

BEFORE = [
    ("privacy_requests", "0006_audit_membership_changed"),
    ("accounts", "0002_service_accounts"),
]
AFTER = [("privacy_requests", "0007_idempotency_key_hashes")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_hashes_young_keys_and_drops_old_ones(settings):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    user = old_apps.get_model("accounts", "User").objects.create(email="o@example.com")
    organization = old_apps.get_model("accounts", "Organization").objects.create(name="Acme")
    project = old_apps.get_model("projects", "Project").objects.create(
        organization=organization, name="Web", token="t" * 32, api_secret_hash="h" * 64
    )
    Request = old_apps.get_model("privacy_requests", "PrivacyRequest")
    Subject = old_apps.get_model("privacy_requests", "RequestSubject")
    Key = old_apps.get_model("privacy_requests", "IdempotencyKey")
    now = timezone.now()

    def request_with_key(key, distinct_ids, age):
        request = Request.objects.create(
            tracking_id=key,
            organization=organization,
            project=project,
            requested_by="api:o@example.com",
            kind="deletion",
            compliance="CCPA",
            channel="api",
            received_at=now,
            due_at=now,
            not_before=now,
        )
        for position, distinct_id in enumerate(distinct_ids):
            Subject.objects.create(request=request, distinct_id=distinct_id, position=position)
        Subject.objects.create(request=request, distinct_id="linked", position=99, linked=True)
        row = Key.objects.create(user=user, key=key, request=request)
        Key.objects.filter(id=row.id).update(created_at=now - age)

    request_with_key("young-key", ["b", "a"], timedelta(hours=1))
    request_with_key("old-key", ["c"], timedelta(hours=25))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new_apps = executor.loader.project_state(AFTER).apps
    rows = list(
        new_apps.get_model("privacy_requests", "IdempotencyKey").objects.values(
            "user_id", "service_account_id", "key_hash", "body_hash", "request__tracking_id"
        )
    )

    assert rows == [
        {
            "user_id": user.id,
            "service_account_id": None,
            "key_hash": idempotency_key_hash("young-key"),
            "body_hash": request_body_hash(
                kind="deletion", compliance="CCPA", disclosure="Data", distinct_ids=["b", "a"]
            ),
            "request__tracking_id": "young-key",
        }
    ]
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
