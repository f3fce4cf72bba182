"""Which package holds each subject id (issue 17), as an export records it: every subject gets
its group's number, and one in no group none, whatever an earlier run left."""

import pytest

from privacy_requests.exports.subject_groups import SubjectGroup, SubjectGroups
from privacy_requests.exports.subject_packages import subject_packages_record
from privacy_requests.models import RequestSubject

pytestmark = pytest.mark.django_db


def test_each_subject_gets_its_packages_number_and_a_stale_one_is_cleared(submit):
    request = submit(distinct_ids=["alice", "bob", "carol"])
    # What a dead run left: numbers from another grouping.
    RequestSubject.objects.filter(request=request).update(package=7)
    groups = SubjectGroups(
        groups=[
            SubjectGroup(number=1, given=["alice"], ids=["alice"]),
            SubjectGroup(number=2, given=["bob"], ids=["bob"]),
        ],
        number_of={"alice": 1, "bob": 2},
    )

    subject_packages_record(request, groups)

    assert dict(
        RequestSubject.objects.filter(request=request).values_list("distinct_id", "package")
    ) == {"alice": 1, "bob": 2, "carol": None}
