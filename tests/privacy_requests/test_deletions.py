"""The deletion processor: what it removes, in which steps, and how it survives crashes."""

from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from privacy_requests.deletions import processor as deletion_processor
from privacy_requests.engine.run import LeaseLost
from privacy_requests.errors import Conflict, InvalidTransition
from privacy_requests.models import AuditEntry, PrivacyRequest, RequestSubject, Status
from privacy_requests.services import (
    privacy_request_cancel,
    privacy_request_process,
    privacy_sweep,
)
from privacy_requests.services.processing import _claim
from projects.identity import LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, IdentityLink, Profile
from projects.pii import distinct_id_hmac
from tests.factories import ProjectFactory
from tests.privacy_requests.deletion_support import (
    T0,
    events_add,
    profile_add,
    rows_without,
    store_rows,
)

pytestmark = pytest.mark.django_db

ALICE_CLUSTER = {"alice", "alias-of-alice", "$device:phone", "alice-merged"}


def reload(request):
    return PrivacyRequest.objects.get(id=request.id)


def actions(request):
    return list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", flat=True)
    )


def stored_files(request) -> list[str]:
    """The files in private storage under the request's directory."""
    try:
        return storages["private"].listdir(f"{request.organization_id}/{request.tracking_id}")[1]
    except FileNotFoundError:
        return []


@pytest.fixture
def other_project(project):
    return ProjectFactory(organization=project.organization)


@pytest.fixture
def people(project, other_project):
    """Alice (an alias, a device, a merged id), Bob (identified), Carol alone; Alice again in
    another project of the same organization."""
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("alias-of-alice", "alice", IdentityKind.ALIAS),
            LinkRequest("$device:phone", "alice", IdentityKind.DEVICE),
            LinkRequest("alice-merged", "alice", IdentityKind.MERGE),
            LinkRequest("bob-anon", "bob", IdentityKind.IDENTIFY),
        ],
    )
    identity_links_apply(
        project=other_project,
        links=[
            LinkRequest("alias-of-alice", "alice", IdentityKind.ALIAS),
        ],
    )
    for distinct_id, count in [
        ("alice", 4),
        ("alias-of-alice", 2),
        ("$device:phone", 3),
        ("alice-merged", 1),
        ("bob", 2),
        ("bob-anon", 1),
        ("carol", 2),
    ]:
        events_add(project, distinct_id, count)
    events_add(other_project, "alice", 2)
    for distinct_id in ("alice", "alice-merged", "bob", "carol"):
        profile_add(project, distinct_id)
    profile_add(other_project, "alice")


@pytest.fixture
def purges(monkeypatch):
    """Records the export-file purges the processor asks for, with the events left then."""
    calls = []

    def purge(*, project_id, distinct_ids, actor, reason):
        calls.append(
            {
                "project_id": project_id,
                "distinct_ids": sorted(distinct_ids),
                "actor": actor,
                "reason": reason,
                "events_left": Event.objects.count(),
            }
        )
        return len(calls)  # 1 file at the start, 2 at the end

    monkeypatch.setattr(deletion_processor, "export_files_purge", purge)
    return calls


def test_a_deletion_removes_every_row_of_the_clusters_and_nothing_else(
    submit, project, people, purges
):
    before = store_rows()

    request = reload(submit(kind="deletion", distinct_ids=["alice", "ghost"], run=True))

    assert request.status == Status.SUCCESS
    assert request.counts == {
        "events": 10,
        "profiles": 2,
        "identities": 3,
        "identity_evidence": 3,
        "export_files": 3,
    }
    assert request.not_found == ["ghost"]
    assert store_rows() == rows_without(before, project_id=project.id, distinct_ids=ALICE_CLUSTER)
    assert actions(request) == ["submitted", "staged", "started", "deleted", "succeeded"]
    assert AuditEntry.objects.get(request=request, action="deleted").detail == {
        "counts": request.counts,
        "subjects": 5,
        "not_found": 1,
    }
    # Exports are purged before the first row goes and again once all rows are gone.
    subject_set = sorted(ALICE_CLUSTER | {"ghost"})
    assert purges == [
        {
            "project_id": project.id,
            "distinct_ids": subject_set,
            "actor": "system",
            "reason": f"deletion {request.tracking_id}",
            "events_left": 17,
        },
        {
            "project_id": project.id,
            "distinct_ids": subject_set,
            "actor": "system",
            "reason": f"deletion {request.tracking_id}",
            "events_left": 7,
        },
    ]


