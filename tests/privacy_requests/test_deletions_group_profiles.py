"""Group profiles and deletions (issue 15, finding 10; DESIGN section 5.3): a deletion never
touches a group profile, even one whose group_id equals a deleted subject's distinct_id. Group
ids name groups (companies, teams), not end users, in a namespace of their own; a group's
profile belongs to everyone in the group. The subject's own records that name the group (the
group property on their events, on their profile) go with the subject. Whoever must remove a
group's profile sends Mixpanel's `$delete` to /groups, as for any group.
"""

import pytest
from django.test import Client
from django.utils import timezone

from privacy_requests.models import Status
from projects.models import Event, GroupProfile, Profile
from tests.factories import ProjectFactory
from tests.privacy_requests.deletion_support import events_add, profile_add
from tests.projects.ingestion_support import post_data

pytestmark = pytest.mark.django_db


def groups(project) -> list[tuple[str, str, dict]]:
    return sorted(
        GroupProfile.objects.filter(project=project).values_list(
            "group_key", "group_id", "properties"
        )
    )


def test_a_deletion_leaves_group_profiles_whose_group_id_is_the_subjects_id(submit, project):
    events_add(project, "acme", 3, properties={"company": "acme"})
    events_add(project, "bob", 2, properties={"company": "acme"})
    profile_add(project, "acme", {"$name": "Acme's founder", "company": ["acme"]})
    now = timezone.now()
    for group_key, group_id in [("company", "acme"), ("company", "globex"), ("user", "acme")]:
        GroupProfile.objects.create(
            project=project,
            group_key=group_key,
            group_id=group_id,
            properties={"$name": f"{group_key} {group_id}", "seats": 10},
            updated_at=now,
        )
    elsewhere = ProjectFactory(organization=project.organization)
    GroupProfile.objects.create(
        project=elsewhere, group_key="company", group_id="acme", properties={}, updated_at=now
    )
    before = groups(project)

    deletion = submit(distinct_ids=["acme"], kind="deletion", run=True)

    deletion.refresh_from_db()
    assert deletion.status == Status.SUCCESS
    assert not Event.objects.filter(project=project, distinct_id="acme").exists()
    assert not Profile.objects.filter(project=project, distinct_id="acme").exists()
    assert Event.objects.filter(project=project, distinct_id="bob").count() == 2
    assert groups(project) == before
    assert GroupProfile.objects.filter(project=elsewhere).count() == 1
    # What the request reports removed: no table of group profiles among them.
    assert deletion.counts == {
        "events": 3,
        "profiles": 1,
        "identities": 0,
        "identity_evidence": 0,
        "export_files": 0,
    }


def test_a_group_profile_is_removed_by_deleting_the_group(submit, project):
    GroupProfile.objects.create(
        project=project,
        group_key="company",
        group_id="acme",
        properties={"$name": "Acme"},
        updated_at=timezone.now(),
    )
    submit(distinct_ids=["acme"], kind="deletion", run=True)
    assert groups(project) == [("company", "acme", {"$name": "Acme"})]

    record = {"$token": project.token, "$group_key": "company", "$group_id": "acme", "$delete": ""}
    post_data(Client(), "/groups", [record])

    assert groups(project) == []
