"""Exactness over random identity graphs: a deletion removes every row of its subjects'
clusters, and every link record that names them, and leaves every other row exactly as it
was."""

import pytest
from django.db.models import Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.actors import OPERATOR
from privacy_requests.models import PrivacyRequest, Status
from privacy_requests.services import privacy_request_process, privacy_request_submit
from projects.identity import LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, IdentityLink, IdentityLinkRecord, Profile
from tests.factories import ProjectFactory
from tests.privacy_requests.deletion_support import (
    checksum,
    events_add,
    profile_add,
    rows_without,
    store_rows,
)

pytestmark = pytest.mark.django_db

IDS = ["a", "b", "c", "d", "e", "f", "$device:1", "$device:2", "A"]  # "A" is not "a"

link_strategy = st.builds(
    LinkRequest, st.sampled_from(IDS), st.sampled_from(IDS), st.sampled_from(list(IdentityKind))
)


def clusters_of(project, distinct_ids) -> set[str]:
    """The union of the ids' clusters, read straight from the flat link rows."""
    root_of = dict(
        IdentityLink.objects.filter(project=project).values_list("distinct_id", "canonical_id")
    )
    roots = {root_of.get(distinct_id, distinct_id) for distinct_id in distinct_ids}
    return roots | {member for member, root in root_of.items() if root in roots}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    links=st.lists(link_strategy, max_size=12),
    events=st.lists(st.integers(0, 5), min_size=len(IDS), max_size=len(IDS)),
    profiles=st.sets(st.sampled_from(IDS)),
    subjects=st.lists(st.sampled_from([*IDS, "ghost"]), min_size=1, max_size=4),
)
def test_a_deletion_removes_exactly_the_clusters_of_its_subjects(
    organization, django_settings, links, events, profiles, subjects
):
    django_settings.PRIVACY_DELETION_BATCH = 2
    django_settings.PRIVACY_SUBJECT_CHUNK = 3
    project = ProjectFactory(organization=organization)  # a fresh store for each example
    neighbour = ProjectFactory(organization=organization)
    identity_links_apply(project=project, links=links)
    identity_links_apply(project=neighbour, links=links)
    for distinct_id, count in zip(IDS, events, strict=True):
        events_add(project, distinct_id, count)
        events_add(neighbour, distinct_id, 1)
    for distinct_id in profiles:
        profile_add(project, distinct_id)
        profile_add(neighbour, distinct_id)
    doomed = clusters_of(project, subjects)
    before = store_rows()
    expected = rows_without(before, project_id=project.id, distinct_ids=doomed)

    request = privacy_request_submit(
        project=project,
        actor=OPERATOR,
        channel="web",
        kind="deletion",
        compliance="GDPR",
        distinct_ids=subjects,
    )
    assert privacy_request_process(tracking_id=request.tracking_id) == Status.SUCCESS

    after = store_rows()
    # Every other row, of this project and the neighbour, is unchanged: same count, same
    # checksum, same rows.
    assert checksum(after) == checksum(expected)
    assert after == expected
    # Nothing of the clusters remains.
    assert not Event.objects.filter(project=project, distinct_id__in=doomed).exists()
    assert not Profile.objects.filter(project=project, distinct_id__in=doomed).exists()
    assert not IdentityLink.objects.filter(project=project, distinct_id__in=doomed).exists()
    assert not IdentityLink.objects.filter(project=project, canonical_id__in=doomed).exists()
    records = IdentityLinkRecord.objects.filter(project=project)
    assert not records.filter(Q(distinct_id__in=doomed) | Q(canonical_id__in=doomed)).exists()
    finished = PrivacyRequest.objects.get(id=request.id)
    assert finished.counts == {
        "events": len(before["events"]) - len(after["events"]),
        "profiles": len(before["profiles"]) - len(after["profiles"]),
        "identities": len(before["identities"]) - len(after["identities"]),
        "identity_evidence": len(before["identity_evidence"]) - len(after["identity_evidence"]),
        "export_files": 0,
    }
    assert set(finished.subjects.values_list("distinct_id", flat=True)) == doomed | set(subjects)


@pytest.fixture
def django_settings(settings):
    return settings