def test_a_deletion_purges_the_export_files_of_any_overlapping_subject(submit, project, people):
    of_alice = reload(submit(kind="export", distinct_ids=["alias-of-alice"], run=True))
    of_alice_and_bob = reload(submit(kind="export", distinct_ids=["bob", "alice"], run=True))
    of_bob = reload(submit(kind="export", distinct_ids=["bob"], run=True))
    exports = (of_alice, of_alice_and_bob, of_bob)
    assert all(export.status == Status.SUCCESS and export.result_file for export in exports)

    request = reload(submit(kind="deletion", distinct_ids=["$device:phone"], run=True))

    assert request.counts["export_files"] == 2
    for export, purged in zip(exports, (True, True, False), strict=True):
        assert storages["private"].exists(export.result_file) is not purged
        assert (reload(export).result_purged_at is not None) is purged
        assert reload(export).result_purge_reason == (
            f"deletion {request.tracking_id}" if purged else ""
        )
    assert (
        AuditEntry.objects.filter(
            action="export_purged", request__in=[of_alice, of_alice_and_bob]
        ).count()
        == 2
    )


@pytest.mark.parametrize("given", ["alias-of-alice", "$device:phone", "alice-merged"])
def test_deleting_an_alias_removes_the_data_of_the_id_it_maps_to(submit, project, people, given):
    """Mixpanel's rule: an alias maps to one id, and deleting the alias deletes that id's data
    (and, through the flat cluster, every other id linked to it)."""
    before = store_rows()

    request = reload(submit(kind="deletion", distinct_ids=[given], run=True))

    assert request.status == Status.SUCCESS
    assert not Event.objects.filter(project=project, distinct_id="alice").exists()
    assert not Profile.objects.filter(project=project, distinct_id="alice").exists()
    assert store_rows() == rows_without(before, project_id=project.id, distinct_ids=ALICE_CLUSTER)
    assert sorted(
        RequestSubject.objects.filter(request=request, linked=True).values_list(
            "distinct_id", flat=True
        )
    ) == sorted(ALICE_CLUSTER - {given})


def test_a_deletion_is_never_time_bounded_whatever_the_compliance(submit, project):
    events_add(project, "alice", 2, start=T0 - timedelta(days=3650))
    events_add(project, "alice", 2, start=timezone.now() - timedelta(days=1))

    request = reload(submit(kind="deletion", compliance="CCPA", distinct_ids=["alice"], run=True))

    assert request.counts["events"] == 4
    assert not Event.objects.exists()


