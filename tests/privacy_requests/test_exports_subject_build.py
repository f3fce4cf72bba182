"""Each person's package is written by a job of its own after the export is SUCCESS (issue 16:
the whole archive never waits for them; issue 17: they still come, exactly once, whatever
happens in between)."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from privacy_requests.exports.files import export_file_purge
from privacy_requests.exports.subject_build import subject_packages_build
from privacy_requests.models import PrivacyRequest, Status
from privacy_requests.selectors import privacy_request_subject_results
from privacy_requests.services import privacy_request_process, privacy_sweep
from projects.models import Event
from tests.privacy_requests.export_support import (
    T0,
    events_of,
    files_of,
    reload,
    storage_names,
    subject_packages_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }


@pytest.fixture
def two_people(project):
    for distinct_id in ("alice", "bob"):
        for n in range(3):
            Event.objects.create(
                project=project,
                distinct_id=distinct_id,
                name="Page View",
                time=T0 + timedelta(minutes=n),
                insert_id=f"{distinct_id}-{n}",
                ingested_at=timezone.now(),
            )


def processed(submit) -> PrivacyRequest:
    """An export processed by a worker whose package job has not run yet."""
    request = submit(distinct_ids=["alice", "bob"])
    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS
    return reload(request)


def test_the_archive_is_ready_at_success_and_the_packages_follow(two_people, submit):
    request = processed(submit)

    assert request.subject_packages_pending
    assert storage_names() == [request.result_file]  # the archive only, so far
    assert [s["result"] for s in privacy_request_subject_results(request=request)] == ["", ""]

    assert subject_packages_build(tracking_id=request.tracking_id) == "2 packages"

    built = reload(request)
    assert not built.subject_packages_pending
    assert storage_names() == files_of(built)
    assert all(s["result"] for s in privacy_request_subject_results(request=built))
    alice, bob = subject_packages_of(built)
    assert {e["properties"]["distinct_id"] for e in events_of(alice)} == {"alice"}
    assert {e["properties"]["distinct_id"] for e in events_of(bob)} == {"bob"}


def test_a_build_run_twice_or_after_a_dead_one_leaves_one_set_of_files(two_people, submit):
    request = processed(submit)
    # A build that died had saved part of the first package.
    dead = request.result_packages[0]["file"]
    storages["private"].save(dead, ContentFile(b"PK\x03\x04 part of a package"))

    subject_packages_build(tracking_id=request.tracking_id)
    assert subject_packages_build(tracking_id=request.tracking_id) == "nothing to build"

    built = reload(request)
    assert storage_names() == files_of(built)
    assert len(subject_packages_of(built)) == 2


def test_the_sweep_builds_packages_whose_job_was_lost(two_people, submit, settings):
    request = processed(submit)
    PrivacyRequest.objects.filter(id=request.id).update(
        finished_at=timezone.now() - timedelta(seconds=settings.PRIVACY_SWEEP_INTERVAL + 1)
    )

    report = privacy_sweep()  # test settings run jobs at once, as a worker would

    assert report.enqueued == 1
    assert not reload(request).subject_packages_pending
    assert len(subject_packages_of(request)) == 2


def test_packages_of_an_export_purged_before_they_are_built_are_never_stored(two_people, submit):
    request = processed(submit)
    export_file_purge(request, actor="staff:test", reason="a deletion of the same person")

    assert subject_packages_build(tracking_id=request.tracking_id) == (
        "the export has no archive any more"
    )

    assert storage_names() == []
    assert not reload(request).subject_packages_pending
