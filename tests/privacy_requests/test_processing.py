from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from privacy_requests.engine import registry
from privacy_requests.engine.subjects import count_subject_rows
from privacy_requests.models import PrivacyRequest, RequestSubject, Status
from privacy_requests.services import privacy_sweep
from privacy_requests.services.processing import _claim
from projects.identity import LinkRequest, identity_links_apply
from projects.models import IdentityKind, Profile
from projects.pii import distinct_id_hmac
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def reload(request):
    return PrivacyRequest.objects.get(id=request.id)


def test_the_subject_set_follows_identity_clusters_and_touches_no_one_else(
    submit, project, add_event
):
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alias-of-alice", "alice", IdentityKind.ALIAS),
            LinkRequest("$device:phone", "alice", IdentityKind.DEVICE),
            LinkRequest("bob-anon", "bob", IdentityKind.IDENTIFY),
        ],
    )
    for distinct_id in (
        "alice",
        "alias-of-alice",
        "$device:phone",
        "$device:phone",
        "bob",
        "bob-anon",
        "carol",
    ):
        add_event(distinct_id)
    add_event("alice", target=ProjectFactory(organization=project.organization))
    Profile.objects.create(
        project=project, distinct_id="alice", properties={"$name": "A"}, updated_at=timezone.now()
    )
    Profile.objects.create(project=project, distinct_id="bob", updated_at=timezone.now())

    request = reload(submit(distinct_ids=["alias-of-alice", "ghost"], run=True))

    assert request.status == Status.SUCCESS
    assert request.counts == {"events": 4, "profiles": 1, "identities": 2, "identity_evidence": 2}
    assert request.not_found == ["ghost"]
    subjects = list(
        RequestSubject.objects.filter(request=request)
        .order_by("position")
        .values_list("distinct_id", "linked")
    )
    assert subjects == [
        ("alias-of-alice", False),
        ("ghost", False),
        ("$device:phone", True),
        ("alice", True),
    ]


def test_ccpa_export_counts_only_the_twelve_months_before_receipt(submit, add_event):
    received = datetime(2026, 3, 15, 10, 0, 0, tzinfo=UTC)
    window_start = datetime(2025, 3, 15, 10, 0, 0, tzinfo=UTC)
    add_event("alice", time=window_start - timedelta(seconds=1))
    add_event("alice", time=window_start)
    add_event("alice", time=received)
    add_event("alice", time=received + timedelta(seconds=1))

    ccpa = reload(submit(compliance="CCPA", received_at=received, run=True))
    gdpr = reload(submit(compliance="GDPR", received_at=received, run=True))

    assert ccpa.counts["events"] == 2
    assert gdpr.counts["events"] == 4


def test_events_after_the_snapshot_are_never_read(submit, add_event):
    add_event("alice")
    request = submit(distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    run = _claim(reload(request))
    add_event("alice")  # arrives while the request runs

    counts = count_subject_rows(run)

    assert counts["events"] == 1
    assert reload(request).snapshot_at == run.request.snapshot_at is not None


def test_progress_is_saved_after_each_step(submit, add_event, settings, monkeypatch):
    monkeypatch.setitem(registry.PROCESSORS, "export", count_subject_rows)
    settings.PRIVACY_SUBJECT_CHUNK = 2
    ids = [f"user{n}" for n in range(5)]
    for distinct_id in ids:
        add_event(distinct_id)

    request = reload(submit(distinct_ids=ids, run=True))

    assert request.progress == {
        "phase": "count",
        "done": 5,
        "total": 5,
        "counts": {"events": 5, "profiles": 0, "identities": 0},
    }


def test_the_sweep_pseudonymizes_subjects_thirty_days_after_the_request_is_final(
    submit, project, add_event
):
    add_event("alice")
    old = reload(submit(distinct_ids=["alice", "bob"], run=True))
    assert old.not_found == ["bob"]
    recent = reload(submit(distinct_ids=["carol"], run=True))
    failed = submit(distinct_ids=["dave"])
    long_ago = timezone.now() - timedelta(days=31)
    PrivacyRequest.objects.filter(id=old.id).update(finished_at=long_ago)
    PrivacyRequest.objects.filter(id=failed.id).update(status=Status.FAILURE, finished_at=long_ago)

    report = privacy_sweep()

    assert report.pseudonymized_requests == 1
    assert list(old.subjects.order_by("position").values_list("distinct_id", flat=True)) == [
        distinct_id_hmac(project_id=project.id, distinct_id="alice"),
        distinct_id_hmac(project_id=project.id, distinct_id="bob"),
    ]
    assert list(recent.subjects.values_list("distinct_id", flat=True)) == ["carol"]
    assert list(failed.subjects.values_list("distinct_id", flat=True)) == ["dave"]
    assert reload(old).subjects_pseudonymized_at is not None
    assert reload(old).not_found == [distinct_id_hmac(project_id=project.id, distinct_id="bob")]
    assert old.audit.filter(action="pseudonymized").count() == 1
    assert privacy_sweep().pseudonymized_requests == 0
