"""The back office in a real browser (Debian's Chromium through Playwright), against a real
`runserver` and a real `rqworker` on PostgreSQL and a redis-server of the test's own, with MFA
required as in production.

An operator signs in through allauth with a password and a TOTP code computed here as an
authenticator app would, finds the failed request from the index's work queues, retries it with
the list's action, and watches the worker finish it. Screenshots go to
test-output/admin-screenshots/.
"""

import contextlib
import os
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from accounts.actors import Actor
from accounts.models import Membership, Role
from privacy_requests.engine import registry
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import privacy_request_submit
from tests.admin_support import fresh_totp_code, staff_user
from tests.e2e.conftest import chromium_launch, unused_port
from tests.factories import (
    DEFAULT_PASSWORD,
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "admin-screenshots"
FINISH_TIMEOUT = 30


@pytest.fixture
def screenshots() -> Path:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


@pytest.fixture
def back_office(database_url, redis_server, spawn, tmp_path):
    """A web server and a worker on the test database and the test's Redis, with the local
    settings (DEBUG off) and MFA required for staff, as in production."""
    (tmp_path / "back_office_settings.py").write_text(
        "from config.settings.local import *  # noqa: F403\n"
        "WHITENOISE_USE_FINDERS = True\n"
        "# Users made by the test process have MD5 hashes (the test settings' fast hasher).\n"
        'PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]\n'
    )
    port = unused_port()  # not free_port: the test's redis-server holds that one
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="back_office_settings",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(settings.BASE_DIR)]),
        DEBUG="0",
        DATABASE_URL=database_url,
        REDIS_URL=redis_server.url,
        VAR_DIR=str(tmp_path / "var"),
        MEDIA_ROOT=str(tmp_path / "media"),
        PRIVACY_STORAGE="local",
        PRIVACY_ADMIN_REQUIRE_MFA="1",
        PRIVACY_SWEEP_INTERVAL="3600",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        PYTHONUNBUFFERED="1",
    )
    web = spawn("runserver", "--noreload", f"127.0.0.1:{port}", env=env)
    worker = spawn("rqworker", "default", env=env)
    web.wait_for_http(f"{base_url}/healthz", timeout=30)
    worker.wait_for_line(r"Listening on", timeout=30)
    return {"base_url": base_url, "web": web, "worker": worker}


@pytest.fixture
def failed_request(transactional_db, monkeypatch):
    """An export that failed: submitted and processed here (jobs run in process under the test
    settings) by a processor that breaks, as a bug in a release would."""
    organization = OrganizationFactory(name="Acme")
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    project = ProjectFactory(organization=organization, name="Web shop")
    EventFactory.create_batch(3, project=project, distinct_id="alice")

    def broken(run):
        raise ValueError("event 42 has a time the export cannot represent")

    monkeypatch.setitem(registry.PROCESSORS, "export", broken)
    request = privacy_request_submit(
        project=project,
        actor=Actor(user=owner, via="web"),
        channel="web",
        kind="export",
        compliance="GDPR",
        distinct_ids=["alice"],
    )
    monkeypatch.undo()
    request.refresh_from_db()
    assert request.status == Status.FAILURE, request.error
    return request


@contextlib.contextmanager
def connections_closed_on_exit():
    """While Playwright's loop runs, Django's connections are per context (asgiref): the ones
    opened in the test body are closed here, or they would outlive the test database."""
    try:
        yield
    finally:
        connections.close_all()


