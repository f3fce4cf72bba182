"""The engage query as Mixpanel's bulk tool uses it, against a live server: the unmodified
`mixpanel-utils` 2.2.7 pointed at a real `runserver` on the PostgreSQL test database the way a
user points it (its `formatted_api` and `import_api` attributes).

Its `people_*` calls with `query_params` and `deduplicate_people` without a list first page
through `/api/2.0/engage` (concurrently, page 0 and then 1.. with the session id), then send
the operations to `/engage`. It logs failures instead of raising, so the tests assert the rows
stored. It writes backup files into the working directory: each test runs in its own.
"""

import os

import pytest
from mixpanel_utils import MixpanelUtils

from accounts.tokens import token_hash, token_lookup
from projects.models import Profile
from tests.e2e.conftest import unused_port
from tests.factories import OrganizationFactory, ProfileFactory, ProjectFactory

pytestmark = pytest.mark.e2e

SECRET = "engage-query-e2e-secret"


@pytest.fixture
def base_url(database_url, spawn, tmp_path, monkeypatch):
    port = unused_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="0",
        DATABASE_URL=database_url,
        VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    web.wait_for_http(f"{url}/healthz", timeout=30)
    work = tmp_path / "client"
    work.mkdir()
    monkeypatch.chdir(work)  # mixpanel-utils' backup files land here
    return url


@pytest.fixture
def project(transactional_db):
    return ProjectFactory(
        api_secret_hash=token_hash(SECRET), api_secret_lookup=token_lookup(SECRET)
    )


def utils(base_url: str, project, *, secret: str = SECRET) -> MixpanelUtils:
    client = MixpanelUtils(secret, token=project.token, timeout=30, pool_size=2)
    client.formatted_api = f"{base_url}/api"
    client.import_api = base_url
    return client


def stored(project) -> dict[str, dict]:
    return dict(Profile.objects.filter(project=project).values_list("distinct_id", "properties"))


@pytest.fixture
def crowd(project):
    """2,500 profiles: every other one on the pro plan, every fifth without an email."""
    Profile.objects.bulk_create(
        ProfileFactory.build(
            project=project,
            distinct_id=f"user-{index:04}",
            properties={
                "plan": "pro" if index % 2 else "free",
                **({"$email": f"u{index}@example.com"} if index % 5 else {}),
            },
        )
        for index in range(2500)
    )
    return project


def test_query_engage_pages_through_a_where_selection(base_url, crowd):
    client = utils(base_url, crowd)

    everyone = client.query_engage({"project_id": crowd.pk})
    with_email = client.query_engage(
        {"where": '(boolean(properties["$email"]) == true)', "project_id": crowd.pk}
    )
    pro = client.query_engage({"where": 'properties["plan"] == "pro"', "project_id": crowd.pk})

    assert sorted(profile["$distinct_id"] for profile in everyone) == [
        f"user-{index:04}" for index in range(2500)
    ]
    assert sorted(profile["$distinct_id"] for profile in with_email) == [
        f"user-{index:04}" for index in range(2500) if index % 5
    ]
    assert sorted(profile["$distinct_id"] for profile in pro) == [
        f"user-{index:04}" for index in range(1, 2500, 2)
    ]
    assert {profile["$distinct_id"]: profile["$properties"] for profile in pro} == {
        distinct_id: properties
        for distinct_id, properties in stored(crowd).items()
        if properties["plan"] == "pro"
    }


def test_people_set_with_query_params_changes_exactly_the_selected_profiles(base_url, crowd):
    before = stored(crowd)
    selector = 'properties["plan"] == "pro" and not defined(properties["$email"])'

    count = utils(base_url, crowd).people_set(
        {"segment": "no-email pro"}, query_params={"where": selector, "project_id": crowd.pk}
    )

    selected = {f"user-{index:04}" for index in range(2500) if index % 2 and not index % 5}
    assert count == len(selected) == 250
    after = stored(crowd)
    assert after == {
        distinct_id: {**properties, "segment": "no-email pro"}
        if distinct_id in selected
        else properties
        for distinct_id, properties in before.items()
    }


def test_people_delete_with_query_params_deletes_exactly_the_selected_profiles(base_url, crowd):
    before = stored(crowd)

    utils(base_url, crowd).people_delete(
        query_params={"where": 'properties["plan"] == "free"', "project_id": crowd.pk}
    )

    assert stored(crowd) == {
        distinct_id: properties
        for distinct_id, properties in before.items()
        if properties["plan"] == "pro"
    }


def test_another_organizations_project_is_out_of_reach(base_url, crowd):
    theirs = ProjectFactory(
        organization=OrganizationFactory(), api_secret_hash=token_hash("their-secret")
    )
    ProfileFactory(project=theirs, distinct_id="mallory", properties={"plan": "pro"})
    before, theirs_before = stored(crowd), stored(theirs)

    # Our secret naming their project: the query is refused, so nothing is set anywhere.
    # mixpanel-utils logs the 401 and then fails to parse the missing answer.
    with pytest.raises(TypeError):
        utils(base_url, crowd).people_set(
            {"owned": True}, query_params={"where": "true", "project_id": theirs.pk}
        )
    with pytest.raises(TypeError):
        utils(base_url, crowd, secret="wrong").people_delete(
            query_params={"where": "true", "project_id": crowd.pk}
        )

    assert stored(crowd) == before
    assert stored(theirs) == theirs_before


def test_deduplicate_people_without_a_list_deletes_the_duplicates_by_email(base_url, project):
    profiles = {
        # Two copies of one address (case differs): the latest $last_seen is kept.
        "ann-old": {"$email": "ann@example.com", "$last_seen": "2024-01-01T00:00:00"},
        "ann-new": {"$email": "ANN@example.com", "$last_seen": "2025-06-01T12:00:00"},
        "ann-mid": {"$email": "Ann@example.com", "$last_seen": "2024-06-01T00:00:00"},
        "bob": {"$email": "bob@example.com", "$last_seen": "2024-01-01T00:00:00"},
        # Not selected: no address, or an empty one.
        "anon-1": {"plan": "free"},
        "anon-2": {"plan": "free"},
        "blank-1": {"$email": ""},
        "blank-2": {"$email": ""},
    }
    for distinct_id, properties in profiles.items():
        ProfileFactory(project=project, distinct_id=distinct_id, properties=properties)

    deleted = utils(base_url, project).deduplicate_people()

    assert deleted == 2
    assert stored(project) == {
        distinct_id: properties
        for distinct_id, properties in profiles.items()
        if distinct_id not in ("ann-old", "ann-mid")
    }


def test_a_service_account_queries_and_sets_profiles_in_service_account_mode(
    base_url, crowd, make_service_account
):
    account, secret = make_service_account("member")
    client = MixpanelUtils(
        secret,
        token=crowd.token,
        service_account_username=account.username,
        project_id=crowd.pk,
        timeout=30,
        pool_size=2,
    )
    client.formatted_api = f"{base_url}/api"
    client.import_api = base_url

    pro = client.query_engage({"where": 'properties["plan"] == "pro"'})
    count = client.people_set(
        {"plan": "gold"}, query_params={"where": 'properties["plan"] == "free"'}
    )

    assert sorted(profile["$distinct_id"] for profile in pro) == [
        f"user-{index:04}" for index in range(1, 2500, 2)
    ]
    assert count == 1250
    after = stored(crowd)
    assert sorted(name for name, properties in after.items() if properties["plan"] == "gold") == [
        f"user-{index:04}" for index in range(0, 2500, 2)
    ]
    assert not any(properties["plan"] == "free" for properties in after.values())