def test_events_that_arrive_after_the_snapshot_are_not_read(submit, project):
    events_add(project, "alice", 3)
    request = submit(kind="deletion", distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    run = _claim(reload(request))
    Event.objects.create(
        project=project,
        distinct_id="alice",
        name="Late",
        time=T0,
        insert_id="late",
        ingested_at=timezone.now(),
    )

    counts = deletion_processor.deletion_process(run)

    assert counts["events"] == 3
    assert list(Event.objects.values_list("name", flat=True)) == ["Late"]


def test_events_go_in_bounded_batches_with_progress_saved_after_each(
    submit, project, settings, monkeypatch
):
    settings.PRIVACY_DELETION_BATCH = 3
    settings.PRIVACY_SUBJECT_CHUNK = 2
    ids = ["u0", "u1", "u2", "u3", "u4"]
    for distinct_id, count in zip(ids, [7, 0, 3, 1, 6], strict=True):
        events_add(project, distinct_id, count)
    saved = []
    original = deletion_processor.transition

    def spy(request_id, *, condition, **changes):
        if "progress" in changes:
            saved.append((changes["progress"]["counts"]["events"], Event.objects.count()))
        return original(request_id, condition=condition, **changes)

    monkeypatch.setattr(deletion_processor, "transition", spy)
    with CaptureQueriesContext(connection) as queries:
        request = reload(submit(kind="deletion", distinct_ids=ids, run=True))

    # (removed so far, left in the store) as each transaction commits: the export purge; then
    # u0's 7 events in time slices of 3 → 3, 3, 1; {u1, u2} (0 + 3 events) → 3; {u3} → 1 (u4's 6
    # do not fit beside it); u4 in slices → 3, 3, and the last slice, empty.
    assert saved[:9] == [
        (0, 17),
        (3, 14),
        (6, 11),
        (7, 10),
        (10, 7),
        (11, 6),
        (14, 3),
        (17, 0),
        (17, 0),
    ]
    assert len(saved) == 1 + 8 + 3 + 3 + 1 + 1  # + profiles, links, late purge, receipt
    # Each batch is one set-based statement; no event row is ever loaded into Python.
    deletes = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('DELETE FROM "projects_event"')
    ]
    assert len(deletes) == 8
    # Routed by the subjects' ids (SQLite's IN list; PostgreSQL's = ANY), never by row ids.
    routed = (
        ' AND "distinct_id" = ANY('
        if connection.vendor == "postgresql"
        else ' AND "distinct_id" IN ('
    )
    assert all(
        sql.startswith('DELETE FROM "projects_event" WHERE "project_id" = ')
        and routed in sql
        and "SELECT" not in sql
        for sql in deletes
    )
    assert not any(
        '"projects_event"."properties"' in query["sql"] for query in queries.captured_queries
    )
    assert request.counts == {
        "events": 17,
        "profiles": 0,
        "identities": 0,
        "identity_evidence": 0,
        "export_files": 0,
    }
    assert request.progress["batches"] == 7
    assert request.progress["done"] == request.progress["total"] == 15
    assert request.progress["phase"] == "finished"
    assert 0 < request.progress["longest_transaction_ms"] < 2000


class Crash(BaseException):
    """Stands for SIGKILL: nothing in the engine catches it."""


# With suppression on, batches of 2 events and chunks of 2 subjects, deleting alice and carol
# (5 subjects, 12 events) takes 20 transactions: suppress 3 (the third audits it), export purge
# 1, events 8, profiles 3, links 3, late purge 1, receipt 1 (audits "deleted").
STEPS = 20