def sign_in(page, base_url: str, operator, *, before_code=None) -> None:
    """Through allauth, with the password and then a TOTP code, as an operator does."""
    page.goto(f"{base_url}/admin/")
    assert page.url == f"{base_url}/accounts/login/?next=%2Fadmin%2F"
    page.fill("input[name=login]", operator.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{base_url}/accounts/2fa/authenticate/")
    if before_code is not None:
        before_code()
    page.fill("input[name=code]", fresh_totp_code())
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(f"{base_url}/admin/")


def test_operator_signs_in_with_totp_and_retries_a_failed_request(
    back_office, failed_request, screenshots, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    operator = staff_user(email="operator@example.com")
    base_url = back_office["base_url"]
    tracking_id = failed_request.tracking_id
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(15_000)

        def shot(name: str) -> None:
            page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

        # The admin sends a visitor to allauth's sign-in, which asks for a TOTP code next.
        sign_in(page, base_url, operator, before_code=lambda: shot("01-totp-code"))
        expect(page.get_by_role("heading", name="Back office", exact=True)).to_be_visible()
        queues = page.locator("#back-office-module")
        expect(queues.get_by_role("row", name="Failed 1")).to_be_visible()
        expect(queues.get_by_role("link", name="Failed jobs")).to_have_attribute(
            "href", "/admin/rq/queues/0/failed/"
        )
        shot("02-index")

        # Work queues → Failed: the request, with its status; retry it with the list's action.
        queues.get_by_role("link", name="Failed", exact=True).click()
        row = page.get_by_role("row").filter(has_text=tracking_id[:12])
        expect(row.locator(".request-status")).to_have_text("FAILURE")
        row.get_by_role("checkbox").check()
        page.select_option("select[name=action]", "retry_failed")
        shot("03-failed-list")
        page.get_by_role("button", name="Go").click()
        expect(page.locator("ul.messagelist")).to_contain_text(
            "1 request retried: queued again on the same tracking id."
        )
        shot("04-retried")

        # The real worker takes it; the request's page shows SUCCESS and who retried it.
        page.goto(f"{base_url}/admin/privacy_requests/privacyrequest/{failed_request.pk}/change/")
        deadline = time.monotonic() + FINISH_TIMEOUT
        status = page.locator(".field-status_display .request-status")
        while status.inner_text() != "SUCCESS":
            assert time.monotonic() < deadline, (
                f"still {status.inner_text()} after {FINISH_TIMEOUT} s\n"
                + back_office["worker"].output()
            )
            time.sleep(0.5)
            page.reload()
        expect(page.locator(".field-audit_trail_display")).to_contain_text(
            f"staff:{operator.email}"
        )
        shot("05-success")
        browser.close()

    request = PrivacyRequest.objects.get(id=failed_request.id)
    assert request.status == Status.SUCCESS
    assert request.attempts == 2
    assert request.counts == {
        "events": 3,
        "profiles": 0,
        "identities": 0,
        "identity_evidence": 0,
    }
    assert list(
        AuditEntry.objects.filter(request=request).order_by("seq").values_list("action", "actor")
    )[3:6] == [("failed", "system"), ("retried", f"staff:{operator.email}"), ("staged", "system")]
    for name in ("01-totp-code", "02-index", "03-failed-list", "04-retried", "05-success"):
        assert (screenshots / f"{name}.png").stat().st_size > 0


@pytest.fixture
def customer(transactional_db):
    """Another organization: its only owner, an admin, a project and an event with a secret."""
    organization = OrganizationFactory(name="Customer Inc")
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    admin = MembershipFactory(organization=organization, role=Role.ADMIN)
    project = ProjectFactory(organization=organization, name="Customer shop")
    EventFactory(project=project, distinct_id="alice", properties={"secret_note": "ALICE-PASS-1"})
    return {"organization": organization, "owner": owner, "admin": admin, "project": project}


def test_operator_can_neither_move_a_project_nor_filter_on_properties_and_is_audited(
    back_office, customer, monkeypatch
):
    """Issue 15, findings 1 and 2, against the real server: the project's organization is not a
    field, a property lookup is a 400, and a role changed from the membership page lands in the
    customer's audit chain while the last owner stays."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    operator = staff_user(email="operator@example.com")
    MembershipFactory(user=operator, role=Role.OWNER)  # their own organization, as at sign-up
    base_url = back_office["base_url"]
    organization, project = customer["organization"], customer["project"]
    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(15_000)
        sign_in(page, base_url, operator)

        page.goto(f"{base_url}/admin/projects/project/{project.pk}/change/")
        expect(page.locator(".field-organization .readonly")).to_have_text("Customer Inc")
        assert page.locator("[name=organization]").count() == 0
        assert page.locator("[name=suppress_deleted_ids]").count() == 0

        response = page.goto(
            f"{base_url}/admin/projects/event/?properties__secret_note__startswith=ALICE-P"
        )
        assert response is not None and response.status == 400
        assert "alice" not in page.content()

        page.goto(f"{base_url}/admin/accounts/membership/{customer['admin'].pk}/change/")
        page.select_option("select[name=role]", "member")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")

        page.goto(f"{base_url}/admin/accounts/membership/{customer['owner'].pk}/delete/")
        page.get_by_role("button", name="Yes, I’m sure").click()
        expect(page.locator("ul.messagelist")).to_contain_text(
            "The last owner cannot be removed: make someone else owner first."
        )
        browser.close()

    project.refresh_from_db()
    assert project.organization_id == organization.id
    assert sorted(
        Membership.objects.filter(organization=organization).values_list("user__email", "role")
    ) == sorted([(customer["owner"].user.email, "owner"), (customer["admin"].user.email, "member")])
    assert list(
        AuditEntry.objects.filter(organization=organization).values_list(
            "actor", "action", "detail"
        )
    ) == [
        (
            f"staff:{operator.email}",
            "membership_changed",
            {
                "user_id": customer["admin"].user_id,
                "email": customer["admin"].user.email,
                "role_before": "admin",
                "role_after": "member",
            },
        )
    ]
