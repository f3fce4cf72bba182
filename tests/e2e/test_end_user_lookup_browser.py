"""Finding the end user behind a request in a real browser (issue 18): the owner looks Jane up
by the address her email came from, finds her ids (and not Janet's, nor those of a similar
address), and starts an export and a deletion from the result; the deletion runs on the real
worker and the database no longer holds her rows, while the others' stay. Against the same
real web server and rqworker as test_browser.py; screenshots in test-output/screenshots/."""

import re

import pytest
from allauth.account.models import EmailAddress

from accounts.models import Role
from privacy_requests.models import AuditAction, AuditEntry, PrivacyRequest, RequestKind, Status
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.models import Event, IdentityKind, IdentityLink, Profile
from tests.e2e.conftest import chromium_launch
from tests.e2e.test_browser import (  # noqa: F401 (the fixture is used by name)
    SCREENSHOTS,
    connections_closed_on_exit,
    site,
)
from tests.factories import (
    DEFAULT_PASSWORD,
    EventFactory,
    MembershipFactory,
    OrganizationFactory,
    ProfileFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.e2e

FINISH_TIMEOUT_MS = 30_000
JANE_IDS = ["user-jane", "$device:jane-phone"]
OTHERS = ["user-janet", "user-jane-co"]


@pytest.fixture
def shop(transactional_db):
    owner = UserFactory(email="owner@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(user=owner, organization=organization, role=Role.OWNER)
    project = ProjectFactory(organization=organization, name="Web shop")
    for distinct_id, email in [
        ("user-jane", "jane@example.com"),
        ("user-janet", "janet@example.com"),
        ("user-jane-co", "jane@example.co"),
    ]:
        ProfileFactory(project=project, distinct_id=distinct_id, properties={"$email": email})
        EventFactory.create_batch(2, project=project, distinct_id=distinct_id)
    EventFactory.create_batch(3, project=project, distinct_id="$device:jane-phone")
    identity_links_apply(
        project=project,
        links=[LinkRequest("$device:jane-phone", "user-jane", IdentityKind.DEVICE)],
        provenance=LinkProvenance(endpoint="import", authenticated=True, principal="secret"),
    )
    return {"owner": owner, "organization": organization, "project": project}


def _signed_in_page(playwright, base_url, owner):
    from playwright.sync_api import expect

    browser = chromium_launch(playwright)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    return page


def _find_jane(page, base_url, organization):
    """From the Data & Privacy page, as the owner would: Find an end user, by email."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/orgs/{organization.id}/privacy/")
    page.get_by_role("link", name="Find an end user").click()
    expect(page.get_by_role("heading", name="Find an end user")).to_be_visible()
    page.get_by_label("Email ($email)").check()
    page.get_by_label("Value").fill("  Jane@Example.com ")
    page.get_by_role("button", name="Find").click()
    results = page.locator("#lookup-results")
    expect(results.get_by_role("heading", name="1 id found")).to_be_visible()
    person = results.locator("article.lookup-person")
    expect(person).to_have_count(1)
    for distinct_id in JANE_IDS:
        expect(person).to_contain_text(distinct_id)
    expect(person.locator("tr", has_text="$device:jane-phone")).to_contain_text(
        "device id with 'user-jane' · authenticated · import"
    )
    for distinct_id in OTHERS:
        expect(results).not_to_contain_text(distinct_id)
    return person


def test_the_owner_finds_jane_by_email_and_starts_an_export(
    site,  # noqa: F811 (the fixture imported above)
    shop,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright runs a loop
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base_url = site["base_url"]
    with sync_playwright() as playwright, connections_closed_on_exit():
        page = _signed_in_page(playwright, base_url, shop["owner"])
        person = _find_jane(page, base_url, shop["organization"])
        page.screenshot(path=str(SCREENSHOTS / "40-end-user-lookup.png"), full_page=True)

        person.get_by_role("link", name=re.compile("Export this person's data")).click()
        expect(page.get_by_role("heading", name="Request Export")).to_be_visible()
        expect(page.get_by_label("distinct_id", exact=True)).to_have_value("user-jane")
        page.get_by_role("button", name="Preview export").click()

        reached = page.locator("#reached-ids")
        for distinct_id in JANE_IDS:
            expect(reached).to_contain_text(distinct_id)
        expect(page.locator("#preview-summary")).to_have_text(
            "This id reaches 1 subject: 2 ids with 5 events and 1 profile."
        )
        page.screenshot(path=str(SCREENSHOTS / "41-lookup-export-preview.png"), full_page=True)

    assert PrivacyRequest.objects.count() == 0  # a preview submits nothing
    entry = AuditEntry.objects.get(action=AuditAction.END_USER_LOOKED_UP)
    assert (entry.actor, entry.detail["searched"], entry.detail["matched"]) == (
        "web:owner@example.com",
        "$email",
        1,
    )


def test_the_owner_finds_jane_and_deletes_her_data_from_the_result(
    site,  # noqa: F811 (the fixture imported above)
    shop,
    monkeypatch,
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base_url = site["base_url"]
    project = shop["project"]
    with sync_playwright() as playwright, connections_closed_on_exit():
        page = _signed_in_page(playwright, base_url, shop["owner"])
        person = _find_jane(page, base_url, shop["organization"])

        person.get_by_role("link", name=re.compile("Delete this person's data")).click()
        expect(page.get_by_role("heading", name="Request Deletion")).to_be_visible()
        expect(page.get_by_label("distinct_id", exact=True)).to_have_value("user-jane")
        page.get_by_role("button", name="Preview deletion").click()
        page.get_by_label(re.compile("I understand that this permanently deletes")).check()
        page.get_by_role("button", name="Delete the data of 1 subject (2 ids)").click()
        expect(page.locator(".status-line [data-field=status]")).to_have_text(
            "SUCCESS", timeout=FINISH_TIMEOUT_MS
        )
        page.screenshot(path=str(SCREENSHOTS / "42-lookup-deletion-done.png"), full_page=True)

    deletion = PrivacyRequest.objects.get(kind=RequestKind.DELETION)
    assert deletion.status == Status.SUCCESS
    for model in (Event, Profile):
        assert not model.objects.filter(project=project, distinct_id__in=JANE_IDS).exists()
    assert not IdentityLink.objects.filter(project=project).exists()
    for distinct_id in OTHERS:
        assert Profile.objects.filter(project=project, distinct_id=distinct_id).exists()
        assert Event.objects.filter(project=project, distinct_id=distinct_id).count() == 2
