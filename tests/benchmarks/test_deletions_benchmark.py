"""The deletion benchmark's measurement, on a tiny store (the figures come from a large one)."""

from io import StringIO

import pytest

from benchmarks.privacy_deletion import run
from projects.identity import LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind
from tests.privacy_requests.deletion_support import events_add

pytestmark = pytest.mark.django_db


def test_the_benchmark_deletes_the_subjects_after_timing_the_raw_delete_it_rolls_back(project):
    identity_links_apply(
        project=project, links=[LinkRequest("$device:1", "alice", IdentityKind.DEVICE)]
    )
    events_add(project, "alice", 4)
    events_add(project, "$device:1", 2)
    events_add(project, "bob", 3)
    events_add(project, "carol", 5)
    stdout = StringIO()

    result = run(project=project, subjects=["alice", "bob"], stdout=stdout)

    assert result["status"] == "SUCCESS"
    assert (result["subjects"], result["subject_ids"], result["events"]) == (2, 3, 9)
    assert result["raw_delete_rows"] == 9  # rolled back: the deletion then removed them
    assert result["counts"] == {
        "events": 9,
        "profiles": 0,
        "identities": 1,
        "identity_evidence": 1,
        "export_files": 0,
    }
    assert result["in_process"] is True
    assert result["batch_size"] == 5000
    assert 0 < result["longest_batch_transaction_ms"] < 2000
    assert list(Event.objects.values_list("distinct_id", flat=True).distinct()) == ["carol"]
    lines = stdout.getvalue().splitlines()
    assert lines[0] == (
        "Deletion: 2 subjects (3 ids with their identity clusters), 9 events, "
        "in a store of 14 events"
    )
    assert lines[1].startswith("  raw DELETE of the same events (rolled back): ")
    assert "ratio to the raw DELETE: " in lines[3]
    assert "longest transaction: " in lines[4]
