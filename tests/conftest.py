import os

import pytest

from accounts.actors import OPERATOR
from accounts.models import Role
from config.rate_limits import rate_limits_reset_local
from projects.services import service_account_create_with_grants
from tests.factories import MembershipFactory, OrganizationFactory, ProjectFactory, UserFactory


def e2e_unavailable_reason() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return "end-to-end tests need DATABASE_URL pointing at PostgreSQL"
    if not os.environ.get("REDIS_URL"):
        return "end-to-end tests need REDIS_URL"
    return None


def pytest_collection_modifyitems(config, items):
    reason = e2e_unavailable_reason()
    if reason is None:
        return
    for item in items:
        # A test that hands the test database to processes of its own is end to end, marked
        # or not: on SQLite's in-memory database they could never see its rows.
        if item.get_closest_marker("e2e") is not None or "database_url" in item.fixturenames:
            item.add_marker(pytest.mark.e2e_unavailable(reason))


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("e2e_unavailable")
    if marker is None:
        return
    reason = marker.args[0]
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e_unavailable(reason): set by conftest")


@pytest.fixture(autouse=True)
def rate_limits_forgotten():
    """The rate limits counted in this process (config/rate_limits.py) outlive a test: each
    test starts with none spent."""
    rate_limits_reset_local()
    yield
    rate_limits_reset_local()


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


@pytest.fixture
def make_member(organization):
    def make(role: Role | str = Role.MEMBER, org=None):
        return MembershipFactory(organization=org or organization, role=role).user

    return make


@pytest.fixture
def owner(make_member):
    return make_member(Role.OWNER)


@pytest.fixture
def admin_user(make_member):
    return make_member(Role.ADMIN)


@pytest.fixture
def member(make_member):
    return make_member(Role.MEMBER)


@pytest.fixture
def outsider(db):
    """A user who owns another organization."""
    return MembershipFactory(role=Role.OWNER).user


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def make_service_account(project):
    """A service account granted `projects` (by default the `project` fixture), created as the
    operator would; returns (account, secret)."""

    def make(role: str = "admin", *, projects=None, expires_at=None, name=None):
        projects = [project] if projects is None else projects
        return service_account_create_with_grants(
            actor=OPERATOR,
            organization=projects[0].organization,
            name=name or f"{role} bot",
            role=role,
            projects=projects,
            expires_at=expires_at,
        )

    return make