@pytest.mark.parametrize("where", ["inside", "after"])
@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_a_crash_at_any_step_resumes_to_the_same_state_with_exact_counts(
    submit, project, people, settings, monkeypatch, step, where
):
    settings.PRIVACY_DELETION_BATCH = 2
    settings.PRIVACY_SUBJECT_CHUNK = 2
    settings.PRIVACY_STEP_DELAY_SECONDS = 0.001
    project.suppress_deleted_ids = True
    project.save(update_fields=["suppress_deleted_ids"])
    before = store_rows()
    request = submit(kind="deletion", distinct_ids=["alice", "carol"])
    _crash_at(monkeypatch, step=step, where=where)

    with pytest.raises(Crash):
        privacy_request_process(tracking_id=request.tracking_id)

    crashed = reload(request)
    assert crashed.status == Status.STARTED
    committed = step if where == "after" else step - 1
    assert bool(crashed.result_file) == (committed == STEPS)
    monkeypatch.undo()
    PrivacyRequest.objects.filter(id=request.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS

    finished = reload(request)
    assert finished.counts == {
        "events": 12,
        "profiles": 3,
        "identities": 3,
        "identity_evidence": 3,
        "export_files": 0,
    }
    assert store_rows() == rows_without(
        before, project_id=project.id, distinct_ids=ALICE_CLUSTER | {"carol"}
    )
    assert finished.runs == 2
    first_run = [
        "started",
        *(["ids_suppressed"] if committed >= 3 else []),
        *(["deleted"] if committed == STEPS else []),
    ]
    second_run = [
        "resumed",
        *(["ids_suppressed"] if committed < 3 else []),
        *(["deleted"] if committed < STEPS else []),
        "succeeded",
    ]
    assert actions(request) == ["submitted", "staged", *first_run, *second_run]
    assert stored_files(finished) == [finished.result_file.rsplit("/", 1)[1]]


def _crash_at(monkeypatch, *, step: int, where: str) -> None:
    """Kills the run at its `step`-th transaction: inside it (after its rows are removed, as
    it saves the progress) or just after it committed."""
    calls = {"count": 0}
    original = deletion_processor.transition

    def inside(request_id, *, condition, **changes):
        if "progress" in changes:
            calls["count"] += 1
            if calls["count"] == step:
                raise Crash
        return original(request_id, condition=condition, **changes)

    def after(seconds):
        calls["count"] += 1
        if calls["count"] == step:
            raise Crash

    if where == "inside":
        monkeypatch.setattr(deletion_processor, "transition", inside)
    else:
        monkeypatch.setattr(deletion_processor.time, "sleep", after)


def test_a_worker_that_lost_its_lease_removes_nothing_and_writes_no_receipt(
    submit, project, people
):
    before = store_rows()
    request = submit(kind="deletion", distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    dead = _claim(reload(request))
    PrivacyRequest.objects.filter(id=request.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    alive = _claim(reload(request))
    assert alive is not None and alive.owner != dead.owner

    for phase in ("exports", "events", "profiles", "identities", "receipt"):
        dead.progress = {
            "phase": phase,
            "suppress": False,
            "position": 0,
            "done": 0,
            "total": 15,
            "counts": dict.fromkeys(deletion_processor.TABLES, 0),
            "batches": 0,
            "longest_transaction_ms": 0.0,
        }
        with pytest.raises(LeaseLost):
            deletion_processor.deletion_process(dead)

    assert store_rows() == before
    assert reload(request).result_file == ""
    assert stored_files(request) == []
    assert actions(request) == ["submitted", "started", "resumed"]


def test_a_failed_receipt_write_leaves_no_file(submit, project, people, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("the database went away at the last moment")

    original = deletion_processor.transition
    monkeypatch.setattr(
        deletion_processor,
        "transition",
        lambda request_id, *, condition, **changes: (
            refuse()
            if changes.get("progress", {}).get("phase") == "finished"
            else original(request_id, condition=condition, **changes)
        ),
    )

    request = reload(submit(kind="deletion", distinct_ids=["alice"], run=True))

    assert request.status == Status.FAILURE
    assert request.error == "RuntimeError: the database went away at the last moment"
    assert request.result_file == ""
    assert stored_files(request) == []
    assert "deleted" not in actions(request)


def test_a_failed_deletion_is_retried_and_continues_where_it_stopped(
    submit, project, people, owner_actor, settings, monkeypatch
):
    from privacy_requests.services import privacy_request_retry

    settings.PRIVACY_DELETION_BATCH = 2
    calls = {"count": 0}
    original = deletion_processor.events_delete

    def flaky_delete(**kwargs):
        calls["count"] += 1
        if calls["count"] == 3:
            raise ValueError("disk quota exceeded")
        return original(**kwargs)

    monkeypatch.setattr(deletion_processor, "events_delete", flaky_delete)
    failed = reload(submit(kind="deletion", distinct_ids=["alice"], run=True))
    assert failed.status == Status.FAILURE
    assert failed.progress["counts"]["events"] == 4
    monkeypatch.undo()

    retried = privacy_request_retry(request=failed, actor=owner_actor)
    assert privacy_request_process(tracking_id=retried.tracking_id) == Status.SUCCESS

    assert reload(failed).counts == {
        "events": 10,
        "profiles": 2,
        "identities": 3,
        "identity_evidence": 3,
        "export_files": 0,
    }


# --- the lifecycle, from the deletion's side ----------------------------------------------------


def test_the_grace_period_keeps_the_data_until_not_before(submit, project, people, settings):
    settings.PRIVACY_DELETION_DELAY = 3600
    before = store_rows()

    request = reload(submit(kind="deletion", distinct_ids=["alice"], run=True))
    privacy_sweep()

    assert request.status == Status.STAGING
    assert request.not_before == request.received_at + timedelta(hours=1)
    assert store_rows() == before
    PrivacyRequest.objects.filter(id=request.id).update(not_before=timezone.now())
    privacy_sweep()
    assert reload(request).status == Status.SUCCESS
    assert store_rows() == rows_without(before, project_id=project.id, distinct_ids=ALICE_CLUSTER)


@pytest.mark.parametrize("delay", [0, 3600])
def test_cancel_in_pending_or_staging_leaves_the_data_and_a_later_job_does_nothing(
    submit, project, people, settings, owner_actor, delay
):
    settings.PRIVACY_DELETION_DELAY = delay
    before = store_rows()
    # With a grace period the job moves it to STAGING; without, it stays PENDING (not run).
    request = reload(submit(kind="deletion", distinct_ids=["alice"], run=bool(delay)))
    assert request.status == (Status.STAGING if delay else Status.PENDING)

    canceled = privacy_request_cancel(request=request, actor=owner_actor)
    PrivacyRequest.objects.filter(id=request.id).update(not_before=timezone.now())

    assert canceled.status == Status.REVOKED
    assert canceled.canceled_by == owner_actor.text
    assert privacy_request_process(tracking_id=request.tracking_id) == Status.REVOKED
    assert privacy_sweep().enqueued == 0
    assert store_rows() == before
    assert reload(request).runs == 0
    assert actions(request)[-1] == "canceled"
    assert "started" not in actions(request)


def test_cancel_after_started_is_refused_and_the_deletion_runs_to_the_end(
    submit, project, people, owner_actor
):
    request = submit(kind="deletion", distinct_ids=["alice"])
    PrivacyRequest.objects.filter(id=request.id).update(status=Status.STAGING)
    run = _claim(reload(request))

    with pytest.raises(InvalidTransition) as error:
        privacy_request_cancel(request=request, actor=owner_actor)

    assert str(error.value) == (
        "This request is STARTED: a request can be canceled only while "
        "it is PENDING or STAGING; once STARTED it runs to the end."
    )
    assert reload(request).canceled_by == ""
    deletion_processor.deletion_process(run)
    assert not Event.objects.filter(project=project, distinct_id__in=ALICE_CLUSTER).exists()


def test_a_deletion_overlapping_an_unfinished_one_is_a_conflict_even_through_a_cluster(
    submit, project, people
):
    first = submit(kind="deletion", distinct_ids=["alias-of-alice", "carol"])
    PrivacyRequest.objects.filter(id=first.id).update(status=Status.STAGING)
    _claim(reload(first))  # records alice and the rest of the cluster as linked subjects

    with pytest.raises(Conflict) as error:
        submit(kind="deletion", distinct_ids=["bob", "alice", "carol"])

    assert error.value.distinct_ids == ["alice", "carol"]
    assert error.value.tracking_ids == [first.tracking_id]
    assert PrivacyRequest.objects.count() == 1
    # An export of the same ids is not a conflict.
    assert submit(kind="export", distinct_ids=["alice"]).status == Status.PENDING


def test_subjects_are_pseudonymized_thirty_days_after_the_deletion_and_the_receipt_stays(
    submit, project, people
):
    request = reload(submit(kind="deletion", distinct_ids=["alice"], run=True))
    receipt = storages["private"].open(request.result_file).read()

    assert privacy_sweep(now=timezone.now() + timedelta(days=29)).pseudonymized_requests == 0
    report = privacy_sweep(now=timezone.now() + timedelta(days=31))

    assert report.pseudonymized_requests == 1
    assert sorted(request.subjects.values_list("distinct_id", flat=True)) == sorted(
        distinct_id_hmac(project_id=project.id, distinct_id=distinct_id)
        for distinct_id in ALICE_CLUSTER
    )
    assert not RequestSubject.objects.filter(distinct_id__in=ALICE_CLUSTER).exists()
    assert storages["private"].open(request.result_file).read() == receipt
    assert reload(request).counts == request.counts
    assert actions(request)[-1] == "pseudonymized"
    assert IdentityLink.objects.filter(project=project).count() == 1  # bob's
