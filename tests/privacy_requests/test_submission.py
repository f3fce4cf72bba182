from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.actors import Actor
from accounts.models import Role
from privacy_requests.errors import Conflict, InvalidRequest, NotAllowed
from privacy_requests.models import AuditEntry, PrivacyRequest, RequestSubject, Status
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_submission_saves_a_pending_request_with_its_subjects_and_an_audit_entry(submit, project):
    request = submit(distinct_ids=["b", "a", "b", "B"])

    assert request.status == Status.PENDING
    assert request.project == project
    assert request.organization_id == project.organization_id
    assert request.requested_by.startswith("web:")
    assert list(request.subjects.values_list("distinct_id", flat=True)) == ["b", "a", "B"]
    entry = AuditEntry.objects.get(request=request)
    assert entry.action == "submitted"
    assert entry.actor == request.requested_by
    assert len(entry.detail["subjects"]) == 3
    assert "a" not in entry.detail["subjects"]  # HMACs, never raw ids


@pytest.mark.parametrize(
    ("distinct_ids", "message"),
    [
        ("alice", "distinct_ids must be a list of strings."),
        ([], "distinct_ids must hold at least one id."),
        (["ok", 7], "distinct_ids[1] must be a string."),
        (["ok", "fine", ""], "distinct_ids[2] is empty."),
        (["x" * 256], "distinct_ids[0] is longer than 255 characters."),
        (["a\x00b"], "distinct_ids[0] contains a NUL character."),
        ([f"id{n}" for n in range(2001)], "distinct_ids holds 2001 unique ids; the limit is 2000."),
    ],
)
def test_bad_distinct_ids_are_refused_and_nothing_is_saved(submit, distinct_ids, message):
    with pytest.raises(InvalidRequest) as error:
        submit(distinct_ids=distinct_ids)

    assert str(error.value) == message
    assert error.value.field == "distinct_ids"
    assert PrivacyRequest.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_the_limit_counts_unique_ids(submit):
    ids = [f"id{n}" for n in range(2000)] * 2

    request = submit(distinct_ids=ids)

    assert request.subjects.count() == 2000


def test_an_id_of_255_characters_is_accepted(submit):
    request = submit(distinct_ids=["x" * 255])

    assert request.subjects.get().distinct_id == "x" * 255


@pytest.mark.parametrize(
    ("kind", "compliance", "disclosure", "field"),
    [
        ("export", "HIPAA", None, "compliance_type"),
        ("export", "GDPR", "Categories", "disclosure_type"),
        ("export", "GDPR", "Sources", "disclosure_type"),
        ("export", "CCPA", "Everything", "disclosure_type"),
        ("deletion", "GDPR", "Categories", "disclosure_type"),
        ("deletion", "CCPA", "Categories", "categories"),
        ("erasure", "GDPR", None, "kind"),
    ],
)
def test_bad_enumerations_are_refused(submit, kind, compliance, disclosure, field):
    with pytest.raises(InvalidRequest) as error:
        submit(kind=kind, compliance=compliance, disclosure=disclosure)

    assert error.value.field == field
    assert PrivacyRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("compliance", "disclosure", "expected"),
    [
        ("gdpr", None, ("GDPR", "Data")),
        ("ccpa", "categories", ("CCPA", "Categories")),
        ("Ccpa", "SOURCES", ("CCPA", "Sources")),
        (None, "data", ("GDPR", "Data")),
    ],
)
def test_enumerations_are_case_insensitive_with_defaults(submit, compliance, disclosure, expected):
    request = submit(compliance=compliance, disclosure=disclosure)

    assert (request.compliance, request.disclosure) == expected


@pytest.mark.parametrize(
    ("received_at", "compliance", "due_at"),
    [
        (datetime(2025, 1, 31, 12, tzinfo=UTC), "GDPR", datetime(2025, 2, 28, 12, tzinfo=UTC)),
        (datetime(2024, 1, 31, 12, tzinfo=UTC), "GDPR", datetime(2024, 2, 29, 12, tzinfo=UTC)),
        (datetime(2025, 3, 15, 9, tzinfo=UTC), "GDPR", datetime(2025, 4, 15, 9, tzinfo=UTC)),
        (datetime(2025, 12, 31, 9, tzinfo=UTC), "GDPR", datetime(2026, 1, 31, 9, tzinfo=UTC)),
        (datetime(2025, 1, 31, 12, tzinfo=UTC), "CCPA", datetime(2025, 3, 17, 12, tzinfo=UTC)),
    ],
)
def test_due_dates(submit, received_at, compliance, due_at):
    request = submit(compliance=compliance, received_at=received_at)

    assert request.due_at == due_at


@pytest.mark.parametrize("role", [Role.MEMBER, None])
def test_members_and_anonymous_cannot_submit_and_nothing_is_created(submit, project, role):
    user = (
        MembershipFactory(organization=project.organization, role=role).user
        if role
        else AnonymousUser()
    )

    with pytest.raises(NotAllowed):
        submit(actor=Actor(user=user, via="web"))

    assert PrivacyRequest.objects.count() == 0
    assert RequestSubject.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_another_organizations_owner_cannot_submit(submit):
    stranger = MembershipFactory(organization=ProjectFactory().organization, role=Role.OWNER).user

    with pytest.raises(NotAllowed):
        submit(actor=Actor(user=stranger, via="api"))

    assert PrivacyRequest.objects.count() == 0


def test_admin_can_submit(submit, project):
    admin = MembershipFactory(organization=project.organization, role=Role.ADMIN).user

    request = submit(actor=Actor(user=admin, via="api"), kind="deletion")

    assert request.requested_by == f"api:{admin.email}"
    assert request.channel == "web"


def test_a_deletion_overlapping_an_unfinished_deletion_is_a_conflict(submit):
    first = submit(kind="deletion", distinct_ids=["a", "b"])

    with pytest.raises(Conflict) as error:
        submit(kind="deletion", distinct_ids=["c", "b", "a"])

    assert error.value.distinct_ids == ["b", "a"]
    assert error.value.tracking_ids == [first.tracking_id]
    assert first.tracking_id in str(error.value)
    assert PrivacyRequest.objects.count() == 1


def test_exports_and_finished_deletions_do_not_conflict(submit):
    submit(kind="export", distinct_ids=["a"])
    done = submit(kind="deletion", distinct_ids=["a"])
    PrivacyRequest.objects.filter(id=done.id).update(status=Status.SUCCESS)

    again = submit(kind="deletion", distinct_ids=["a"])

    assert again.status == Status.PENDING


def test_deletion_grace_period_sets_not_before(submit, settings):
    settings.PRIVACY_DELETION_DELAY = 3600
    received = datetime(2026, 1, 1, tzinfo=UTC)

    deletion = submit(kind="deletion", received_at=received)
    export = submit(kind="export", received_at=received)

    assert deletion.not_before == received + timedelta(hours=1)
    assert export.not_before == received
