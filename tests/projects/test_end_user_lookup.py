"""Issue 18: the end-user lookup finds the distinct_ids behind a request (an email, a phone, a
name, any property, an id's start) in one project, with their clusters, counts and times."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from projects.end_user_lookup import (
    LOOKUP_LIMIT,
    LookupRefused,
    end_user_lookup_find,
    lookup_query_make,
)
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, IdentityLinksFrom, Profile
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

SECRET = LinkProvenance(endpoint="import", authenticated=True, principal="project-secret")
JAN = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def profile(project, distinct_id, **properties):
    return Profile.objects.create(
        project=project, distinct_id=distinct_id, properties=properties, updated_at=timezone.now()
    )


def events(project, distinct_id, count, *, start=JAN):
    Event.objects.bulk_create(
        Event(
            project=project,
            distinct_id=distinct_id,
            name="Viewed",
            time=start + timedelta(days=n),
            insert_id=f"{distinct_id}-{n}",
            properties={},
            ingested_at=timezone.now(),
        )
        for n in range(count)
    )


def find(project, property_name, value):
    return end_user_lookup_find(
        project=project, query=lookup_query_make(property_name=property_name, value=value)
    )


@pytest.fixture
def jane(project):
    """Jane: her profile on her user id, her device and her email alias linked to it."""
    profile(project, "user-jane", **{"$email": "Jane.Doe@Example.com", "$name": "Jane Doe"})
    identity_links_apply(
        project=project,
        links=[
            LinkRequest("$device:jane-phone", "user-jane", IdentityKind.DEVICE),
            LinkRequest("jane.doe@example.com", "user-jane", IdentityKind.ALIAS),
        ],
        provenance=SECRET,
    )
    events(project, "user-jane", 3)
    events(project, "$device:jane-phone", 2, start=JAN - timedelta(days=30))
    return "user-jane"


def test_email_matches_whole_without_regard_to_case_or_spaces(project, jane):
    profile(project, "user-janet", **{"$email": "janet.doe@example.com"})
    profile(project, "user-ajane", **{"$email": "ajane.doe@example.com"})
    profile(project, "user-jane-co", **{"$email": "jane.doe@example.co"})

    for typed in ("jane.doe@example.com", "  JANE.DOE@EXAMPLE.COM ", "Jane.Doe@Example.com"):
        result = find(project, "$email", typed)
        assert result.matched == ["user-jane"], typed
        assert result.more is False


def test_a_person_found_comes_with_the_ids_a_request_reaches(project, jane):
    result = find(project, "$email", "jane.doe@example.com")

    (person,) = result.people
    assert person.root == "user-jane"
    assert person.matched_ids == ["user-jane"]
    assert [found.distinct_id for found in person.reached] == [
        "user-jane",
        "$device:jane-phone",
        "jane.doe@example.com",
    ]
    device = {found.distinct_id: found for found in person.ids}["$device:jane-phone"]
    assert (device.role, device.how.kind, device.how.authenticated, device.how.endpoint) == (
        "linked",
        IdentityKind.DEVICE,
        True,
        "import",
    )
    assert (person.events, person.profiles) == (5, 1)
    assert person.first_seen == JAN - timedelta(days=30)
    assert person.last_seen == JAN + timedelta(days=2)


def test_other_properties_match_their_whole_value_exactly(project, jane):
    profile(project, "user-bob", **{"$phone": "+1 555 0100", "customer_id": "AB-12", "age": 42})

    assert find(project, "$phone", "+1 555 0100").matched == ["user-bob"]
    assert find(project, "$phone", "+1 555 010").matched == []
    assert find(project, "customer_id", "AB-12").matched == ["user-bob"]
    assert find(project, "customer_id", "ab-12").matched == []  # exact, case included
    assert find(project, "$name", "Jane Doe").matched == ["user-jane"]
    assert find(project, "$name", "Jane").matched == []


def test_a_number_property_matches_its_json_text(project):
    profile(project, "user-bob", age=42)

    assert find(project, "age", "42").matched == ["user-bob"]


def test_prefix_finds_ids_with_a_profile_or_a_link(project, jane):
    profile(project, "user-jim")
    events(project, "user-joe", 1)  # events only: found when typed whole

    assert find(project, None, "user-j").matched == ["user-jane", "user-jim"]
    assert find(project, None, "$device:jane").matched == ["$device:jane-phone"]
    assert find(project, None, "user-joe").matched == ["user-joe"]
    assert find(project, None, "User-j").matched == []  # ids are case-sensitive


def test_prefix_treats_like_wildcards_as_text(project):
    profile(project, "a_b")
    profile(project, "axb")
    profile(project, "a%c")

    assert find(project, None, "a_").matched == ["a_b"]
    assert find(project, None, "a%").matched == ["a%c"]


def test_two_matches_of_one_cluster_are_one_person(project, jane):
    profile(project, "jane.doe@example.com", **{"$email": "jane.doe@example.com"})

    result = find(project, "$email", "jane.doe@example.com")

    assert result.matched == ["jane.doe@example.com", "user-jane"]
    (person,) = result.people
    assert sorted(person.matched_ids) == ["jane.doe@example.com", "user-jane"]


def test_results_are_capped_with_more(project):
    Profile.objects.bulk_create(
        Profile(
            project=project,
            distinct_id=f"user-{n:03}",
            properties={"plan": "pro"},
            updated_at=timezone.now(),
        )
        for n in range(LOOKUP_LIMIT + 5)
    )

    result = find(project, "plan", "pro")

    assert len(result.matched) == LOOKUP_LIMIT
    assert result.more is True
    assert len(result.people) == LOOKUP_LIMIT
    exactly = find(project, None, "user-04")
    assert (len(exactly.matched), exactly.more) == (10, False)


def test_another_projects_end_users_are_never_found(project, jane):
    elsewhere = ProjectFactory()
    profile(elsewhere, "their-jane", **{"$email": "jane.doe@example.com", "$name": "Jane Doe"})
    events(elsewhere, "user-jane-2", 1)

    assert find(project, "$email", "jane.doe@example.com").matched == ["user-jane"]
    assert find(project, "$name", "Jane Doe").matched == ["user-jane"]
    assert find(project, None, "their").matched == []
    assert find(project, None, "user-jane-2").matched == []
    assert find(elsewhere, "$email", "jane.doe@example.com").matched == ["their-jane"]


@pytest.mark.parametrize(
    ("property_name", "value", "field"),
    [
        ("$email", "   ", "value"),
        (None, "", "value"),
        ("$email", "x" * 256, "value"),
        ("$email", "jane\x00@example.com", "value"),
        ("$name", "\ud800", "value"),
        ("a\x00b", "x", "property"),
        ("p" * 256, "x", "property"),
        ("   ", "x", "property"),
    ],
)
def test_input_no_profile_could_hold_is_refused(property_name, value, field):
    with pytest.raises(LookupRefused) as refused:
        lookup_query_make(property_name=property_name, value=value)
    assert refused.value.field == field


def test_nobody_found_is_an_empty_answer(project):
    result = find(project, "$email", "nobody@example.com")

    assert (result.matched, result.more, result.people) == ([], False, [])


def test_under_the_authenticated_rule_a_public_link_is_shown_but_not_followed(project):
    project.identity_links_from = IdentityLinksFrom.AUTHENTICATED
    project.save(update_fields=["identity_links_from"])
    profile(project, "user-jane", **{"$email": "jane@example.com"})
    identity_links_apply(
        project=project,
        links=[LinkRequest("$device:someone", "user-jane", IdentityKind.DEVICE)],
        provenance=LinkProvenance(endpoint="track", authenticated=False),
    )

    (person,) = find(project, "$email", "jane@example.com").people

    assert [found.distinct_id for found in person.reached] == ["user-jane"]
    (candidate,) = person.not_followed
    assert (candidate.distinct_id, candidate.role) == ("$device:someone", "unverified")
    assert candidate.evidence[0].endpoint == "track"
