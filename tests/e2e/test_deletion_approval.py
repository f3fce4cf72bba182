"""Four-eyes approval of large deletions (issue 19, section 2) against a live server: a real
`runserver` and a real `rqworker` on PostgreSQL and a redis-server of the test's own (the site
of test_browser.py). A deletion submitted through the GDPR API waits in STAGING with its
`approval` object, its requester cannot approve it, another admin approves it on its page and
the worker deletes the data; another waits unapproved until the sweep expires it. Then the same
in Chromium: the second admin approves on the page, and an owner sets the limits."""

import contextlib
import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from allauth.account.models import EmailAddress
from django.db import connections
from django.utils import timezone

from accounts.models import Role
from accounts.services import gdpr_token_issue
from privacy_requests.models import ApprovalState, PrivacyRequest, Status
from privacy_requests.services.approval import EXPIRED_REASON, approvals_expire
from projects.models import Event
from tests.e2e.conftest import HttpClient, chromium_launch, poll_until
from tests.e2e.test_api_clients import DELETIONS, GdprClient
from tests.e2e.test_browser import site  # noqa: F401  (the fixture is used by name)
from tests.factories import (
    DEFAULT_PASSWORD,
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

WAIT = 60


def person(organization, email: str, role: Role):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def acme(transactional_db):
    """Acme asks for a second approval above 2 subjects; four people with data."""
    organization = OrganizationFactory(name="Acme", approval_subjects_over=2)
    project = ProjectFactory(organization=organization, name="Web")
    for distinct_id in ("alice", "bob", "carol", "dave", "erin", "frank"):
        EventFactory.create_batch(2, project=project, distinct_id=distinct_id)
    requester = person(organization, "requester@acme.test", Role.OWNER)
    return {
        "organization": organization,
        "project": project,
        "requester": requester,
        "approver": person(organization, "approver@acme.test", Role.ADMIN),
        "member": person(organization, "member@acme.test", Role.MEMBER),
        "gdpr_token": gdpr_token_issue(user=requester),
    }


def signed_in(base_url: str, email: str) -> HttpClient:
    http = HttpClient()
    landing = http.sign_in(base_url, email=email, password=DEFAULT_PASSWORD)
    assert landing.url == f"{base_url}/projects/", landing.text[-3000:]
    return http


def decide(http: HttpClient, base_url: str, request: PrivacyRequest, decision: str, reason: str):
    page_url = f"{base_url}/orgs/{request.organization_id}/privacy/{request.tracking_id}/"
    page = http.get(page_url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text
    return http.post(
        page_url + "approval/",
        {"csrfmiddlewaretoken": token.group(1), "decision": decision, "reason": reason},
    )


def events_of(project, ids) -> int:
    return Event.objects.filter(project=project, distinct_id__in=ids).count()


def test_a_large_deletion_waits_for_a_second_admin_and_an_unapproved_one_expires(site, acme):  # noqa: F811
    base_url, project = site["base_url"], acme["project"]
    client = GdprClient(base_url, project_token=project.token, gdpr_token=acme["gdpr_token"])
    ids = ["alice", "bob", "carol"]

    task_id = client.create(DELETIONS, {"distinct_ids": ids})

    results = client.status(f"{DELETIONS}{task_id}")
    assert results["status"] == "STAGING"
    approval = results["approval"]
    assert (approval["state"], approval["requested_by"], approval["needed_from"]) == (
        "awaiting",
        "requester@acme.test",
        "another owner or admin",
    )
    request = PrivacyRequest.objects.get(tracking_id=task_id)
    assert approval["expires_at"] == request.approval_expires_at.strftime("%Y-%m-%dT%H:%M:%S")

    # The requester, signed in on the pages, cannot approve their own; a member cannot either.
    for email in ("requester@acme.test", "member@acme.test"):
        http = signed_in(base_url, email)
        if email.startswith("member"):
            forged = http.post(
                f"{base_url}/orgs/{request.organization_id}/privacy/{task_id}/approval/",
                {"decision": "approve", "reason": "forged"},
            )
            assert forged.status == HTTPStatus.FORBIDDEN
        else:
            decide(http, base_url, request, "approve", "mine")
    request.refresh_from_db()
    assert (request.status, request.approval_state) == (Status.STAGING, ApprovalState.AWAITING)
    assert client.status(f"{DELETIONS}{task_id}")["status"] == "STAGING"
    assert events_of(project, ids) == 6

    # Another admin approves: the worker deletes exactly the three people's events.
    approver = signed_in(base_url, "approver@acme.test")
    answer = decide(approver, base_url, request, "approve", "Checked the list with legal")
    assert "Approved: the deletion runs now." in answer.text
    results = client.wait(f"{DELETIONS}{task_id}")
    assert results["approval"]["decided_by"] == "approver@acme.test"
    assert results["approval"]["reason"] == "Checked the list with legal"
    assert events_of(project, ids) == 0
    assert events_of(project, ["dave", "erin", "frank"]) == 6
    request.refresh_from_db()
    assert request.counts["events"] == 6

    # Another one nobody approves: the sweep, 7 days on, revokes it with the reason.
    other = client.create(DELETIONS, {"distinct_ids": ["dave", "erin", "frank"]})
    assert client.status(f"{DELETIONS}{other}")["status"] == "STAGING"
    assert approvals_expire(now=timezone.now() + timedelta(days=7, minutes=1)) == 1

    results = client.status(f"{DELETIONS}{other}")
    assert results["status"] == "REVOKED"
    assert (results["approval"]["state"], results["approval"]["reason"]) == (
        "expired",
        EXPIRED_REASON,
    )
    assert events_of(project, ["dave", "erin", "frank"]) == 6
    # The worker never takes it, even when its job would be enqueued again.
    poll_until(
        lambda: PrivacyRequest.objects.get(tracking_id=other).status == Status.REVOKED,
        timeout=5,
        message="the expired deletion changed",
    )


@contextlib.contextmanager
def connections_closed_on_exit():
    try:
        yield
    finally:
        connections.close_all()


def test_the_second_admin_approves_in_a_browser_and_an_owner_sets_the_limits(
    site,  # noqa: F811
    acme,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    base_url, project = site["base_url"], acme["project"]
    client = GdprClient(base_url, project_token=project.token, gdpr_token=acme["gdpr_token"])
    task_id = client.create(DELETIONS, {"distinct_ids": ["alice", "bob", "carol"]})
    organization = acme["organization"]

    with sync_playwright() as playwright, connections_closed_on_exit():
        browser = chromium_launch(playwright)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15_000)

        def sign_in(email: str) -> None:
            page.goto(f"{base_url}/accounts/login/")
            page.fill("input[name=login]", email)
            page.fill("input[name=password]", DEFAULT_PASSWORD)
            page.locator("form button[type=submit]").click()
            expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

        sign_in("approver@acme.test")
        page.goto(f"{base_url}/orgs/{organization.id}/privacy/")
        expect(page.get_by_text("awaiting approval")).to_be_visible()
        page.goto(f"{base_url}/orgs/{organization.id}/privacy/{task_id}/")
        expect(page.get_by_role("heading", name="Awaiting approval")).to_be_visible()
        expect(page.locator("[data-field=approval-subjects]")).to_have_text("3")
        expect(page.locator("[data-field=approval-events]")).to_have_text("6")
        page.get_by_label("Reason").fill("Matches the ticket")
        page.get_by_role("button", name="Approve deletion").click()
        expect(page.get_by_text("Approved: the deletion runs now.")).to_be_visible()
        results = client.wait(f"{DELETIONS}{task_id}")
        assert results["approval"]["reason"] == "Matches the ticket"
        assert events_of(project, ["alice", "bob", "carol"]) == 0

        page.context.clear_cookies()
        sign_in("requester@acme.test")
        page.goto(f"{base_url}/orgs/{organization.id}/settings/")
        expect(page.get_by_text("Suggested: 100.")).to_be_visible()
        page.get_by_label("Subjects").fill("100")
        page.get_by_label("Events").fill("1000000")
        page.get_by_role("button", name="Save the approval limits").click()
        expect(page.get_by_text("The approval limits for deletions were saved.")).to_be_visible()
        expect(page.get_by_label("Subjects")).to_have_value("100")
        browser.close()

    organization.refresh_from_db()
    assert (organization.approval_subjects_over, organization.approval_events_over) == (
        100,
        1_000_000,
    )
